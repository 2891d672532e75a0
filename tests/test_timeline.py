"""The timeline stage: Verovio's renditions of each measure laid out on the MusicXML's lengths,
tempo marks, fermatas and performed order; the new MIDI and the rows carry the same times."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pdmx_fusa.audio.midi import Control, Midi, Note, TempoMap
from pdmx_fusa.config import ConfigError, ParseConfig, load_config
from pdmx_fusa.records import Measure, PageLabels, Performed, PerformedNote, Score, ScoreRef
from pdmx_fusa.stages import Rejected
from pdmx_fusa.stages.timeline import DEFAULT_BPM, retime, timeline
from pdmx_fusa.stages.timeline_view import performed_score
from pdmx_fusa.timing.musicxml import XmlMeasure, read_musicxml
from pdmx_fusa.timing.unfold import unfold


def xml_measure(index: int, length: float = 4.0, tempos=(), fermatas=()) -> XmlMeasure:
    return XmlMeasure(
        index=index, number=str(index + 1), length=length, tempos=tuple(tempos), fermatas=tuple(fermatas),
        repeat_forward=False, repeat_backward=False, times=2, endings=(),
        segno=False, coda=False, fine=False, dacapo=False, dalsegno=False, tocoda=False,
    )


def verovio_score(lengths_s: list[float], played: list[int] | None = None, path: str = "/nonexistent/s.musicxml") -> Score:
    """Measures m0, m1, ... as Verovio performed them (``played``: engraved indices in its order),
    each ``lengths_s`` seconds long, each with a note on its downbeat and one half-way through,
    played at velocity 80 + the index of the rendition (so a test can tell renditions apart)."""
    played = list(range(len(lengths_s))) if played is None else played
    performance, notes, t = [], [], 0.0
    for p, index in enumerate(played):
        length = lengths_s[index]
        performance.append(Performed(f"m{index}", t, t + length, 1))
        for k, fraction in enumerate((0.0, 0.5)):
            onset = t + fraction * length
            notes.append(PerformedNote(f"n{index}-{k}", p, 60 + index, 80 + p, 0, onset, onset + length / 4, False))  # velocity: which rendition
        t += length
    controls = (Control(0, 64, 127, 0.1), Control(0, 64, 0, t - 0.1))
    midi = Midi(tuple(Note(n.channel, n.key, n.velocity, n.onset, n.offset) for n in notes), controls, frozenset({0}),
                TempoMap(480, (0,), (0.0,), (0.5 / 480,)))
    measures = tuple(Measure(f"m{i}", str(i + 1), 0, 0, "4/4") for i in range(len(lengths_s)))
    return Score(
        ref=ScoreRef("s", path, "folder", ""), title="", composer="", svgs=("",), measures=measures,
        performance=tuple(performance), notes=tuple(notes), labels=(PageLabels(0, "4/4", 1),), midi=midi, duration=t,
    )


def test_lengths_come_from_the_musicxml():
    """Verovio timed m1 (a tuplet measure) as 3 s; its durations say 4 quarters: 2 s at 120 bpm.
    Every later downbeat moves back, and m1's notes keep their place within it."""
    score = retime(verovio_score([2.0, 3.0, 2.0]), [xml_measure(i) for i in range(3)], [(0, 1), (1, 1), (2, 1)], ParseConfig())
    assert [(p.engraved_id, p.onset, p.offset) for p in score.performance] == [("m0", 0.0, 2.0), ("m1", 2.0, 4.0), ("m2", 4.0, 6.0)]
    assert [n.onset for n in score.notes] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [n.measure for n in score.notes] == [0, 0, 1, 1, 2, 2]
    assert [(n.key, n.onset, n.offset) for n in score.midi.notes] == [(n.key, n.onset, n.offset) for n in score.notes]
    assert score.duration == 6.0


def test_a_tempo_mark_on_beat_three():
    tempo = [xml_measure(0), xml_measure(1, tempos=[(2.0, 60.0)]), xml_measure(2)]
    score = retime(verovio_score([2.0, 2.0, 2.0]), tempo, [(0, 1), (1, 1), (2, 1)], ParseConfig())
    # m1: beats 1-2 at 120 bpm (1 s), beats 3-4 at 60 bpm (2 s); m2 stays at 60
    assert [(p.onset, p.offset) for p in score.performance] == [(0.0, 2.0), (2.0, 5.0), (5.0, 9.0)]
    assert score.notes[3].onset == pytest.approx(3.0)  # m1's half-way note: on beat 3, where the mark is
    assert score.midi.tempo.seconds_at_quarter(6.0) == pytest.approx(3.0)
    assert score.midi.tempo.seconds_at_quarter(12.0) == pytest.approx(9.0)


def test_two_tempo_marks_in_one_measure():
    marks = [xml_measure(0, tempos=[(0.0, 60.0), (2.0, 120.0)])]
    score = retime(verovio_score([4.0]), marks, [(0, 1)], ParseConfig())
    assert (score.performance[0].onset, score.performance[0].offset) == (0.0, 3.0)


def test_a_fermata_holds_its_span_when_asked():
    held = [xml_measure(0, fermatas=[(3.0, 1.0)]), xml_measure(1)]
    assert retime(verovio_score([2.0, 2.0]), held, [(0, 1), (1, 1)], ParseConfig()).performance[0].offset == 2.0
    score = retime(verovio_score([2.0, 2.0]), held, [(0, 1), (1, 1)], ParseConfig(fermata_hold=2.0))
    assert score.performance[0].offset == pytest.approx(1.5 + 0.5 * 2.0)
    assert score.performance[1].onset == score.performance[0].offset


def test_a_jump_keeps_the_tempo_it_was_played_at():
    """The tempo runs on in the order played, as MuseScore plays and exports a score (it writes the
    tempo marks of each passage between jumps, and no other): m1 sets 60 bpm; D.C. back to m0,
    which has no mark, plays on at 60 (asap Schumann, Arabeske m. 43); where m0 has a mark, it
    sounds again. A second ending does not take the first ending's mark, which was not played.
    ``tempo_after_jump="restored"`` returns to the 120 in effect where the D.C. lands."""
    marks = [xml_measure(0), xml_measure(1, tempos=[(0.0, 60.0)])]
    score = retime(verovio_score([2.0, 2.0]), marks, [(0, 1), (1, 1), (0, 2)], ParseConfig())
    assert [(p.onset, p.offset) for p in score.performance] == [(0.0, 2.0), (2.0, 6.0), (6.0, 10.0)]
    score = retime(verovio_score([2.0, 2.0]), marks, [(0, 1), (1, 1), (0, 2)], ParseConfig(tempo_after_jump="restored"))
    assert [(p.onset, p.offset) for p in score.performance] == [(0.0, 2.0), (2.0, 6.0), (6.0, 8.0)]
    marked = [xml_measure(0, tempos=[(0.0, 120.0)]), xml_measure(1, tempos=[(0.0, 60.0)])]
    score = retime(verovio_score([2.0, 2.0]), marked, [(0, 1), (1, 1), (0, 2)], ParseConfig())
    assert [(p.onset, p.offset) for p in score.performance] == [(0.0, 2.0), (2.0, 6.0), (6.0, 8.0)]
    # a performance that does not begin with the first measure begins at the tempo in effect there
    slow_start = [xml_measure(0, tempos=[(0.0, 60.0)]), xml_measure(1)]
    for mode in ("carried", "restored"):
        score = retime(verovio_score([2.0, 2.0]), slow_start, [(1, 1)], ParseConfig(tempo_after_jump=mode))
        assert score.performance[0].offset == 4.0
    endings = [*marked, xml_measure(2)]  # m1 the first ending, m2 the second
    score = retime(verovio_score([2.0, 2.0, 2.0]), endings, [(0, 1), (1, 1), (0, 2), (2, 1)], ParseConfig())
    assert [(p.onset, p.offset) for p in score.performance][2:] == [(6.0, 8.0), (8.0, 10.0)]


def test_tempo_after_jump_is_validated():
    assert load_config(None, ["parse.tempo_after_jump=restored"]).parse.tempo_after_jump == "restored"
    with pytest.raises(ConfigError, match="parse.tempo_after_jump must be carried or restored"):
        load_config(None, ["parse.tempo_after_jump=place"])


def test_a_jump_replays_verovio_renditions():
    """D.C.: m0 m1 m2 m0 m1, although Verovio played each once; pedal events travel with their measure."""
    score = retime(verovio_score([2.0, 2.0, 2.0]), [xml_measure(i) for i in range(3)], [(0, 1), (1, 1), (2, 1), (0, 2), (1, 2)], ParseConfig())
    assert [p.engraved_id for p in score.performance] == ["m0", "m1", "m2", "m0", "m1"]
    assert [n.engraved_id for n in score.notes][6:] == ["n0-0", "n0-1", "n1-0", "n1-1"]
    assert [n.onset for n in score.notes][6:] == [6.0, 7.0, 8.0, 9.0]
    assert [c.time for c in score.midi.controls] == pytest.approx([0.1, 5.9, 6.1])


def test_second_pass_plays_verovios_second_rendition():
    """A repeat Verovio unfolded: the second pass of m0 takes Verovio's second rendition of it."""
    score = verovio_score([2.0, 2.0], played=[0, 0, 1])
    retimed = retime(score, [xml_measure(0), xml_measure(1)], [(0, 1), (0, 2), (1, 1)], ParseConfig())
    assert [n.onset for n in retimed.notes] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [n.velocity for n in retimed.notes] == [80, 80, 81, 81, 82, 82]
    third = retime(score, [xml_measure(0), xml_measure(1)], [(0, 1), (0, 2), (0, 3), (1, 1)], ParseConfig())
    assert [n.velocity for n in third.notes] == [80, 80, 81, 81, 81, 81, 82, 82]  # a third pass sounds like the last


def test_default_tempo_and_limits(tmp_path):
    score = retime(verovio_score([1.0]), [xml_measure(0, length=3.0)], [(0, 1)], ParseConfig())
    assert score.performance[0].offset == pytest.approx(3.0 * 60 / DEFAULT_BPM)
    kern = tmp_path / "s.krn"
    kern.write_text("**kern\n4c\n*-\n")
    verovio_timed = verovio_score([1.0, 1.0, 1.0], path=str(kern))  # not MusicXML: Verovio's timing, checked too
    assert timeline(verovio_timed, ParseConfig()) is verovio_timed
    with pytest.raises(Rejected, match="performed measures"):
        timeline(verovio_timed, ParseConfig(max_measures=2))
    with pytest.raises(Rejected, match="s of music"):
        timeline(verovio_timed, ParseConfig(max_duration_s=2.5))


# --- end to end: every repeat and jump form through Verovio, parse and the timeline --------------

FIXTURES = Path(__file__).parent / "fixtures" / "timing"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.musicxml") if p.name not in ("timewise.musicxml", "multiple_rest.musicxml")))
def test_fixture_plays_in_the_unfolded_order(name):
    """The pipeline's performed measures are the MusicXML's unfolded order (tests/test_timing.py
    holds each fixture's expected order), back to back, every note lies in its measure, and every
    performed measure with a note in the MusicXML plays, also where Verovio's own playback skips
    the measure (endings numbered only in their text)."""
    path = FIXTURES / name
    score = performed_score(ScoreRef(name, str(path), "folder", ""), ParseConfig())
    index = {m.id: i for i, m in enumerate(score.measures)}
    assert [index[p.engraved_id] for p in score.performance] == [i for i, _ in unfold(read_musicxml(path))]
    assert all(a.offset == pytest.approx(b.onset) for a, b in zip(score.performance, score.performance[1:]))
    for note in score.notes:
        measure = score.performance[note.measure]
        assert measure.onset - 1e-6 <= note.onset < measure.offset + 1e-6, (name, note)
    assert [(n.key, n.onset) for n in score.midi.notes] == [(n.key, n.onset) for n in score.notes]
    written = [m.find("note/pitch") is not None for m in ET.parse(path).getroot().iter("measure")]
    assert {note.measure for note in score.notes} == {j for j, (i, _) in enumerate(unfold(read_musicxml(path))) if written[i]}


def test_a_note_stops_where_its_key_sounds_again():
    """Warped onto new lengths, a long note could outlast the next note of its key on its channel:
    MIDI cannot tell which note-off ends which, and the synthesiser would cut the second note."""
    import dataclasses

    score = verovio_score([2.0, 2.0])
    long = dataclasses.replace(score.notes[1], key=60, offset=3.5)  # m0's second note, held into m1
    notes = (score.notes[0], long, *(dataclasses.replace(n, key=60) for n in score.notes[2:]))
    score = dataclasses.replace(score, notes=notes)
    # m0 is 2 quarters in the MusicXML: its second note now starts at 0.5 s and would last to 2.5 s
    retimed = retime(score, [xml_measure(0, length=2.0), xml_measure(1)], [(0, 1), (1, 1)], ParseConfig())
    by_onset = [(n.onset, n.offset) for n in retimed.notes if n.key == 60]
    assert all(offset <= later_onset for (_, offset), (later_onset, _) in zip(by_onset, by_onset[1:])), by_onset
    assert [(n.onset, n.offset) for n in retimed.midi.notes if n.key == 60] == by_onset


def test_a_unison_of_two_voices_sounds_as_long_as_its_longer_note():
    """Two notes of one key starting together (a unison of two voices) sound once; the sounding one
    lasts as long as the longer of them, whichever voice comes first in the MIDI."""
    import dataclasses

    score = verovio_score([2.0])
    half, quarter = (dataclasses.replace(score.notes[0], engraved_id=e, key=64, offset=o) for e, o in (("half", 1.0), ("quarter", 0.5)))
    for pair in ((half, quarter), (quarter, half)):
        retimed = retime(dataclasses.replace(score, notes=pair), [xml_measure(0)], [(0, 1)], ParseConfig())
        assert max(n.offset - n.onset for n in retimed.notes) == pytest.approx(1.0)


def test_a_tie_is_not_held_into_a_measure_that_does_not_follow():
    """A note held past its measure (a tie into the next) is cut at the end of its measure where the
    next measure played is not the next one written (a repeat or a volta goes elsewhere)."""
    import dataclasses

    score = verovio_score([2.0, 2.0, 2.0])
    tied = dataclasses.replace(score.notes[1], offset=3.0)  # m0's second note, tied into m1
    score = dataclasses.replace(score, notes=(score.notes[0], tied, *score.notes[2:]))
    xml = [xml_measure(i) for i in range(3)]
    held = retime(score, xml, [(0, 1), (1, 1), (2, 1)], ParseConfig())
    assert [n.offset for n in held.notes if n.engraved_id == tied.engraved_id] == [3.0]
    cut = retime(score, xml, [(0, 1), (2, 1), (0, 2), (1, 1)], ParseConfig())  # m0 -> m2, then m0 -> m1
    assert [n.offset for n in cut.notes if n.engraved_id == tied.engraved_id] == [2.0, 7.0]


TIE_INTO_NEW_TEMPO = """<?xml version="1.0" encoding="UTF-8"?>
<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list>
<part id="P1"><measure number="1"><attributes><divisions>1</divisions><time><beats>4</beats><beat-type>4</beat-type></time>
<clef><sign>G</sign><line>2</line></clef></attributes><sound tempo="120"/>
<note><pitch><step>C</step><octave>4</octave></pitch><duration>2</duration><voice>1</voice><type>half</type></note>
<note><pitch><step>E</step><octave>4</octave></pitch><duration>2</duration><tie type="start"/><voice>1</voice><type>half</type>
<notations><tied type="start"/></notations></note>
</measure><measure number="2"><sound tempo="{bpm}"/>
<note><pitch><step>E</step><octave>4</octave></pitch><duration>1</duration><tie type="stop"/><voice>1</voice><type>quarter</type>
<notations><tied type="stop"/></notations></note>
<note><pitch><step>G</step><octave>4</octave></pitch><duration>1</duration><voice>1</voice><type>quarter</type></note>
<note><rest/><duration>2</duration><voice>1</voice><type>half</type></note></measure></part></score-partwise>
"""


@pytest.mark.parametrize(("bpm", "tie_end"), [(60, 3.0), (240, 2.25)])
def test_a_tie_into_a_new_tempo_is_held_at_that_tempo(tmp_path, bpm, tie_end):
    """E4 tied from beat 3 of m1 (120 bpm) over the barline for a quarter of m2, where a new tempo
    starts: it is held for 1 s plus a quarter at the new tempo, and ends where G4 begins."""
    path = tmp_path / "tie.musicxml"
    path.write_text(TIE_INTO_NEW_TEMPO.format(bpm=bpm))
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    (e4,) = [n for n in score.notes if n.key == 64]
    (g4,) = [n for n in score.notes if n.key == 67]
    assert e4.onset == pytest.approx(1.0, abs=0.001) and g4.onset == pytest.approx(tie_end, abs=0.001)
    assert e4.offset == pytest.approx(tie_end, abs=0.01)  # Verovio ends each note 1/120 quarter early


def test_a_tie_is_held_where_verovios_score_time_broke():
    """The score-time overflow fixture (Verovio's clock in quarters is rebuilt from real time) at
    60 bpm: a C4 of m2 tied over into m3 for a dotted half is held about 3 s into m3 (Verovio's
    real time, what the fraction of m3 is read from, is itself uneven in this broken score), not 6."""
    path = Path(__file__).parent / "fixtures" / "parse" / "tie_over_broken_score_time.musicxml"
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    m3 = score.performance[2]
    first = min((n for n in score.notes if n.key == 60), key=lambda n: n.onset)
    assert m3.onset == pytest.approx(8.0, abs=0.01) and first.onset < m3.onset
    assert 10.0 < first.offset < 11.1


def _one_part(divisions: int, beats: str, *measures: str) -> str:
    notes = [f'<measure number="{k + 1}">' + ("<attributes><divisions>%d</divisions><time><beats>%s</beats><beat-type>4</beat-type>"
             "</time><clef><sign>G</sign><line>2</line></clef></attributes>" % (divisions, beats) if k == 0 else "") + body + "</measure>"
             for k, body in enumerate(measures)]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="4.0"><part-list><score-part id="P1"><part-name>Piano'
            '</part-name></score-part></part-list><part id="P1">' + "".join(notes) + "</part></score-partwise>\n")


def _note(step: str, duration: int, kind: str, extra: str = "") -> str:
    return f"<note><pitch><step>{step}</step><octave>4</octave></pitch><duration>{duration}</duration><voice>1</voice><type>{kind}</type>{extra}</note>"


TRIPLET = "<time-modification><actual-notes>3</actual-notes><normal-notes>2</normal-notes></time-modification>"


def _two_staves(divisions: int, beats: str, upper: str, lower: str, voice: int) -> str:
    """One measure of a two-staff part: ``upper`` on staff 1, then ``lower`` (notes of ``voice``,
    which moves them onto staff 2), then a measure of a half note."""
    lower = lower.replace("<voice>1</voice>", f"<voice>{voice}</voice><staff>2</staff>")
    text = _one_part(divisions, beats, upper + "<backup><duration>%d</duration></backup>" % (2 * divisions) + lower,
                     _note("G", 2 * divisions, "half"))
    return text.replace("<clef>", "<staves>2</staves><clef>", 1)


TRIPLET_RUN = "".join(_note(s, 1, "eighth", TRIPLET) for s in "CDE") + _note("F", 3, "quarter")  # 2/4, 3 divisions


@pytest.mark.parametrize(("name", "text", "onsets"), [
    # three quarters and a <forward> filling 4/4 (Verovio plays the measure as 3 quarters): not stretched
    ("forward", _one_part(1, "4", _note("D", 1, "quarter") + _note("E", 1, "quarter") + _note("F", 1, "quarter")
                          + "<forward><duration>1</duration></forward>", _note("G", 4, "whole")), [0.0, 0.5, 1.0, 2.0]),
    # triplet eighths marked by <time-modification> alone (Verovio plays them as eighths), then a quarter
    ("triplet", _one_part(3, "2", TRIPLET_RUN, _note("G", 6, "half")), [0.0, 1 / 6, 2 / 6, 0.5, 1.0]),
    # beneath them, on the other staff, two quarters Verovio times right: each voice is placed on its own
    ("staves", _two_staves(3, "2", TRIPLET_RUN, _note("A", 3, "quarter").replace("<octave>4", "<octave>2")
                           + _note("B", 3, "quarter").replace("<octave>4", "<octave>2"), voice=5),
     [0.0, 0.0, 1 / 6, 2 / 6, 0.5, 0.5, 1.0]),
    # the same with the voices of each staff numbered from 1 (as Finale and Sibelius export)
    ("staves_numbered_apart", _two_staves(3, "2", TRIPLET_RUN, _note("A", 3, "quarter").replace("<octave>4", "<octave>2")
                                          + _note("B", 3, "quarter").replace("<octave>4", "<octave>2"), voice=1),
     [0.0, 0.0, 1 / 6, 2 / 6, 0.5, 0.5, 1.0]),
])
def test_notes_begin_where_their_durations_put_them(tmp_path, name, text, onsets):
    """Where Verovio's rendition of a measure is timed otherwise than its <duration>s, each note
    begins where the durations before it in its voice put it (:mod:`pdmx_fusa.stages.voices`)."""
    path = tmp_path / f"{name}.musicxml"
    path.write_text(text)
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    assert [n.onset for n in score.notes] == pytest.approx(onsets, abs=0.001)


@pytest.mark.parametrize(("slash", "grace_onset", "principal_onset"), [
    ("", 0.5, 0.75),  # an appoggiatura on the beat, delaying its note by half (Verovio's reading)
    (' slash="yes"', 0.48, 0.5),  # an acciaccatura just before the beat, its note on it
])
def test_grace_notes_keep_their_place_by_the_beat(tmp_path, slash, grace_onset, principal_onset):
    """The triplet measure with a grace note before its quarter: the quarter's beat is where the
    durations put it (0.5 s), and the grace note and the quarter lie around that beat as Verovio
    plays them there."""
    grace = f"<note><grace{slash}/><pitch><step>A</step><octave>4</octave></pitch><voice>1</voice><type>eighth</type></note>"
    path = tmp_path / "grace.musicxml"
    measure = TRIPLET_RUN.replace("<note><pitch><step>F", grace + "<note><pitch><step>F")
    path.write_text(_one_part(3, "2", measure, _note("G", 6, "half")))
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    (a4,) = [n for n in score.notes if n.grace]
    (f4,) = [n for n in score.notes if n.key == 65]
    assert (a4.key, a4.onset, f4.onset) == (69, pytest.approx(grace_onset, abs=0.005), pytest.approx(principal_onset, abs=0.005))


ACCIACCATURA = ('<note><grace slash="yes"/><pitch><step>A</step><octave>5</octave></pitch><voice>{}</voice>'
                '<type>eighth</type></note>')


@pytest.mark.parametrize(("name", "measure"), [
    ("rest", '<note><rest/><duration>1</duration><voice>1</voice><type>quarter</type></note>' + ACCIACCATURA.format(1)
     + _note("D", 1, "quarter") + _note("E", 2, "half")),
    ("space", _note("C", 4, "whole").replace("<octave>4", "<octave>5") + "<backup><duration>4</duration></backup>"
     + "<forward><duration>1</duration><voice>2</voice></forward>" + ACCIACCATURA.format(2)
     + _note("D", 1, "quarter").replace("<voice>1", "<voice>2") + _note("E", 2, "half").replace("<voice>1", "<voice>2")),
])
def test_an_acciaccatura_after_a_rest_takes_its_time_before_the_beat(tmp_path, name, measure):
    """A slashed grace note after a rest (or a <forward>: a space) sounds just before the beat,
    and the D4 it ornaments on it (0.5 s), as after a note."""
    path = tmp_path / f"{name}.musicxml"
    path.write_text(_one_part(1, "4", measure, _note("G", 4, "whole")))
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    (grace,) = [n for n in score.notes if n.grace]
    (d4,) = [n for n in score.notes if n.key == 62]
    assert 0.45 < grace.onset < 0.5 and d4.onset == pytest.approx(0.5, abs=0.001)


def test_a_grace_note_after_a_voices_last_note_keeps_its_length(tmp_path):
    """The triplet measure ending in a slashed grace note: it sounds before the barline, for as
    long as Verovio plays it, not squeezed onto the next downbeat."""
    path = tmp_path / "grace_last.musicxml"
    path.write_text(_one_part(3, "2", TRIPLET_RUN + ACCIACCATURA.format(1), _note("G", 6, "half")))
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    (grace,) = [n for n in score.notes if n.grace]
    assert grace.onset < 0.98 and grace.offset - grace.onset > 0.02 and grace.offset <= 1.0 + 1e-6


def test_a_tie_into_a_replaced_measure_ends_where_its_voice_goes_on(tmp_path):
    """C4 tied from a half note into the first of three triplet eighths marked by
    <time-modification> alone: it ends where the durations put D4 (1 + 1/6 s), not where
    Verovio's eighths would (1.2 s)."""
    tie = '<tie type="{0}"/><notations><tied type="{0}"/></notations>'
    path = tmp_path / "tie_into_triplets.musicxml"
    path.write_text(_one_part(3, "2", _note("C", 6, "half", tie.format("start")),
                              TRIPLET_RUN.replace("</type>", "</type>" + tie.format("stop"), 1), _note("G", 6, "half")))
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    (c4,) = [n for n in score.notes if n.key == 60]
    (d4,) = [n for n in score.notes if n.key == 62]
    assert d4.onset == pytest.approx(1 + 1 / 6, abs=0.001) and d4.onset - 0.01 < c4.offset <= d4.onset


def _chord(steps: str, octave: int, staff: int, voice: int, extra: str = "") -> str:
    """A quarter-note chord (3 divisions) on ``staff``."""
    return "".join(f"<note>{'<chord/>' if k else ''}<pitch><step>{step}</step><octave>{octave}</octave></pitch>"
                   f"<duration>3</duration><voice>{voice}</voice><type>quarter</type><staff>{staff}</staff>{extra}</note>"
                   for k, step in enumerate(steps))


def test_an_arpeggio_over_both_staves_is_rolled_from_the_beat(tmp_path):
    """A chord on each staff rolled as one arpeggio (Verovio rolls C2 G2 C4 E4 G4 a 32nd apart at
    120 bpm), then upper triplets marked by <time-modification> alone: the roll is kept, starting
    on the beat, and the triplets and the lower second chord are where the durations put them."""
    arpeggio = "<notations><arpeggiate/></notations>"
    triplets = "".join(_note(s, 1, "eighth", TRIPLET).replace("</voice>", "</voice><staff>1</staff>") for s in "DEF")
    upper = _chord("CEG", 4, 1, 1, arpeggio) + triplets
    lower = _chord("CG", 2, 2, 5, arpeggio) + _chord("CG", 2, 2, 5)
    path = tmp_path / "arpeggio.musicxml"
    path.write_text(_one_part(3, "2", upper + "<backup><duration>6</duration></backup>" + lower, _note("G", 6, "half"))
                    .replace("<clef>", "<staves>2</staves><clef>", 1))
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    assert [(n.key, n.onset) for n in score.notes] == [
        (36, 0.0), (43, pytest.approx(0.029, abs=0.002)), (60, pytest.approx(0.059, abs=0.002)),
        (64, pytest.approx(0.088, abs=0.002)), (67, pytest.approx(0.117, abs=0.002)),
        (36, 0.5), (43, 0.5), (62, 0.5), (64, pytest.approx(2 / 3, abs=0.001)),
        (65, pytest.approx(5 / 6, abs=0.001)), (67, 1.0),
    ]


def test_a_multiple_rest_keeps_the_names_of_the_signs_in_it(tmp_path):
    """Segno "B" in the middle measure of a multiple rest (m2-m4, engraved as one), segno "A" in
    m5, a D.S. naming "B" in m6: the D.S. goes back to the multiple rest, not to the nearer m5."""
    whole = "<note><pitch><step>C</step><octave>5</octave></pitch><duration>4</duration><voice>1</voice><type>whole</type></note>"
    rest = '<note><rest measure="yes"/><duration>4</duration><voice>1</voice></note>'
    sign = '<direction><direction-type><segno/></direction-type><sound segno="{}"/></direction>'
    body = [whole, '<attributes><measure-style><multiple-rest>3</multiple-rest></measure-style></attributes>' + rest,
            sign.format("B") + rest, rest, sign.format("A") + whole,
            whole + '<direction><direction-type><words>D.S.</words></direction-type><sound dalsegno="B"/></direction>', whole]
    path = tmp_path / "named_segno_in_a_multiple_rest.musicxml"
    path.write_text(_one_part(1, "4", *body))
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    assert [m.written for m in score.measures] == [1, 3, 1, 1, 1]
    engraved = {m.id: i for i, m in enumerate(score.measures)}
    assert [engraved[p.engraved_id] for p in score.performance] == [0, 1, 2, 3, 1, 2, 3, 4]


def test_a_multiple_rest_lasts_as_long_as_the_measures_it_shows():
    """Verovio engraves a <multiple-rest> of 3 as one measure: the MusicXML's measures are merged
    to match (instead of falling back to Verovio's timing), so the tempo mark on beat 3 of m1
    still takes effect there: m1 lasts 1 + 2 s, the rest 3 measures at 60, m5 4 s."""
    path = FIXTURES / "multiple_rest.musicxml"
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    assert [m.written for m in score.measures] == [1, 3, 1]
    assert [(p.onset, p.offset) for p in score.performance] == [(0.0, 3.0), (3.0, 15.0), (15.0, 19.0)]
    assert [n.onset for n in score.notes] == pytest.approx([0.0, 0.5, 1.0, 2.0, 15.0])

"""Two-note tremolos alternate their notes or chords as written (stages/tremolos.py), through
Verovio and the pipeline's parse and timeline."""

from __future__ import annotations

import itertools

import pytest
from conftest import CORPORA, needs_corpora

from pdmx_fusa.config import ParseConfig
from pdmx_fusa.records import Score, ScoreRef
from pdmx_fusa.stages.timeline_view import performed_score

HALF_OF_TWO = "<time-modification><actual-notes>2</actual-notes><normal-notes>1</normal-notes></time-modification>"


def _note(pitches: str, duration: int, kind: str, tremolo: str = "", extra: str = "") -> str:
    """A note, or a chord of ``pitches`` ("E4 E5"), in voice 1, with a <tremolo> mark."""
    marks = f"<notations><ornaments>{tremolo}</ornaments></notations>" if tremolo else ""
    notes = []
    for k, pitch in enumerate(pitches.split()):
        chord = "<chord/>" if k else ""
        notes.append(f"<note>{chord}<pitch><step>{pitch[0]}</step><octave>{pitch[1]}</octave></pitch>"
                     f"<duration>{duration}</duration><voice>1</voice><type>{kind}</type>{extra}{marks}</note>")
    return "".join(notes)


def _tremolo(first: str, second: str, strokes: int, kind: str = "half", duration: int = 4) -> str:
    """A two-note tremolo as MuseScore exports it: each note half its written value."""
    return (_note(first, duration, kind, f'<tremolo type="start">{strokes}</tremolo>', HALF_OF_TWO)
            + _note(second, duration, kind, f'<tremolo type="stop">{strokes}</tremolo>', HALF_OF_TWO))


def _score(tmp_path, *measures: str, repeat: bool = False) -> Score:
    """A 4/4 piano part of ``measures`` at 120 quarters per minute (4 divisions), performed."""
    body = []
    for k, content in enumerate(measures):
        head = ("<attributes><divisions>4</divisions><time><beats>4</beats><beat-type>4</beat-type></time>"
                "<clef><sign>G</sign><line>2</line></clef></attributes>") if k == 0 else ""
        last = repeat and k == len(measures) - 1
        tail = '<barline location="right"><repeat direction="backward"/></barline>' if last else ""
        body.append(f'<measure number="{k + 1}">{head}{content}{tail}</measure>')
    path = tmp_path / "tremolo.musicxml"
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="4.0"><part-list><score-part id="P1">'
                    '<part-name>Piano</part-name></score-part></part-list><part id="P1">'
                    + "".join(body) + "</part></score-partwise>\n")
    return performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())


def test_a_two_note_tremolo_alternates_in_its_unit(tmp_path):
    """Two half notes under three beams, in the second half of the measure: 16 strokes of a 32nd
    (62.5 ms at 120 per minute), E G E G ..., each a note of the notehead it plays."""
    score = _score(tmp_path, _note("C4", 8, "half") + _tremolo("E4", "G4", 3))
    strokes = [n for n in score.notes if n.onset >= 1.0 - 1e-6]
    assert [n.key for n in strokes] == [64, 67] * 8
    assert [n.onset for n in strokes] == pytest.approx([1.0 + k / 16 for k in range(16)], abs=1e-3)
    assert strokes[-1].offset == pytest.approx(2.0, abs=1e-3)
    assert len({n.engraved_id for n in strokes if n.key == 64}) == 1 and len({n.engraved_id for n in strokes}) == 2
    assert all(n.velocity > 0 and n.measure == 0 for n in strokes)
    assert [(n.key, n.onset) for n in score.notes if n.onset < 1.0] == [(60, pytest.approx(0.0, abs=1e-3))]


def test_chords_alternate_on_every_pass(tmp_path):
    """Octaves under two beams (16ths) over a whole measure, repeated: each pass plays 16 strokes
    of two notes, the lower octave first."""
    score = _score(tmp_path, _tremolo("C3 C4", "G3 G4", 2, kind="whole", duration=8), repeat=True)
    assert len(score.performance) == 2
    for j, measure in enumerate(score.performance):
        strokes = sorted((n for n in score.notes if n.measure == j), key=lambda n: (n.onset, n.key))
        assert [n.key for n in strokes] == [48, 60, 55, 67] * 8
        assert [n.onset - measure.onset for n in strokes[::2]] == pytest.approx([k / 8 for k in range(16)], abs=1e-3)


def test_the_last_stroke_holds_a_tie_out_of_the_tremolo(tmp_path):
    """The second half note is tied into the next measure: the strokes end on it at the barline,
    and that stroke sounds on through the tie, as the note did."""
    tied = _tremolo("E4", "G4", 3)
    first, second = tied.split("</note>", 1)
    second = second.replace("<voice>", '<tie type="start"/><voice>').replace("<ornaments>", '<tied type="start"/><ornaments>')
    held = ('<note><pitch><step>G</step><octave>4</octave></pitch><duration>4</duration><tie type="stop"/><voice>1</voice>'
            '<type>quarter</type><notations><tied type="stop"/></notations></note>')
    score = _score(tmp_path, _note("C4", 8, "half") + first + "</note>" + second, held + _note("C5", 12, "half", extra="<dot/>"))
    last = max((n for n in score.notes if n.key in (64, 67)), key=lambda n: n.onset)
    assert (last.key, last.onset, last.offset) == (67, pytest.approx(1.9375, abs=1e-3), pytest.approx(2.5, abs=0.01))
    assert len([n for n in score.notes if n.key in (64, 67)]) == 16


def test_strokes_are_counted_on_the_performed_clock(tmp_path):
    """Two half notes whose <duration>s give each its full value (no time modification): the
    tremolo lasts the whole measure as the durations say (2 s), so three beams make 32 strokes
    of a 32nd, not as many as fit in Verovio's shorter rendition."""
    measure = _tremolo("E4", "G4", 3, duration=8).replace(HALF_OF_TWO, "")
    strokes = _score(tmp_path, measure).notes
    assert [n.key for n in strokes] == [64, 67] * 16
    assert [n.onset for n in strokes] == pytest.approx([k / 16 for k in range(32)], abs=1e-3)


MEI_TREMOLO = """<?xml version="1.0" encoding="UTF-8"?>
<mei xmlns="http://www.music-encoding.org/ns/mei" meiversion="5.0"><meiHead><fileDesc><titleStmt><title>t</title></titleStmt>
<pubStmt/></fileDesc></meiHead><music><body><mdiv><score><scoreDef meter.count="4" meter.unit="4"><staffGrp>
<staffDef n="1" lines="5" clef.shape="G" clef.line="2"/></staffGrp></scoreDef><section><measure n="1"><staff n="1">
<layer n="1"><note xml:id="c" pname="c" oct="4" dur="2"/><fTrem beams="2"><note xml:id="e" pname="e" oct="4" dur="2"/>
<note xml:id="g" pname="g" oct="4" dur="2"/></fTrem></layer>
<layer n="2"><note xml:id="held" pname="e" oct="4" dur="1"/></layer></staff></measure></section></score></mdiv></body></music>
</mei>
"""


def test_an_mei_tremolo_alternates_on_verovios_timing(tmp_path):
    """MEI keeps Verovio's timing: the tremolo of two half notes (16ths) from the third beat
    alternates there, and a whole note of the same key held in another layer ends where the first
    stroke of that key begins (MIDI plays a key's notes one at a time on a channel)."""
    path = tmp_path / "tremolo.mei"
    path.write_text(MEI_TREMOLO)
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    strokes = [n for n in score.notes if n.engraved_id in ("e", "g")]
    assert [n.engraved_id for n in strokes] == ["e", "g"] * 4
    assert [n.onset for n in strokes] == pytest.approx([1.0 + k / 8 for k in range(8)], abs=1e-3)
    (held,) = [n for n in score.notes if n.engraved_id == "held"]
    assert held.offset == pytest.approx(1.0, abs=1e-3)
    assert [(n.key, n.onset, n.offset) for n in score.midi.notes] == [(n.key, n.onset, n.offset) for n in score.notes]


@needs_corpora
def test_a_real_scores_tremolos_alternate():
    """Beethoven op. 27/2 iii in **kern (25 fingered tremolos, on Verovio's timing): every
    tremolo, on every pass, alternates its first and second note or chord, starting with the
    first and ending with the second, in 8 strokes where Verovio played 2 notes a pass, each
    stroke in the measure it begins in."""
    path = CORPORA / "humdrum-piano/beethoven/sonata14-3.krn"
    score = performed_score(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    assert len(score.tremolos) == 25
    for tremolo in score.tremolos:
        strokes = sorted((n for n in score.notes if n.engraved_id in tremolo.first + tremolo.second), key=lambda n: n.onset)
        chords = itertools.groupby(strokes, key=lambda n: n.onset)
        sides = [{n.engraved_id in tremolo.first for n in chord} for _, chord in chords]
        assert all(len(side) == 1 for side in sides)
        firsts = [side.pop() for side in sides]  # per stroke: whether it plays the first note or chord
        assert firsts[0] and not firsts[-1] and all(a != b for a, b in zip(firsts, firsts[1:]))
        assert len(firsts) == 8  # strokes over its passes, where Verovio played its two notes
        assert all(score.performance[n.measure].onset - 1e-6 <= n.onset < score.performance[n.measure].offset for n in strokes)

"""Two-note tremolos alternate their notes or chords as written (stages/tremolos.py), through
Verovio and the pipeline's parse and timeline."""

from __future__ import annotations

import pytest

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

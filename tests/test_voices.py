"""voices: Verovio's layers paired with the MusicXML's voices, and notes placed between anchors."""

from __future__ import annotations

import math

import pytest

from pdmx_fusa.records import Layer
from pdmx_fusa.stages.voices import Anchors, Placing, place, written_places
from pdmx_fusa.timing.musicxml import XmlNote

NAN = math.nan


def _by_note(placing: Placing) -> dict[str, Anchors]:
    """The anchors of every placed note, by id."""
    return {note: placing.anchors[key] for note, key in placing.voice.items()}


def _layer(n: str, pitches: list[str], onsets: list[float], ends: list[float], graces: tuple[str, ...] = ()) -> Layer:
    return Layer("1", n, tuple((f"{n}-{k}",) for k in range(len(pitches))), tuple((p,) for p in pitches),
                 tuple(onsets), tuple(ends), graces)


def _voice(voice: int, pitches: list[str], ats: list[float], duration: float, staff: str = "1") -> list[XmlNote]:
    return [XmlNote(0, staff, voice, at, duration, (p,)) for p, at in zip(pitches, ats)]


# a measure of 2 quarters: three triplet eighths and a quarter, which Verovio played as eighths (2.5 quarters)
TRIPLETS = _layer("1", ["C4", "D4", "E4", "F4"], [0.0, 0.2, 0.4, 0.6], [0.2, 0.4, 0.6, 1.0], graces=("g",))
WRITTEN = _voice(1, ["C4", "D4", "E4"], [0.0, 1 / 3, 2 / 3], 1 / 3) + _voice(1, ["F4"], [1.0], 1.0)


def test_a_paired_layer_is_anchored_at_each_chord_and_its_end():
    places = _by_note(written_places([TRIPLETS], WRITTEN, 2.0))
    assert set(places) == {"1-0", "1-1", "1-2", "1-3", "g"}  # its grace notes follow it
    anchors = places["1-0"]
    assert [x for anchor in anchors for x in anchor] == pytest.approx([0.0, 0.0, 0.2, 1 / 3, 0.4, 2 / 3, 0.6, 1.0, 1.0, 2.0])
    assert place(anchors, 0.3) == pytest.approx(0.5) and place(anchors, 0.8) == pytest.approx(1.5)
    assert place(anchors, -0.1) == 0.0 and place(anchors, 1.2) == 2.0  # beyond the anchors: the nearest


@pytest.mark.parametrize(("layer", "why"), [
    (_layer("1", ["C4", "D4", "E4", "G4"], [0.0, 0.2, 0.4, 0.6], [NAN] * 4), "another pitch"),
    (_layer("1", ["C4", "D4", "E4"], [0.0, 0.2, 0.4], [NAN] * 3), "a note fewer"),
    (_layer("1", ["C4", "D4", "E4", "F4"], [0.0, 0.4, 0.2, 0.6], [NAN] * 4), "Verovio's onsets out of order"),
    (_layer("1", ["C4", "D4", "E4", "F4"], [0.0, 0.2, 0.4, 1.2], [NAN] * 4), "an onset past the measure"),
])
def test_a_layer_that_does_not_fit_keeps_verovios_placing(layer, why):
    assert _by_note(written_places([layer], WRITTEN, 2.0)) == {}, why


def test_a_voice_past_the_measure_keeps_verovios_placing():
    assert _by_note(written_places([TRIPLETS], WRITTEN, 1.0)) == {}  # F4 written at the measure's end


def test_of_voices_with_the_same_pitches_the_one_numbered_as_the_layer_is_taken():
    layer = _layer("2", ["C4", "D4"], [0.0, 0.5], [NAN, NAN])
    voices = _voice(1, ["C4", "D4"], [0.0, 1.0], 1.0) + _voice(2, ["C4", "D4"], [0.0, 1.5], 0.5)
    assert _by_note(written_places([layer], voices, 2.0))["2-1"][1] == (0.5, 1.5)


def test_a_voice_over_two_staves_or_numbered_apart_on_each():
    """A cross-staff voice pairs as one (its staff 2 note stays in the layer); two voices
    numbered 1 on two staves pair staff by staff."""
    cross = _voice(1, ["C4"], [0.0], 1.0) + _voice(1, ["G3"], [1.0], 1.0, staff="2")
    assert _by_note(written_places([_layer("1", ["C4", "G3"], [0.0, 0.5], [NAN, NAN])], cross, 2.0))["1-1"][1] == (0.5, 1.0)
    apart = _voice(1, ["C4", "D4"], [0.0, 0.5], 1.5) + _voice(1, ["G2", "A2"], [0.0, 1.0], 1.0, staff="2")
    lower = Layer("2", "1", (("a",), ("b",)), (("G2",), ("A2",)), (0.0, 0.4), (NAN, NAN))
    assert _by_note(written_places([lower], apart, 2.0))["b"][1] == (0.4, 1.0)


def test_a_chord_ends_where_its_duration_does():
    """Three quarters and a <forward> in 4/4, which Verovio plays as a measure of 3: the last
    quarter ends at 3 quarters, where Verovio ends the measure, not at the measure's end."""
    layer = _layer("1", ["D4", "E4", "F4"], [0.0, 1 / 3, 2 / 3], [1 / 3, 2 / 3, 1.0])
    anchors = _by_note(written_places([layer], _voice(1, ["D4", "E4", "F4"], [0.0, 1.0, 2.0], 1.0), 4.0))["1-2"]
    assert anchors[-1] == (1.0, 3.0) and place(anchors, 5 / 6) == pytest.approx(2.5)


def test_of_parts_with_the_same_pitches_the_one_verovio_plays_alike_is_taken():
    """Two parts (a chorale's doubled line) with the same pitches and voice number in other
    rhythms: each layer pairs with the part whose rhythm Verovio plays (bwv250, m. 3)."""
    first = [XmlNote(0, "1", 1, at, 0.5, (p,)) for p, at in zip(["A4", "B4", "C5"], [3.0, 3.25, 3.5])]
    second = [XmlNote(1, "1", 1, at, 0.25, (p,)) for p, at in zip(["A4", "B4", "C5"], [3.0, 3.5, 3.75])]
    layer = Layer("3", "1", (("a",), ("b",), ("c",)), (("A4",), ("B4",), ("C5",)), (0.75, 0.875, 0.9375), (NAN,) * 3)
    assert [q for _, q in _by_note(written_places([layer], first + second, 4.0))["b"]] == [0.0, 3.0, 3.5, 3.75, 4.0]


def test_what_follows_a_chord_ending_with_the_measure_still_begins_inside_it():
    """A layer whose last chord ends with the written measure but before Verovio's measure does
    (another voice runs longer there): a note Verovio plays after that end (a grace note, an
    ornament) is placed before the barline, not on it."""
    layer = _layer("1", ["C4", "D4"], [0.0, 0.4], [0.4, 0.8])
    anchors = _by_note(written_places([layer], _voice(1, ["C4", "D4"], [0.0, 1.0], 1.0), 2.0))["1-0"]
    assert anchors[-1] == (1.0, 2.0) and place(anchors, 0.9) < 2.0

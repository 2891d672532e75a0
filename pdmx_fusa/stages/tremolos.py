"""tremolos: a two-note tremolo (MEI ``<fTrem>``) played as it is written, its two notes or chords
alternating.

Verovio's MIDI plays the repeated strokes of a one-note tremolo (``<bTrem>``), but plays the two
notes or chords of a two-note tremolo one after the other, each held for its length (MuseScore
alternates them). Parse reads each ``<fTrem>`` (:func:`read_tremolos`); the timeline stage, on
its final clock, turns each performed pass of it into strokes of its unit, first, second, first
..., an even number of them, each a copy of the performed notes it plays (the same engraved id,
so its notehead's box, key, velocity and channel) lasting until the next begins
(:func:`alternate`). The strokes fill twice the first note's length (the two are written alike),
ending at the latest where the second note ends; the last stroke, of the second note or chord,
is held as long as that note is (a tie out of it). The unit is the tremolo's ``@unitdur`` where
given, else the value of its beams (``@beams``: 1 an eighth, 2 a 16th, 3 a 32nd). A tremolo
whose span holds fewer than two units, or whose notes are not all performed (a tie into it:
the first note sounds as the earlier notehead), stays as Verovio plays it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from ..audio.midi import TempoMap
from ..records import PerformedNote, Tremolo
from .notes import MEI, XML_ID

MAX_STROKES = 512  # per tremolo and pass: a bound for absurd markup
SLACK = 1 / 32  # quarters: Verovio ends a note 1/120 of a quarter early; a second note ending sooner is shorter


def read_tremolos(mei: ET.Element) -> tuple[Tremolo, ...]:
    """Every ``<fTrem>`` of ``mei`` with two members (notes or chords) and a unit."""
    tremolos = []
    for element in mei.iter(f"{MEI}fTrem"):
        members = [child for child in element if child.tag in (f"{MEI}note", f"{MEI}chord")]
        unit = _unit(element)
        if len(members) == 2 and unit > 0:
            first, second = (tuple(n.get(XML_ID, "") for n in member.iter(f"{MEI}note")) for member in members)
            if first and second:
                tremolos.append(Tremolo(first, second, unit))
    return tuple(tremolos)


def alternate(tremolos: tuple[Tremolo, ...], notes: list[PerformedNote], tempo: TempoMap) -> list[PerformedNote]:
    """``notes`` with every performed pass of ``tremolos`` played as alternating strokes (see the
    module), in no particular order. ``tempo``: the clock of ``notes``, whose seconds per quarter
    at a tremolo's onset give its unit in seconds."""
    if not tremolos:
        return notes
    where: dict[str, list[int]] = {}  # engraved id -> indices of its performed notes, by onset
    for i in sorted(range(len(notes)), key=lambda i: notes[i].onset):
        where.setdefault(notes[i].engraved_id, []).append(i)
    replaced: set[int] = set()
    strokes: list[PerformedNote] = []
    for tremolo in tremolos:
        ids = tremolo.first + tremolo.second
        for r in range(min(len(where.get(i, ())) for i in ids)):
            a = [notes[where[i][r]] for i in tremolo.first]
            b = [notes[where[i][r]] for i in tremolo.second]
            start, middle = min(n.onset for n in a), min(n.onset for n in b)
            quarter = tempo.rates[tempo.in_effect(start)] * tempo.ppq  # seconds
            end = start + 2 * (middle - start)
            if max(n.offset for n in b) < end - SLACK * quarter:  # a second note shorter than the first
                end = max(n.offset for n in b)
            stroke = tremolo.unit * quarter
            count = min(2 * round((end - start) / (2 * stroke)), MAX_STROKES) if stroke > 0 else 0
            if count < 2:
                continue
            step = (end - start) / count
            for k in range(count):
                onset = start + k * step
                if k % 2 == 0:
                    strokes.extend(replace(n, onset=onset, offset=onset + step) for n in a)
                else:  # the last stroke holds on as long as its note does
                    last = k == count - 1
                    strokes.extend(replace(n, onset=onset, offset=max(n.offset, end) if last else onset + step) for n in b)
            replaced.update(where[i][r] for i in ids)
    return [note for i, note in enumerate(notes) if i not in replaced] + strokes


def _unit(tremolo: ET.Element) -> float:
    """Quarters in a stroke of ``tremolo``: 4 / ``@unitdur``, else a quarter halved once per beam
    (0 where neither says)."""
    for attribute, quarters in (("unitdur", lambda v: 4.0 / v), ("beams", lambda v: 1.0 / 2 ** v)):
        try:
            value = int(tremolo.get(attribute, ""))
        except ValueError:
            continue
        if value > 0:
            return quarters(value)
    return 0.0

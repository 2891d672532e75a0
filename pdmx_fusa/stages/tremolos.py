"""tremolos: a two-note tremolo (MEI ``<fTrem>``) played as it is written, its two notes or chords
alternating.

Verovio's MIDI plays the repeated strokes of a one-note tremolo (``<bTrem>``), but plays the two
notes or chords of a two-note tremolo one after the other, each held for its written length
(MuseScore alternates them). Here each performed pass of an ``<fTrem>`` becomes strokes of its
unit, from the onset of its first note to the end of its second, first, second, first ..., each
stroke a copy of the performed notes it plays (the same engraved id, so its notehead's box, key,
velocity and channel), lasting until the next begins. The unit is the tremolo's ``@unitdur``
where given, else the value of its beams (``@beams``: 1 an eighth, 2 a 16th, 3 a 32nd); a
tremolo whose span holds fewer than two units, or whose notes Verovio did not play, stays as
Verovio plays it.
"""

from __future__ import annotations

import bisect
import xml.etree.ElementTree as ET
from dataclasses import replace

from ..audio.midi import TempoMap
from ..records import PerformedNote
from .notes import MEI, XML_ID

MAX_STROKES = 512  # per tremolo and pass: a bound for absurd markup


def alternate(mei: ET.Element, notes: tuple[PerformedNote, ...], tempo: TempoMap) -> tuple[PerformedNote, ...]:
    """``notes`` (by onset, as :func:`.notes.perform_notes` gives them) with every two-note tremolo
    of ``mei`` played as alternating strokes (see the module); ``tempo``: the clock of ``notes``
    (seconds per quarter at a tremolo's onset give its unit in seconds)."""
    tremolos = list(_tremolos(mei))
    if not tremolos:
        return notes
    where: dict[str, list[int]] = {}  # engraved id -> indices of its performed notes, by onset
    for i, note in enumerate(notes):
        where.setdefault(note.engraved_id, []).append(i)
    replaced: set[int] = set()
    strokes: list[PerformedNote] = []
    for first, second, unit in tremolos:
        passes = min((len(where.get(i, ())) for i in first + second), default=0)
        for r in range(passes):
            a = [notes[where[i][r]] for i in first]
            b = [notes[where[i][r]] for i in second]
            start, middle = min(n.onset for n in a), min(n.onset for n in b)
            stroke = unit * _seconds_per_quarter(tempo, start)
            count = min(round(2 * (middle - start) / stroke), MAX_STROKES) if stroke > 0 else 0
            if middle <= start or count < 2:
                continue
            step = 2 * (middle - start) / count
            for k in range(count):
                onset = start + k * step
                strokes.extend(replace(n, onset=onset, offset=onset + step) for n in (a if k % 2 == 0 else b))
            replaced.update(where[i][r] for i in first + second)
    kept = [note for i, note in enumerate(notes) if i not in replaced]
    return tuple(sorted(kept + strokes, key=lambda n: (n.onset, n.channel, n.key)))


def _tremolos(mei: ET.Element):
    """(ids of the first note or chord, ids of the second, unit in quarters) of every ``<fTrem>``
    with two members."""
    for tremolo in mei.iter(f"{MEI}fTrem"):
        members = [child for child in tremolo if child.tag in (f"{MEI}note", f"{MEI}chord")]
        unit = _unit(tremolo)
        if len(members) == 2 and unit > 0:
            first, second = ([n.get(XML_ID, "") for n in member.iter(f"{MEI}note")] for member in members)
            if first and second:
                yield first, second, unit


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


def _seconds_per_quarter(tempo: TempoMap, seconds: float) -> float:
    i = max(bisect.bisect_right(tempo.starts, seconds) - 1, 0)
    return tempo.rates[i] * tempo.ppq

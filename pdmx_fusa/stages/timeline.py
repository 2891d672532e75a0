"""timeline: the performance retimed from the score's own durations, tempo marks and jumps.

Verovio's timemap and MIDI say which notes each performed measure plays, but their timeline is
not always the score's: it derives durations from note types and tuplet markup (which real
MuseScore files often get wrong, while their ``<duration>`` values are right), applies a tempo
mark from the first beat of its measure, keeps one per measure, skips a first ending that has no
second, and knows no D.C., D.S., Fine or Coda. For a MusicXML score this stage takes from the
MusicXML itself (:mod:`pdmx_fusa.timing`) each measure's real length, every tempo mark at its
position, the fermatas, and the performed order; each performed measure then plays the notes
(and pedal) of one of Verovio's renditions of it, every event moved by where it lies within that
rendition onto the measure's real length, a note by its voice's anchors where its layer pairs
with a MusicXML voice (:mod:`.voices`: where the ``<duration>``s put it); a note held past its
measure (tied) reaches as far into the measures after it as in Verovio's rendition (the share of
each it covers, of that measure's real length, placed by its voice's anchors there). The result
is one new MIDI, whose times every row carries and from which the audio is synthesised: one
source of time.

Tempo: every mark takes effect at its exact position, and the tempo runs on in the order the
measures are played (from the tempo in effect where the performance begins: 120 quarters per
minute before any mark), across a jump too
(``parse.tempo_after_jump`` "carried", the default): after a D.C. the opening plays at the tempo
reached before the jump unless a mark stands at its start, and a second ending does not take the
first ending's marks. This is how MuseScore plays and exports a score (its MIDI writer and player
take, for each passage between jumps, the marks inside it and no other; asap Schumann, Arabeske
m. 43: the repeat goes on at the 112 reached before it, not the 126 in effect where it lands).
"restored" instead starts the measure a jump lands on at the tempo in effect there (the last mark
before it in the score), as a player returning to "Tempo I" would. A fermata holds its
note or rest ``parse.fermata_hold`` times its written length (1.0 by default: no hold, as in
MuseScore's playback). Other formats (MEI, Humdrum), and MusicXML whose measures do not map one
to one onto Verovio's, keep Verovio's timing.

On either timing, the last step: each two-note tremolo's notes alternate in strokes of its unit
(:mod:`.tremolos`, counted on this clock), and each key's notes on a channel sound one at a time
(a note ends at the latest where the next of its key begins, as the synthesiser plays them).
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

from ..audio.midi import Control, Midi, Note, TempoMap
from ..config import ParseConfig
from ..records import Performed, PerformedNote, Score
from ..timing.musicxml import XmlMeasure, read_musicxml
from ..timing.unfold import unfold
from . import Rejected
from .notes import notes_midi
from .parse import page_labels
from .tremolos import alternate
from .voices import Placing, place, written_places

DEFAULT_BPM = 120.0  # quarter notes per minute before the first tempo mark (MusicXML's default)
PPQ = 960  # ticks per quarter of the new MIDI's tempo map


def timeline(score: Score, cfg: ParseConfig) -> Score:
    """``score`` with its performance, notes and MIDI retimed from its MusicXML (on Verovio's
    timing for other formats, or when the MusicXML's measures do not match Verovio's one to one),
    its two-note tremolos alternated; a score past ``cfg.max_measures`` performed measures or
    ``cfg.max_duration_s`` is rejected."""
    xml = read_musicxml(Path(score.ref.path))
    written = [m.written for m in score.measures]
    if xml and len(xml) == sum(written):
        xml = _as_engraved(xml, written)
        score = retime(score, xml, unfold(xml), cfg)
    else:
        score = _as_verovio_plays(score)
    if len(score.performance) > cfg.max_measures:
        raise Rejected(f"too long: {len(score.performance)} performed measures (limit {cfg.max_measures})")
    if score.duration > cfg.max_duration_s:
        raise Rejected(f"too long: {score.duration:.0f} s of music (limit {cfg.max_duration_s:.0f} s)")
    return score


def _as_verovio_plays(score: Score) -> Score:
    """``score`` on Verovio's timing (MEI, Humdrum, a MusicXML whose measures are not Verovio's),
    its two-note tremolos alternated (:mod:`.tremolos`) and each key's notes one at a time on
    their channel."""
    played = alternate(score.tremolos, list(score.notes), score.midi.tempo)
    notes = tuple(_one_at_a_time(sorted(played, key=lambda n: (n.onset, n.channel, n.key, n.offset))))
    if notes == score.notes:
        return score
    return dataclasses.replace(score, notes=notes, midi=notes_midi(score.midi, notes), duration=_end(score.performance, notes))


def _end(performance: Sequence[Performed], notes: Sequence[PerformedNote]) -> float:
    """Seconds to the end of the music: the last measure's offset or the last note's, whichever is later."""
    return max([performance[-1].offset, *(n.offset for n in notes)]) if performance else 0.0


def _as_engraved(xml: tuple[XmlMeasure, ...], written: list[int]) -> tuple[XmlMeasure, ...]:
    """``xml``'s measures grouped as Verovio engraves them: the ``written[k]`` measures that the
    k-th engraved one stands for (a multiple rest: several measures of rest shown as one) become
    one measure, as long as they are together, with their tempo marks and fermatas in place and
    the names of their segnos and codas."""
    if all(n == 1 for n in written):
        return xml
    merged, first = [], 0
    for k, n in enumerate(written):
        group = xml[first:first + n]
        first += n
        shifts = [0.0, *itertools.accumulate(m.length for m in group)]  # where each measure starts in the group
        merged.append(dataclasses.replace(
            group[0],
            index=k,
            length=sum(m.length for m in group),
            tempos=tuple((shift + at, bpm) for m, shift in zip(group, shifts) for at, bpm in m.tempos),
            fermatas=tuple((shift + at, held) for m, shift in zip(group, shifts) for at, held in m.fermatas),
            repeat_backward=group[-1].repeat_backward,
            times=group[-1].times,
            endings=tuple(sorted({e for m in group for e in m.endings})),
            **{mark: any(getattr(m, mark) for m in group) for mark in ("segno", "coda", "fine", "dacapo", "dalsegno", "tocoda")},
            names=frozenset().union(*(m.names for m in group)),
        ))
    return tuple(merged)


def retime(score: Score, xml: Sequence[XmlMeasure], order: Sequence[tuple[int, int]], cfg: ParseConfig) -> Score:
    """Lay out the performed ``order`` of (measure index, pass) with the lengths, tempo marks and
    fermatas of ``xml``, each measure playing one of Verovio's renditions of it in ``score``."""
    renditions: dict[str, list[int]] = {}
    for p, performed in enumerate(score.performance):
        renditions.setdefault(performed.engraved_id, []).append(p)
    starts, quarter = [], 0.0
    for index, _ in order:
        starts.append(quarter)
        quarter += xml[index].length
    clock = _clock(xml, order, starts, cfg.fermata_hold, cfg.tempo_after_jump)
    played = [_rendition(renditions.get(score.measures[index].id, []), rep) for index, rep in order]

    performance, notes, controls = [], [], []
    by_rendition = _events_by_rendition(score)
    engraved = {m.id: i for i, m in enumerate(score.measures)}
    verovio_lengths = [xml[engraved[v.engraved_id]].length if v.engraved_id in engraved else 0.0 for v in score.performance]
    offsets = [clock.seconds(start + xml[index].length) for (index, _), start in zip(order, starts)]
    held = _held_until(order, offsets)
    placings: dict[int, Placing] = {}  # by measure index (:mod:`.voices`)

    def placing(index: int) -> Placing:
        if index not in placings:
            placings[index] = written_places(score.measures[index].layers, xml[index].notes, xml[index].length)
        return placings[index]

    def within(k: int, u: float, voice: tuple[str, str] | None) -> float:
        """Quarters into Verovio's performed measure ``k`` of the share ``u`` of it: by the
        anchors there of ``voice`` (a note's own measure, or one a tie continues into in its
        voice), else in proportion."""
        index = engraved.get(score.performance[k].engraved_id)
        anchors = placing(index).anchors.get(voice, ()) if index is not None and voice else ()
        return place(anchors, u) if anchors else u * verovio_lengths[k]

    for j, ((index, _), start, p) in enumerate(zip(order, starts, played)):
        length = xml[index].length
        onset, offset = clock.seconds(start), offsets[j]
        performance.append(Performed(score.measures[index].id, onset, offset, score.performance[p].polyphony if p is not None else 0))
        if p is None:
            continue
        source = score.performance[p]
        span = source.offset - source.onset
        voices = placing(index).voice

        def moved(t: float, voice: tuple[str, str] | None = None) -> float:
            if t > source.offset:  # held past its measure (tied): as far into the measures after it as Verovio holds it
                overhang = _overhang(score.performance, verovio_lengths, p, t, lambda k, u: within(k, u, voice))
                return clock.seconds(start + length + overhang)
            return clock.seconds(start + within(p, (t - source.onset) / span if span > 0 else 0.0, voice))

        rendition_notes, rendition_controls = by_rendition[p]
        for note in rendition_notes:
            voice = voices.get(note.engraved_id)
            start_s = moved(note.onset, voice)
            offset = max(min(moved(note.offset, voice), held[j]), start_s)
            notes.append(dataclasses.replace(note, measure=j, onset=start_s, offset=offset))
        controls.extend(dataclasses.replace(c, time=moved(c.time)) for c in rendition_controls)
    tempo = clock.tempo_map()
    notes = alternate(score.tremolos, notes, tempo)
    # of a unison's notes (one key, one onset) the longest comes last and is the one that sounds
    notes = _one_at_a_time(sorted(notes, key=lambda n: (n.onset, n.key, n.channel, n.offset)))
    controls.sort(key=lambda c: c.time)
    midi = Midi(
        notes=tuple(Note(n.channel, n.key, n.velocity, n.onset, n.offset) for n in notes),
        controls=tuple(controls),
        programs=score.midi.programs,
        tempo=tempo,
    )
    performance = tuple(performance)
    return dataclasses.replace(
        score, performance=performance, notes=tuple(notes), midi=midi, duration=_end(performance, notes),
        labels=page_labels(score.measures, performance, len(score.svgs)),
    )


def _overhang(performance: Sequence[Performed], lengths: Sequence[float], p: int, t: float,
              within: Callable[[int, float], float]) -> float:
    """Quarters that Verovio's time ``t``, past the end of its performed measure ``p``, lies beyond
    it: each of its performed measures after ``p`` counts its MusicXML length (``lengths``), the
    one ``t`` falls in the quarters ``within`` gives for the share of it that has passed. Verovio's
    tempo may change at the barline, and its clock in quarters may be broken (a timemap rebuilt
    from real time)."""
    quarters = 0.0
    for k in range(p + 1, len(performance)):
        measure, span = performance[k], performance[k].offset - performance[k].onset
        if t <= measure.offset or k == len(performance) - 1:
            return quarters + (within(k, (t - measure.onset) / span) if span > 0 else 0.0)
        quarters += lengths[k]
    source = performance[p]  # the last measure: held on at its own pace
    span = source.offset - source.onset
    return (t - source.offset) / span * lengths[p] if span > 0 else 0.0


def _held_until(order: Sequence[tuple[int, int]], offsets: list[float]) -> list[float]:
    """For each performed measure, the latest time a note begun in it may last: the end of the run
    of measures played in written order from it. A note held past its measure is tied into the
    next written one, and where the music goes elsewhere (a repeat, a volta, a jump) the tie is
    not continued."""
    held = list(offsets)
    for j in range(len(order) - 2, -1, -1):
        if order[j + 1][0] == order[j][0] + 1:
            held[j] = held[j + 1]
    return held


def _one_at_a_time(notes: list[PerformedNote]) -> list[PerformedNote]:
    """``notes`` (by onset) with each note ending, at the latest, where the next note of its key
    on its channel begins: moved onto new lengths, a long note could outlast it, and MIDI could
    not tell which note-off ends which (the synthesiser would cut the later note)."""
    following: dict[tuple[int, int], float] = {}
    ended = list(notes)
    for i in range(len(notes) - 1, -1, -1):
        note, key = notes[i], (notes[i].channel, notes[i].key)
        if key in following and note.offset > following[key]:
            ended[i] = dataclasses.replace(note, offset=max(note.onset, following[key]))
        following[key] = note.onset
    return ended


def _rendition(candidates: list[int], rep: int) -> int | None:
    """Which of Verovio's renditions of a measure plays its ``rep``-th pass: that one if Verovio
    played it so often, else its last (a pass Verovio never played sounds like its last one)."""
    if not candidates:
        return None
    return candidates[min(rep, len(candidates)) - 1]


def _events_by_rendition(score: Score) -> dict[int, tuple[list[PerformedNote], list[Control]]]:
    """The notes (by the performed measure they begin in) and controller events (by the
    performed measure their time falls in) of each of Verovio's performed measures."""
    events: dict[int, tuple[list[PerformedNote], list[Control]]] = {p: ([], []) for p in range(len(score.performance))}
    for note in score.notes:
        events[note.measure][0].append(note)
    onsets = [p.onset for p in score.performance]
    for control in score.midi.controls:
        p = max(bisect.bisect_right(onsets, control.time) - 1, 0)
        if p < len(onsets):
            events[p][1].append(control)
    return events


@dataclasses.dataclass(frozen=True)
class _Clock:
    """Performed quarters to seconds: piecewise constant seconds per quarter from ``bounds[i]``."""

    bounds: tuple[float, ...]  # quarters where a rate starts (the first is 0)
    rates: tuple[float, ...]  # seconds per quarter from there
    at: tuple[float, ...]  # seconds at each bound

    def seconds(self, quarter: float) -> float:
        i = max(bisect.bisect_right(self.bounds, quarter) - 1, 0)
        return self.at[i] + (quarter - self.bounds[i]) * self.rates[i]

    def tempo_map(self) -> TempoMap:
        return TempoMap(PPQ, tuple(round(b * PPQ) for b in self.bounds), self.at, tuple(r / PPQ for r in self.rates))


def _clock(xml: Sequence[XmlMeasure], order: Sequence[tuple[int, int]], starts: Sequence[float], hold: float,
           after_jump: str) -> _Clock:
    """The performance's tempo: each tempo mark from its exact position, every fermata's span
    ``hold`` times as long; after a jump the tempo reached before it runs on (``after_jump``
    "carried") or the tempo in effect where it lands returns ("restored")."""
    in_place, bpm = [], DEFAULT_BPM  # the tempo in effect where each measure starts, in document order
    for measure in xml:
        in_place.append(bpm)
        bpm = next((b for _, b in reversed(measure.tempos) if b > 0), bpm)
    tempos, holds, bpm, previous = [], [], DEFAULT_BPM, None
    for (index, _), start in zip(order, starts):
        measure = xml[index]
        if previous is None or (after_jump == "restored" and index != previous + 1):
            bpm = in_place[index]  # where the performance begins, or a jump lands: the tempo in effect there
        tempos.append((start, bpm))
        marks = [(start + offset, b) for offset, b in measure.tempos if b > 0]  # by offset, of one position the last written last
        tempos.extend(marks)
        bpm, previous = marks[-1][1] if marks else bpm, index
        if hold != 1.0:
            holds.extend((start + offset, start + offset + duration) for offset, duration in measure.fermatas if duration > 0)
    bounds = sorted({q for q, _ in tempos} | {q for span in holds for q in span})
    rates, at, t = [], [], 0.0
    tempo_at = sorted(tempos, key=lambda item: item[0])  # stable: of marks at one position the last wins
    for i, bound in enumerate(bounds):
        bpm = next(b for q, b in reversed(tempo_at) if q <= bound)
        held = any(lo <= bound < hi for lo, hi in holds)
        rates.append(60.0 / bpm * (hold if held else 1.0))
        at.append(t)
        if i + 1 < len(bounds):
            t += (bounds[i + 1] - bound) * rates[-1]
    return _Clock(tuple(bounds), tuple(rates), tuple(at))

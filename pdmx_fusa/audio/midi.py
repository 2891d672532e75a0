"""MIDI in seconds: Verovio's file read into notes and controller events, and passages cut from it.

Every time in the dataset comes from here: measure times are Verovio's quarter-note positions
mapped through this MIDI's tempo map, and the audio is synthesised from these same events.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass


# Passage files use a fixed grid: 120 bpm at 960 ticks per quarter, one tick = 1/1920 s.
PASSAGE_PPQ = 960
PASSAGE_TEMPO = 500_000
TICKS_PER_SECOND = PASSAGE_PPQ * 1_000_000 / PASSAGE_TEMPO


@dataclass(frozen=True)
class Note:
    channel: int
    key: int
    velocity: int
    onset: float
    offset: float


@dataclass(frozen=True)
class Control:
    channel: int
    control: int
    value: int
    time: float


@dataclass(frozen=True)
class TempoMap:
    """Ticks to seconds, piecewise linear between tempo changes."""

    ppq: int
    ticks: tuple[int, ...]  # where each tempo starts
    starts: tuple[float, ...]  # seconds at those ticks
    rates: tuple[float, ...]  # seconds per tick from there on

    def seconds(self, tick: float) -> float:
        i = bisect.bisect_right(self.ticks, tick) - 1
        return self.starts[i] + (tick - self.ticks[i]) * self.rates[i]

    def seconds_at_quarter(self, qstamp: float) -> float:
        return self.seconds(qstamp * self.ppq)

    def in_effect(self, seconds: float) -> int:
        """Index of the tempo in effect at ``seconds`` (the first where none has begun yet)."""
        return max(bisect.bisect_right(self.starts, seconds) - 1, 0)


@dataclass(frozen=True)
class Midi:
    """A MIDI file as absolute-time events, with the tempo map that gave them their times."""

    notes: tuple[Note, ...]  # sorted by onset
    controls: tuple[Control, ...]  # sorted by time
    programs: frozenset[int]
    tempo: TempoMap


def read_midi(data: bytes) -> Midi:
    """Read a standard MIDI file; note-offs pair with the earliest open note of their key."""
    ppq, events = _read_smf(data)
    ticks, starts, rates = [0], [0.0], [500_000 / 1e6 / ppq]
    for tick, kind, *values in events:
        if kind == "tempo":
            start = starts[-1] + (tick - ticks[-1]) * rates[-1]
            if tick == ticks[-1]:
                ticks.pop(), starts.pop(), rates.pop()
            ticks.append(tick), starts.append(start), rates.append(values[0] / 1e6 / ppq)
    tempo = TempoMap(ppq, tuple(ticks), tuple(starts), tuple(rates))
    notes, controls, programs = [], [], set()
    open_notes: dict[tuple[int, int], list[tuple[float, int]]] = {}
    tick = 0
    for tick, kind, *values in events:
        if kind == "tempo":
            continue
        time = tempo.seconds(tick)
        if kind == 0x90 and values[2] > 0:
            channel, key, velocity = values
            open_notes.setdefault((channel, key), []).append((time, velocity))
        elif kind in (0x80, 0x90):
            pending = open_notes.get((values[0], values[1]))
            if pending:
                onset, velocity = pending.pop(0)
                notes.append(Note(values[0], values[1], velocity, onset, time))
        elif kind == 0xB0:
            controls.append(Control(values[0], values[1], values[2], time))
        elif kind == 0xC0:
            programs.add(values[1])
    end = tempo.seconds(tick)
    for (channel, key), pending in open_notes.items():
        notes.extend(Note(channel, key, velocity, onset, end) for onset, velocity in pending)
    notes.sort(key=lambda n: (n.onset, n.channel, n.key))
    return Midi(tuple(notes), tuple(controls), frozenset(programs), tempo)


def _read_smf(data: bytes) -> tuple[int, list[tuple]]:
    """Ticks per quarter and every track's events merged in time order (track order at a tie):
    ``(tick, "tempo", microseconds)`` or ``(tick, status & 0xF0, channel, data1[, data2])``."""
    if data[:4] != b"MThd":
        raise ValueError("not a standard MIDI file")
    header = int.from_bytes(data[4:8], "big")
    tracks, ppq = int.from_bytes(data[10:12], "big"), int.from_bytes(data[12:14], "big")
    if ppq & 0x8000:
        raise ValueError("SMPTE time division is not supported")
    events, i = [], 8 + header
    for track in range(tracks):
        if data[i : i + 4] != b"MTrk":
            raise ValueError(f"MIDI track {track}: missing MTrk chunk")
        end = i + 8 + int.from_bytes(data[i + 4 : i + 8], "big")
        i, tick, status = i + 8, 0, 0
        while i < end:
            delta, i = _read_vlq(data, i)
            tick += delta
            if data[i] >= 0x80:
                status, i = data[i], i + 1
            if status == 0xFF:
                kind, (size, i) = data[i], _read_vlq(data, i + 1)
                if kind == 0x51:
                    events.append((tick, track, len(events), "tempo", int.from_bytes(data[i : i + 3], "big")))
                i += size
            elif status in (0xF0, 0xF7):
                size, i = _read_vlq(data, i)
                i += size
            elif status & 0xF0 in (0xC0, 0xD0):
                events.append((tick, track, len(events), status & 0xF0, status & 0x0F, data[i]))
                i += 1
            else:
                events.append((tick, track, len(events), status & 0xF0, status & 0x0F, data[i], data[i + 1]))
                i += 2
        i = end
    events.sort(key=lambda e: e[:3])
    return ppq, [(e[0], *e[3:]) for e in events]


def _read_vlq(data: bytes, i: int) -> tuple[int, int]:
    value = 0
    while True:
        byte = data[i]
        value, i = (value << 7) | (byte & 0x7F), i + 1
        if byte < 0x80:
            return value, i


@dataclass(frozen=True)
class PassageEvent:
    tick: int  # on the passage grid (TICKS_PER_SECOND)
    kind: str  # "note_on", "note_off" or "control_change"
    channel: int
    a: int  # key or controller
    b: int  # velocity or value


def cut_passage(midi: Midi, start: float, end: float, tempo_ratio: float) -> list[PassageEvent]:
    """Events of the notes that begin in ``[start, end)``, in passage time on the tick grid.

    Notes are cut at ``end``; controllers keep the value they had at ``start``. Times are divided
    by ``tempo_ratio`` and rounded to the grid, so the MIDI written and the audio synthesised
    from these events agree to the sample.
    """

    def local(time: float) -> float:
        return (time - start) / tempo_ratio

    first = bisect.bisect_left([n.onset for n in midi.notes], start - 1e-6)
    notes = []
    for note in midi.notes[first:]:
        if note.onset >= end - 1e-6:
            break
        notes.append(Note(note.channel, note.key, note.velocity, local(note.onset), local(note.offset)))
    controls = [Control(c.channel, c.control, c.value, local(c.time)) for c in passage_controls(midi, start, end)]
    return passage_events(notes, controls, local(end))[0]


def passage_controls(midi: Midi, start: float, end: float) -> list[Control]:
    """The controller events a passage ``[start, end)`` of ``midi`` plays: the value each controller
    had before ``start`` (timed at ``start``, by channel and controller), then those inside it."""
    state: dict[tuple[int, int], int] = {}
    for c in midi.controls:
        if c.time >= start:
            break
        state[(c.channel, c.control)] = c.value
    carried = [Control(channel, control, value, start) for (channel, control), value in sorted(state.items())]
    return carried + [c for c in midi.controls if start <= c.time < end]


def passage_events(notes: list[Note], controls: list[Control], end: float) -> tuple[list[PassageEvent], list[tuple[int, int]]]:
    """``notes`` and ``controls``, timed in seconds from the passage's start, as events on the tick
    grid in playing order, and each note's (note-on, note-off) ticks: a note is cut at ``end`` and
    lasts a tick at least. A key sounds once at a time on its channel (a note-off releases every
    voice of it in the synthesiser): a note that would begin within the tick a note of its key
    still lasts (after a unison's shorter note, which the timeline leaves no length) begins as that
    one ends. At one tick, note-offs come first, then controllers (in their given order where they
    tie), then note-ons."""

    def tick(seconds: float) -> int:
        return round(seconds * TICKS_PER_SECOND)

    # The stable sort below keeps controllers of one channel and number in their given order.
    events = [PassageEvent(tick(c.time), "control_change", c.channel, c.control, c.value) for c in controls]
    ticks = [(0, 0)] * len(notes)
    ends: dict[tuple[int, int], int] = {}  # (channel, key) -> the note-off of its latest note
    for i in sorted(range(len(notes)), key=lambda i: (tick(notes[i].onset), notes[i].offset)):
        note = notes[i]
        on = tick(note.onset)
        if 0 < ends.get((note.channel, note.key), on) - on <= 1:
            on += 1
        off = max(on + 1, tick(min(note.offset, end)))
        ends[(note.channel, note.key)] = off
        ticks[i] = (on, off)
        events.append(PassageEvent(on, "note_on", note.channel, note.key, note.velocity))
        events.append(PassageEvent(off, "note_off", note.channel, note.key, 0))
    order = {"note_off": 0, "control_change": 1, "note_on": 2}
    events.sort(key=lambda e: (e.tick, order[e.kind], e.channel, e.a))
    return events, ticks


_STATUS = {"note_off": 0x80, "note_on": 0x90, "control_change": 0xB0}


def write_passage(events: list[PassageEvent]) -> bytes:
    """A type-0 MIDI file of passage events on the fixed 120 bpm, 960 ppq grid."""
    track = bytearray(b"\x00\xff\x51\x03" + PASSAGE_TEMPO.to_bytes(3, "big"))
    last, running = 0, None
    for e in events:
        status = _STATUS[e.kind] | e.channel
        track += _vlq(e.tick - last) + (bytes((e.a, e.b)) if status == running else bytes((status, e.a, e.b)))
        last, running = e.tick, status  # running status: a repeated status byte is left out
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + (6).to_bytes(4, "big") + (0).to_bytes(2, "big") + (1).to_bytes(2, "big") + PASSAGE_PPQ.to_bytes(2, "big")
    return header + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track)


def _vlq(value: int) -> bytes:
    """MIDI variable-length quantity: 7 bits a byte, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))

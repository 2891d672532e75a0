"""SoundFont 2 files written from samples: one preset playing one instrument of key and velocity zones.

The layout is the SoundFont 2.04 specification's: a RIFF ``sfbk`` with an ``INFO`` list, the 16-bit
samples in ``sdta``, and the preset, instrument and sample headers in ``pdta``. The bytes depend on
the arguments alone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from .sf3 import _SHDR, PADDING, _chunk, _list

# generator operators (SoundFont 2.04, section 8.1.2)
DECAY_VOL_ENV, SUSTAIN_VOL_ENV, RELEASE_VOL_ENV = 36, 37, 38
INSTRUMENT, KEY_RANGE, VEL_RANGE, SAMPLE_ID, SAMPLE_MODES = 41, 43, 44, 53, 54
MONO_SAMPLE = 1  # sample type
_PHDR = struct.Struct("<20sHHHIII")


@dataclass(frozen=True)
class Zone:
    """One sample and the keys and velocities that play it.

    ``frames``: mono int16 samples, shape (n,); ``root``: the MIDI key at which they sound at their
    own pitch, ``cents`` above it; ``keys``, ``velocities``: inclusive (low, high) ranges, 0-127;
    ``loop``: the frames [start, end) it repeats once it has played up to ``end``; ``None``: no loop.
    """

    name: str
    frames: np.ndarray
    sample_rate: int
    root: int
    keys: tuple[int, int]
    velocities: tuple[int, int] = (0, 127)
    cents: int = 0
    loop: tuple[int, int] | None = None


def write_sf2(name: str, zones: list[Zone], release_s: float, info: dict[str, str], decay_s: float | None = None) -> bytes:
    """An sf2 file whose preset 0:0, ``name``, plays ``zones`` with a volume release of
    ``release_s`` seconds after the key is let go. An unlooped note lasts as long as its sample
    at most; ``decay_s``: seconds in which a held note fades by 100 dB (``None``: it does not).

    ``info``: further ``INFO`` sub-chunks by id, such as ``ICOP`` (copyright) and ``ICMT`` (comment).
    """
    pcm, headers, at = [], [], 0
    for zone in zones:
        frames = np.asarray(zone.frames, "<i2")
        end = at + len(frames)
        loop = (at + zone.loop[0], at + zone.loop[1]) if zone.loop else (at, end)
        headers.append(_SHDR.pack(_name(zone.name), at, end, *loop, zone.sample_rate, zone.root, zone.cents, 0, MONO_SAMPLE))
        pcm += [frames, np.zeros(PADDING, "<i2")]
        at = end + PADDING
    headers.append(_SHDR.pack(_name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0))

    gens = [(RELEASE_VOL_ENV, _timecents(release_s))]  # the global zone
    if decay_s is not None:
        gens = [(DECAY_VOL_ENV, _timecents(decay_s)), (SUSTAIN_VOL_ENV, 1000), *gens]  # sustain: 100 dB down
    bags = [(0, 0)]
    for index, zone in enumerate(zones):
        bags.append((len(gens), 0))
        gens += [
            (KEY_RANGE, zone.keys[0] | zone.keys[1] << 8),
            (VEL_RANGE, zone.velocities[0] | zone.velocities[1] << 8),
            (SAMPLE_MODES, 1 if zone.loop else 0),
            (SAMPLE_ID, index),
        ]
    bags.append((len(gens), 0))
    gens.append((0, 0))

    pdta = b"".join(
        [
            _chunk("phdr", _PHDR.pack(_name(name), 0, 0, 0, 0, 0, 0) + _PHDR.pack(_name("EOP"), 0, 0, 1, 0, 0, 0)),
            _chunk("pbag", struct.pack("<HHHH", 0, 0, 1, 0)),
            _chunk("pmod", bytes(10)),
            _chunk("pgen", struct.pack("<Hh", INSTRUMENT, 0) + bytes(4)),
            _chunk("inst", struct.pack("<20sH", _name(name), 0) + struct.pack("<20sH", _name("EOI"), len(bags) - 1)),
            _chunk("ibag", b"".join(struct.pack("<HH", *bag) for bag in bags)),
            _chunk("imod", bytes(10)),
            _chunk("igen", b"".join(struct.pack("<HH", op, amount & 0xFFFF) for op, amount in gens)),
            _chunk("shdr", b"".join(headers)),
        ]
    )
    strings = {"isng": "EMU8000", "INAM": name, **info}
    body = b"".join(_chunk(cid, _zstr(text)) for cid, text in strings.items())
    body = b"sfbk" + _list("INFO", _chunk("ifil", struct.pack("<HH", 2, 4)) + body)
    body += _list("sdta", _chunk("smpl", np.concatenate(pcm).tobytes())) + _list("pdta", pdta)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _timecents(seconds: float) -> int:
    return round(1200 * np.log2(seconds))


def _name(text: str) -> bytes:
    """A 20-byte, zero-padded name field."""
    return text.encode("ascii")[:19].ljust(20, b"\0")


def _zstr(text: str) -> bytes:
    """A zero-terminated ``INFO`` string padded to an even length."""
    data = text.encode("ascii") + b"\0"
    return data + b"\0" * (len(data) % 2)

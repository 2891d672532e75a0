"""Gravis UltraSound patches (``.pat``, as TiMidity++ plays them, e.g. Debian's ``freepats``) as an sf2.

A patch (``GF1PATCH110``) holds one instrument of one layer: samples with the frequency range
they play, their root frequency (in mHz), a loop (in bytes) and 8- or 16-bit data. Each becomes a
zone of the keys whose equal-tempered frequencies lie in its range, looped as in the patch. The
patch's own envelope (TiMidity: full level while the key is held, the loop sustaining) is
replaced by a decay of 5 dB per second while held, as a piano string dies away.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from pathlib import Path

import numpy as np

from ..config import ConfigError
from .sf2_write import Zone, write_sf2

_HEADER, _INSTRUMENT, _LAYER = 129, 63, 47  # bytes
_SAMPLE = struct.Struct("<7sBIIIHIIIHB")  # name .. balance, the first 37 of 96 bytes
_SAMPLE_SIZE, _MODES = 96, 55  # bytes; offset of the modes byte in a sample header
SIXTEEN_BITS, UNSIGNED, LOOPED = 0x01, 0x02, 0x04
DECAY_S = 20.0  # a held note fades by 100 dB in this time
RELEASE_S = 0.3


def _key(millihertz: int) -> float:
    return 12 * math.log2(millihertz / 440_000) + 69


def patch_zones(path: Path) -> list[Zone]:
    """The zones of the samples of a GUS patch file."""
    data = Path(path).read_bytes()
    if not data.startswith((b"GF1PATCH110\0", b"GF1PATCH100\0")):
        raise ConfigError(f"{path}: not a Gravis UltraSound patch (GF1PATCH110)")
    at = _HEADER + _INSTRUMENT
    count = data[at + 6]
    at += _LAYER
    zones = []
    for _ in range(count):
        name, _fractions, size, loop_start, loop_end, rate, low, high, root, _tune, _balance = _SAMPLE.unpack_from(data, at)
        modes = data[at + _MODES]
        raw = data[at + _SAMPLE_SIZE : at + _SAMPLE_SIZE + size]
        at += _SAMPLE_SIZE + size
        if modes & SIXTEEN_BITS:
            frames = np.frombuffer(raw, "<u2" if modes & UNSIGNED else "<i2").astype(np.int32)
            frames = frames - 32768 if modes & UNSIGNED else frames
            width = 2
        else:
            frames = np.frombuffer(raw, "u1" if modes & UNSIGNED else "i1").astype(np.int32)
            frames = (frames - 128 if modes & UNSIGNED else frames) * 256
            width = 1
        pitch = _key(root)
        zones.append(
            Zone(
                name.split(b"\0")[0].decode("latin-1"),
                frames.astype(np.int16),
                rate,
                round(pitch),
                (max(0, math.ceil(_key(low) - 1e-3)), min(127, math.ceil(_key(high) - 1e-3) - 1)),
                cents=round((round(pitch) - pitch) * 100),  # the correction that brings it to its key
                loop=(loop_start // width, loop_end // width) if modes & LOOPED else None,
            )
        )
    zones.sort(key=lambda z: z.keys)
    zones[-1] = dataclasses.replace(zones[-1], keys=(zones[-1].keys[0], 127))
    return zones


def patch_sf2(path: Path, name: str, licence: str) -> bytes:
    """The sf2 of a GUS patch file: preset 0:0, ``name``."""
    info = {"ICOP": licence, "ICMT": f"Made by pdmx_fusa.audio.gus_patch from {Path(path).name}"}
    return write_sf2(name, patch_zones(path), RELEASE_S, info, decay_s=DECAY_S)

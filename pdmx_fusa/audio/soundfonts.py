"""The soundfont list (``soundfonts.txt``): which pianos render the audio, and for which split.

A soundfont is a file a Debian package installs (``package`` names it, ``file`` is an absolute
path), or one made once per user and machine (``file`` is a name in :func:`made_folder`) by the
recipe of that name in
:mod:`~pdmx_fusa.audio.recipes`, from the files of a Debian package or of an npm package
(``package`` is ``npm:NAME@VERSION``). The optional ``licence=`` field after the six names the
soundfont's licence.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from ..files import write_atomic
from .sf3 import default_cache

ROLES = ("train", "test")
NPM = "npm:"  # the prefix of a package field naming an npm package


def made_folder() -> Path:
    """Where made soundfonts are installed: ``$XDG_DATA_HOME/pdmx-fusa/soundfonts``
    (``~/.local/share`` by default; installed data, unlike the caches, which may be emptied)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "pdmx-fusa" / "soundfonts"


@dataclass(frozen=True)
class Soundfont:
    name: str
    package: str  # the Debian package that installs ``path``
    path: str
    bank: int
    preset: int
    sha256: str
    role: str  # "train" or "test"
    licence: str = "not stated"


def read_soundfonts(path: str | Path) -> list[Soundfont]:
    """Parse a soundfont list; malformed lines are errors naming the file and line."""
    fonts = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such soundfont list") from None
    for number, line in enumerate(lines, 1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{path}:{number}"
        attributes = dict(field.split("=", 1) for field in fields[6:] if "=" in field)
        if len(fields) - len(attributes) != 6 or not attributes.keys() <= {"licence"}:
            raise ConfigError(f"{where}: expected 6 fields (name package file bank:preset sha256 role) and licence=...")
        name, package, file, program, sha256, role = fields[:6]
        bank, _, preset = program.partition(":")
        if not (bank.isdigit() and preset.isdigit()):
            raise ConfigError(f"{where}: bank:preset must be two integers, got {program!r}")
        if role not in ROLES:
            raise ConfigError(f"{where}: role must be one of {ROLES}, got {role!r}")
        if package.startswith(NPM) and Path(file).is_absolute():
            raise ConfigError(f"{where}: a soundfont made from an npm package is a file name (in {made_folder()}), not {file!r}")
        if not Path(file).is_absolute():
            file = str(made_folder() / file)
        licence = attributes.get("licence", "not stated")
        fonts.append(Soundfont(name, package, file, int(bank), int(preset), sha256.lower(), role, licence))
    names = [f.name for f in fonts]
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: soundfont names must be unique")
    for role in ROLES:
        if not any(f.role == role for f in fonts):
            raise ConfigError(f"{path}: no soundfont has role {role!r}")
    return fonts


def verify_soundfonts(fonts: list[Soundfont], memo: Path | None = None) -> None:
    """Check that every file exists and has its listed sha256.

    A file is hashed once, and not again while its device, inode, size and modification time are
    those recorded beside its digest in ``memo`` (a JSON file; by default in the machine's cache
    of decoded soundfonts), as ``make`` and ``git`` trust a file's status.
    """
    memo = memo or default_cache() / "sha256.json"
    try:
        known = json.loads(memo.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    digests: dict[str, str] = {}
    for font in fonts:
        if font.path not in digests:
            file = Path(font.path)
            try:
                status = file.stat()
            except OSError:
                status = None
            if status is None or not stat.S_ISREG(status.st_mode):
                raise ConfigError(f"soundfont {font.name}: {font.path} is missing ({_installer(font)})")
            identity = [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns]
            if known.get(font.path, [None])[:-1] != identity:
                with file.open("rb") as stream:
                    known[font.path] = [*identity, hashlib.file_digest(stream, "sha256").hexdigest()]
            digests[font.path] = known[font.path][-1]
        if digests[font.path] != font.sha256:
            raise ConfigError(
                f"soundfont {font.name}: {font.path} has sha256 {digests[font.path]}, soundfonts.txt says {font.sha256}"
            )
    try:
        write_atomic(memo, json.dumps(known, sort_keys=True).encode())
    except OSError:  # a read-only cache only costs the hashing next time
        pass


def _installer(font: Soundfont) -> str:
    """The command that installs ``font``."""
    if Path(font.path).parent == made_folder():
        return "make it with: pdmx-fusa soundfonts --install, or make soundfonts"
    return f"apt-get install {font.package}"

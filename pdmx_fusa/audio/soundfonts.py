"""The soundfont list (``soundfonts.txt``): which pianos render the audio, and for which split."""

from __future__ import annotations

import hashlib
import json
import stat
from dataclasses import dataclass
from pathlib import Path

from ..config import ConfigError
from ..files import write_atomic
from .sf3 import default_cache

ROLES = ("train", "test")


@dataclass(frozen=True)
class Soundfont:
    name: str
    package: str  # the Debian package that installs ``path``
    path: str
    bank: int
    preset: int
    sha256: str
    role: str  # "train" or "test"


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
        if len(fields) != 6:
            raise ConfigError(f"{where}: expected 6 fields (name package file bank:preset sha256 role)")
        name, package, file, program, sha256, role = fields
        bank, _, preset = program.partition(":")
        if not (bank.isdigit() and preset.isdigit()):
            raise ConfigError(f"{where}: bank:preset must be two integers, got {program!r}")
        if role not in ROLES:
            raise ConfigError(f"{where}: role must be one of {ROLES}, got {role!r}")
        fonts.append(Soundfont(name, package, file, int(bank), int(preset), sha256.lower(), role))
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
                raise ConfigError(f"soundfont {font.name}: {font.path} is missing (apt-get install {font.package})")
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

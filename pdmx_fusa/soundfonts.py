"""The soundfont list (``soundfonts.txt``): which pianos render the audio, and for which split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError

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


def verify_soundfonts(fonts: list[Soundfont]) -> None:
    """Check that every file exists and has its listed sha256 (each file hashed once)."""
    digests: dict[str, str] = {}
    for font in fonts:
        if font.path not in digests:
            file = Path(font.path)
            if not file.is_file():
                raise ConfigError(f"soundfont {font.name}: {font.path} is missing (apt-get install {font.package})")
            with file.open("rb") as stream:
                digests[font.path] = hashlib.file_digest(stream, "sha256").hexdigest()
        if digests[font.path] != font.sha256:
            raise ConfigError(
                f"soundfont {font.name}: {font.path} has sha256 {digests[font.path]}, soundfonts.txt says {font.sha256}"
            )

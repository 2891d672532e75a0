"""``SHA256SUMS`` of a dataset folder, in ``sha256sum -c`` format: written by the build, updated
in place when a command rewrites some of the folder's files (``pdmx-fusa stats``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHECKSUMS = "SHA256SUMS"


def sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def write_checksums(root: Path, files: list[Path]) -> None:
    """``root/SHA256SUMS`` listing ``files`` (inside ``root``), in path order."""
    names = sorted(path.relative_to(root).as_posix() for path in files)
    (root / CHECKSUMS).write_text("".join(f"{sha256(root / name)}  {name}\n" for name in names), encoding="utf-8")


def update_checksums(root: Path, files: list[Path]) -> None:
    """Add or refresh the lines of ``files`` in ``root/SHA256SUMS``, keeping the others (a listed
    file that no longer exists is dropped)."""
    listed = [root / line.partition("  ")[2] for line in (root / CHECKSUMS).read_text(encoding="utf-8").splitlines() if line]
    write_checksums(root, sorted({p for p in [*listed, *files] if p.is_file()}))

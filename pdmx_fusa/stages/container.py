"""The container check run before Verovio sees a file: what it holds, not what it is named.

Verovio crashes or misreads some inputs instead of refusing them, and reads zips and XML itself.
This check refuses first, each with a specific reason: entries that are not regular files (links,
never followed; FIFOs, sockets and devices, never opened; folders) or whose path is not UTF-8;
files that are empty or huge;
zip bombs (by the central directory and again while unpacking, under a byte budget), unsafe or
duplicate member names, encrypted members, archives without a rootfile; XML that declares or uses
entities (nothing is expanded, no external DTD or entity is read), is not well-formed, is in an
encoding it cannot read (unknown, or multi-byte other than UTF-8 and UTF-16), or whose root is
not a score; binary data named like a score; text without a ``**kern`` spine.
"""

from __future__ import annotations

import codecs
import errno
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.parsers import expat

from ..files import is_utf8
from . import Rejected

_MAX_BYTES = 64 * 2**20  # a score file; all members of an .mxl together, unpacked
_MAX_RATIO = 200  # unpacked : packed, for an .mxl member of more than _RATIO_FLOOR bytes unpacked
_RATIO_FLOOR = 2**20
_MAX_MEMBERS = 1000  # in an .mxl
_MAX_DIRECTORY = 2**20  # bytes of an .mxl's central directory
_CHUNK = 2**20
_SCORE_SUFFIXES = (".mxl", ".musicxml", ".xml", ".mei", ".krn")
_SCORE_ROOTS = ("score-partwise", "score-timewise", "mei", "music", "pages")  # those Verovio recognises
_NOT_SCORES = (
    (b"\x89PNG", "PNG image data"),
    (b"\xff\xd8\xff", "JPEG image data"),
    (b"GIF8", "GIF image data"),
    (b"%PDF", "a PDF document"),
    (b"MThd", "a MIDI file"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "an ELF executable"),
    (b"RIFF", "RIFF data (WAV or AVI)"),
    (b"OggS", "Ogg audio"),
    (b"fLaC", "FLAC audio"),
    (b"ID3", "MP3 audio"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 document (old MS Office?)"),
)
_KERN_SPINE = re.compile(rb"^(?:\*\*[^\t\r\n]*\t)*\*\*kern(?:\t|\r?$)", re.M)
_TEXT_BYTES = bytes(range(32, 256)) + b"\t\n\r\f\v"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, RuntimeError, UnicodeDecodeError,
               struct.error, zlib.error)
_NOT_REGULAR = (  # what an entry is, by lstat (a link) or fstat (anything else)
    (stat.S_ISLNK, "symbolic link: not followed"),
    (stat.S_ISFIFO, "a FIFO, not a regular file"),
    (stat.S_ISSOCK, "a socket, not a regular file"),
    (stat.S_ISCHR, "a character device, not a regular file"),
    (stat.S_ISBLK, "a block device, not a regular file"),
)
_NOT_UTF8_NAME = "name is not valid UTF-8"
_NOT_UTF8_FOLDER = "name of a folder on its path is not valid UTF-8"


def check_container(path: Path) -> None:
    """Refuse, before Verovio reads it, what it would crash on, misread or be swamped by.

    The content decides, not the extension (Verovio too goes by content): a zip is checked as an
    .mxl, XML as MusicXML or MEI, known binary formats are named, other text must be Humdrum with a
    ``**kern`` spine. No DTD or entity is read or expanded, nothing is unpacked to disk, and no more
    than ``_MAX_BYTES`` are read or unpacked, so memory stays bounded whatever the file claims.
    Only a regular file is opened (see :func:`_open_regular`): a link is never followed, a FIFO or
    a device never opened, a path that is not UTF-8 never looked up as such.
    """
    scoreish = path.suffix.lower() in _SCORE_SUFFIXES
    try:
        with _open_regular(path) as stream:
            info = os.fstat(stream.fileno())
            if info.st_size == 0:
                raise Rejected("empty file")
            if info.st_size > _MAX_BYTES:
                raise Rejected(f"too large: {_mib(info.st_size)} (limit {_mib(_MAX_BYTES)})")
            head = stream.read(4096)
            stream.seek(0)
            if not head:
                raise Rejected("empty file")
            if head.startswith(b"PK"):
                _check_zip(stream)
            elif kind := next((kind for magic, kind in _NOT_SCORES if head.startswith(magic)), None):
                raise Rejected(f"not a score: looks like {kind}")
            elif _looks_like_xml(head):
                root = _check_xml(_read(stream, _MAX_BYTES))
                if scoreish:
                    _check_score_root(root)
            else:
                _check_text(b"".join(_read(stream, _MAX_BYTES)), humdrum=scoreish)
    except OSError as err:
        raise Rejected(f"unreadable: {err.strerror or err}") from None


def _open_regular(path: Path):
    """``path`` opened for reading in binary, if it is a regular file; otherwise refused by what it is.

    ``lstat`` says what the entry is without following a link; only a regular file is opened, with
    ``O_NOFOLLOW | O_NONBLOCK``, and ``fstat`` of the descriptor says again what was opened: an
    entry replaced by a link since the look is not followed, one replaced by a FIFO or a device is
    not waited on, and what is read is what was checked. A path with bytes that are not UTF-8
    (surrogate escapes) is refused without being looked up.
    """
    if not is_utf8(str(path)):
        raise Rejected(_NOT_UTF8_NAME if not is_utf8(path.name) else _NOT_UTF8_FOLDER)
    _refuse_not_regular(os.lstat(path), path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:  # replaced since the look
        if err.errno == errno.ELOOP:  # by a link, which O_NOFOLLOW refused
            raise Rejected(_NOT_REGULAR[0][1]) from None
        _refuse_not_regular(os.lstat(path), path)
        raise
    try:
        _refuse_not_regular(os.fstat(fd), path)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _refuse_not_regular(info: os.stat_result, path: Path) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    if stat.S_ISDIR(info.st_mode):
        raise Rejected("a folder named like a score" if path.suffix.lower() in _SCORE_SUFFIXES else "a folder, not a file")
    raise Rejected(next((reason for kind, reason in _NOT_REGULAR if kind(info.st_mode)), "not a regular file"))


def _mib(size: int) -> str:
    return f"{size / 2**20:.0f} MiB"


def _read(stream, limit: int) -> Iterator[bytes]:
    """``stream`` in chunks, refusing to go past ``limit`` bytes (a file may grow after its stat)."""
    left = limit
    while chunk := stream.read(_CHUNK):
        left -= len(chunk)
        if left < 0:
            raise Rejected(f"too large: more than {_mib(limit)}")
        yield chunk


def _looks_like_xml(head: bytes) -> bool:
    return head.startswith(_UTF16_BOMS) or head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith((b"<", b"\0<"))


def _check_text(data: bytes, humdrum: bool) -> None:
    """Text, not binary; Humdrum with a ``**kern`` spine if the file is named like a score; UTF-8
    (Verovio passes other bytes through to text that cannot be encoded again)."""
    controls = len(data.translate(None, _TEXT_BYTES))
    if b"\0" in data or controls > len(data) // 100:
        raise Rejected("not a score: binary data (NUL or control bytes)")
    if humdrum and not _KERN_SPINE.search(data):
        raise Rejected("not a score: text without a **kern spine (not Humdrum, MusicXML or MEI)")
    if (bad := _first_non_utf8(data)) >= 0:
        line = data.count(b"\n", 0, bad) + 1
        raise Rejected(f"not UTF-8: byte 0x{data[bad]:02x} on line {line} (Latin-1 text? Verovio reads UTF-8 only)")


def _first_non_utf8(data: bytes) -> int:
    """Where ``data`` stops being UTF-8, or -1; a slice at a time (the whole as str could be 4x the bytes)."""
    start = 0
    while start < len(data):
        end = min(start + _CHUNK, len(data))
        for _ in range(3):  # not inside a character
            if end < len(data) and 0x80 <= data[end] < 0xC0:
                end -= 1
        try:
            data[start:end].decode("utf-8")
        except UnicodeDecodeError as err:
            return start + err.start
        start = end
    return -1


def _check_score_root(root: str, where: str = "") -> None:
    if root.rpartition(":")[2] not in _SCORE_ROOTS:
        raise Rejected(f"not a score{where}: XML with root element <{root}> (expected score-partwise, score-timewise or mei)")


def _check_xml(chunks: Iterable[bytes], where: str = "", on_element=None) -> str:
    """Parse XML with expat, reading no DTD and expanding no entity; returns the root element's name.

    Every entity declaration is refused (billion laughs, external entities), and so is a reference
    to an entity left undeclared because the external DTD that might declare it is never read.
    ``on_element(name, attributes)``, if given, sees every start tag; otherwise only the root is seen.
    """
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[str] = []
    declared: list[str | None] = []

    def entity(name, is_parameter, *_):
        sigil = "%" if is_parameter else "&"
        raise Rejected(f"XML{where} declares an entity ({sigil}{name};): entities are refused, never expanded")

    def external(context, base, system_id, public_id):
        raise Rejected(f"XML{where} refers to an external entity ({system_id}): never read")

    def undeclared(name, is_parameter):
        raise Rejected(f"XML{where} uses an undeclared entity (&{name};): external DTDs are never read")

    def declaration(version, encoding, standalone):
        declared.append(encoding)  # any that the parser reads: parse hands Verovio the text as UTF-8

    def start(name, attributes):
        if not root:
            root.append(name)
            if on_element is None:
                parser.StartElementHandler = None
        if on_element is not None:
            on_element(name, attributes)

    parser.EntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    parser.SkippedEntityHandler = undeclared
    parser.XmlDeclHandler = declaration
    parser.StartElementHandler = start
    previous, fed, utf16 = b"", 0, False

    def feed(data: bytes, final: bool) -> None:
        try:
            parser.Parse(data, final)
        except expat.ExpatError as err:
            encoding = declared[0] if declared and declared[0] else ("UTF-16" if utf16 else "UTF-8")
            at = parser.ErrorByteIndex - (fed - len(previous))
            raise Rejected(_xml_error(err, (previous + data)[at : at + 4] if at >= 0 else b"", encoding, where)) from None
        except Rejected:
            raise
        except (LookupError, ValueError):  # an encoding expat cannot read: unknown, or multi-byte
            raise Rejected(f"XML{where} in an encoding that cannot be read: {declared[0] if declared else '?'} "
                           "(unknown, or multi-byte other than UTF-8 and UTF-16; save it as UTF-8)") from None

    for chunk in chunks:
        utf16 = utf16 or (not fed and chunk.startswith(_UTF16_BOMS))
        feed(chunk, False)
        previous, fed = chunk, fed + len(chunk)
    feed(b"", True)
    if not root:
        raise Rejected(f"not well-formed XML{where}: no element")
    return root[0]


def _xml_error(err: expat.ExpatError, at: bytes, encoding: str, where: str) -> str:
    """The parser's complaint, or, for bytes that are not UTF-8 where UTF-8 is declared or implied,
    which byte and where."""
    invalid_token = err.code == expat.errors.codes[expat.errors.XML_ERROR_INVALID_TOKEN]
    if invalid_token and encoding.lower() in ("utf-8", "utf8") and at[:1] >= b"\x80":
        try:
            codecs.getincrementaldecoder("utf-8")().decode(at)
        except UnicodeDecodeError:
            return (
                f"not well-formed XML{where}: byte 0x{at[0]:02x} at line {err.lineno}, column {err.offset} "
                "is not UTF-8 (Latin-1 text under a UTF-8 declaration?)"
            )
    return f"not well-formed XML{where}: {err}"


def _check_zip(stream) -> None:
    """An .mxl: the directory sized, every member's name and size checked before anything is
    unpacked; then every member unpacked in memory under a byte budget (its CRC checked), the
    container read for the rootfile, and the rootfile checked as score XML. Verovio reads the zip
    itself, in memory, so an archive with an unsafe name is refused rather than repaired."""
    _check_zip_directory(stream)
    try:
        with zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
            _check_members(members)
            rootfile = _rootfile(archive)
            budget = [_MAX_BYTES]
            for info in members:
                chunks = _unpack(archive, info, budget)
                if info.filename == rootfile:
                    _check_score_root(_check_xml(chunks, f" in {rootfile}"), f" in {rootfile}")
                else:
                    for _ in chunks:
                        pass
    except _ZIP_ERRORS as err:
        raise Rejected(f"corrupt or unreadable .mxl (zip) archive: {err}") from None


def _check_zip_directory(stream) -> None:
    """Count the members and size the central directory from the end records, before ``zipfile``
    reads the directory (one of millions of members would fill memory with their entries)."""
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - (22 + 0xFFFF + 20 + 56)))
    tail = stream.read()
    stream.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise Rejected("corrupt or unreadable .mxl (zip) archive: no end of central directory (truncated?)")
    members, directory = struct.unpack_from("<4s4H2LH", tail, at)[4:6]
    zip64 = at >= 76 and tail[at - 20 : at - 16] == b"PK\x06\x07" and tail[at - 76 : at - 72] == b"PK\x06\x06"
    if zip64 and (members == 0xFFFF or directory == 0xFFFFFFFF):
        members, directory = struct.unpack_from("<4sQ2H2L4Q", tail, at - 76)[7:9]  # ZIP64
    if members > _MAX_MEMBERS:
        raise Rejected(f"too many members in the .mxl (zip) archive: {members} (limit {_MAX_MEMBERS})")
    if directory > _MAX_DIRECTORY:
        raise Rejected(f"central directory of the .mxl (zip) archive too large: {directory} bytes (limit {_MAX_DIRECTORY})")


def _unsafe_name(name: str) -> bool:
    """Absolute, with a drive, or with a ``..`` part: a name that would write outside the folder it is unpacked to."""
    return name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name) is not None or ".." in re.split(r"[/\\]", name)


def _check_members(members: list[zipfile.ZipInfo]) -> None:
    total = sum(info.file_size for info in members)
    if total > _MAX_BYTES:
        raise Rejected(f"zip bomb: members would unpack to {_mib(total)} (limit {_mib(_MAX_BYTES)})")
    names = set()
    for info in members:
        name = info.filename
        if _unsafe_name(name):
            raise Rejected(f"unsafe member name in the .mxl (zip) archive: {name!r} (absolute or with '..')")
        if name in names:
            raise Rejected(f"member {name!r} twice in the .mxl (zip) archive")
        names.add(name)
        if info.flag_bits & 0x1:
            raise Rejected(f"encrypted member {name!r} in the .mxl (zip) archive")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Rejected(f"member {name!r} packed with zip method {info.compress_type} (Verovio reads stored and deflate only)")
        if info.file_size > _RATIO_FLOOR and info.file_size > _MAX_RATIO * info.compress_size:
            ratio = info.file_size / max(info.compress_size, 1)
            raise Rejected(f"zip bomb: member {name!r} would unpack {ratio:.0f}:1 (limit {_MAX_RATIO}:1)")


def _rootfile(archive: zipfile.ZipFile) -> str:
    """The score member, as the first rootfile of META-INF/container.xml names it (Verovio reads no
    .mxl without one)."""
    try:
        container = archive.getinfo("META-INF/container.xml")
    except KeyError:
        raise Rejected("no META-INF/container.xml in the .mxl (zip) archive, so no rootfile") from None
    named: list[str] = []

    def element(name, attributes):
        if name.rpartition(":")[2] == "rootfile" and not named:
            named.append(attributes.get("full-path", ""))

    _check_xml(_unpack(archive, container, [_CHUNK]), " in META-INF/container.xml", element)
    if not named or not named[0]:
        raise Rejected("META-INF/container.xml names no rootfile")
    if _unsafe_name(named[0]):
        raise Rejected(f"unsafe rootfile name in META-INF/container.xml: {named[0]!r} (absolute or with '..')")
    if named[0] not in archive.namelist():
        raise Rejected(f"rootfile {named[0]!r} named in META-INF/container.xml is not in the archive")
    return named[0]


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> Iterator[bytes]:
    """A member's bytes in chunks, in memory, taken from ``budget[0]``: a member unpacking to more
    than its header says (or than the budget left) stops there."""
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise Rejected(f"zip bomb: {info.filename!r} unpacks to more than the limit (sizes in the archive are false)")
            yield chunk

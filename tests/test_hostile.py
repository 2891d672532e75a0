"""Hostile and odd input: a corpus generated here (zip bombs, path traversal, entity expansion and
external entities, wrong encodings, wrong extensions, binary garbage, empty and oversized files,
symbolic links, a FIFO, a socket, a device, a folder named like a score, a name that is not UTF-8)
built beside real scores. The build ends normally, the real scores are built, every entry named
like a score is built or a failure row with its specific reason, nothing outside the source root
is read (no link is followed, no FIFO opened), and each score's process stays small.

Decisions the corpus documents: the content decides, not the extension (Verovio too goes by
content), so a Humdrum file named ``.xml``, MusicXML named ``.mxl`` and an ``.mxl`` named ``.xml``
are loaded and built; only text that is neither XML nor Humdrum, or a known binary format, is
refused as "not a score". XML may be in any encoding it declares that a single-byte codec or
UTF-16 reads (parse hands it to Verovio as UTF-8); undeclared Latin-1 bytes, in XML or Humdrum, are
refused with the offending byte named.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest

from conftest import CORPORA, REPO, build
from pdmx_fusa import cli
from pdmx_fusa.files import printable
from pdmx_fusa.config import ParseConfig, SourceConfig
from pdmx_fusa.records import ScoreRef
from pdmx_fusa.sources import list_scores
from pdmx_fusa.sources.embedded import corpus_dir
from pdmx_fusa.stages import Rejected
from pdmx_fusa.stages.container import _unpack, check_container
from pdmx_fusa.stages.parse import parse
from pdmx_fusa.stages.timeline_view import performed_score

FOLDER_PIPELINE = REPO / "pipelines" / "folder.toml"
MARKER = "OUTSIDE-THE-ROOT-c0ffee"  # in every file outside the root; must never reach the output
PEAK_RSS_LIMIT_MB = 1500
BUILT = "built"
LINK = r"^symbolic link: not followed$"
FIFO = r"^a FIFO, not a regular file$"
FOLDER = r"^a folder named like a score$"
NOT_UTF8 = r"^name is not valid UTF-8$"

# --- the corpus -------------------------------------------------------------------------------------

NOTES = "".join(
    f"<note><pitch><step>{step}</step><octave>4</octave></pitch><duration>1</duration><type>quarter</type></note>"
    for step in "CDEF"
)
ATTRIBUTES = (
    "<attributes><divisions>1</divisions><key><fifths>0</fifths></key>"
    "<time><beats>4</beats><beat-type>4</beat-type></time><clef><sign>G</sign><line>2</line></clef></attributes>"
)


def musicxml(title: str = "Tiny", encoding: str = "UTF-8", doctype: str = "", body_extra: str = "") -> str:
    """A four-measure piano score: small enough to build in a second."""
    measures = "".join(f'<measure number="{n}">{ATTRIBUTES if n == 1 else ""}{NOTES}</measure>' for n in range(1, 5))
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        + (doctype or '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
           '"http://www.musicxml.org/dtds/partwise.dtd">')
        + f'\n<score-partwise version="4.0">\n  <work><work-title>{title}</work-title></work>{body_extra}\n'
        '  <part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list>\n'
        f'  <part id="P1">{measures}</part>\n</score-partwise>\n'
    )


def container(rootfile: str = "score.musicxml") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<container><rootfiles>'
        f'<rootfile full-path="{rootfile}" media-type="application/vnd.recordare.musicxml+xml"/></rootfiles></container>\n'
    )


def write_mxl(path: Path, members: list[tuple[str, str | bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)


def raw_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """A zip written by hand: ``(name, deflated bytes, CRC-32, unpacked size)`` each, the size and
    CRC as given, true or not."""
    local, central = bytearray(), bytearray()
    for name, packed, crc, size in members:
        encoded, offset = name.encode(), len(local)
        sizes = (crc, len(packed), size, len(encoded))  # deflate (8), 1980-01-01 (33)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 33, *sizes, 0) + encoded + packed
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 33, *sizes, 0, 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))


def deflated_zeros(mib: int) -> tuple[bytes, int]:
    """``mib`` MiB of zeros, deflated (about 1 KiB per MiB), and their CRC-32: a segment deflated
    once after a full flush is self-contained, so repeating it is a valid stream, made in no time."""
    segment = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = segment.compress(bytes(2**20)) + segment.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc, zeros = 0, bytes(2**20)
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return segment * mib + final, crc


def billion_laughs() -> str:
    names = ["lol"] + [f"lol{i}" for i in range(1, 10)]
    entities = ['<!ENTITY lol "lol">']
    entities += [f'<!ENTITY {name} "{f"&{previous};" * 10}">' for previous, name in zip(names, names[1:])]
    doctype = "<!DOCTYPE score-partwise [\n  " + "\n  ".join(entities) + "\n]>"
    return musicxml(title="&lol9;", doctype=doctype)


def real_scores() -> list[Path]:
    """The three shortest real Humdrum scores of the development corpus, if it is there."""
    files = sorted((CORPORA / "humdrum-piano").rglob("*.krn"), key=lambda f: (f.stat().st_size, f.name))
    return files[:3] if len(files) >= 3 else []


def kern(measures: int, tempo: int = 0) -> str:
    head = "**kern\t**kern\n*clefF4\t*clefG2\n*M4/4\t*M4/4\n" + (f"*MM{tempo}\t*MM{tempo}\n" if tempo else "")
    body = "".join(f"={n}\t={n}\n4c\t4cc\n4d\t4dd\n4e\t4ee\n4f\t4ff\n" for n in range(1, measures + 1))
    return head + body + "==\t==\n*-\t*-\n"


def make_corpus(base: Path) -> tuple[Path, Path, dict[str, str]]:
    """Write the corpus under ``base/scores`` (the source root) and ``base/outside``; returns both
    and, for every file that must be listed, ``BUILT`` or the regular expression its reason matches."""
    root, outside = base / "scores", base / "outside"
    for folder in (root / "good", root / "renamed", root / "hostile", root / "links", outside):
        folder.mkdir(parents=True)
    secret, dtd = outside / "secret.txt", outside / "evil.dtd"
    secret.write_text(MARKER + "\n", encoding="utf-8")
    dtd.write_text(f'<!ENTITY secret SYSTEM "{secret.as_uri()}">\n<!-- {MARKER} -->\n', encoding="utf-8")
    (outside / "outside_score.krn").write_text(f"!!!OTL: {MARKER}\n" + kern(4), encoding="utf-8")
    (outside / "notes.txt").write_text(MARKER, encoding="utf-8")
    expected: dict[str, str] = {}

    def put(rel: str, data: str | bytes, outcome: str, encoding: str = "utf-8") -> None:
        path = root / rel
        path.write_bytes(data.encode(encoding) if isinstance(data, str) else data)
        expected[rel] = outcome

    # Real scores (made-up ones without the development data), and scores under other extensions:
    # the content decides.
    real = real_scores()
    good = [root / "good" / krn.name for krn in real[:2]] or [root / "good" / "made_up_1.krn", root / "good" / "made_up_2.krn"]
    for n, path in enumerate(good):
        path.write_bytes(real[n].read_bytes() if real else kern(3 + n).encode())
        expected[path.relative_to(root).as_posix()] = BUILT
    put("renamed/krn_as.xml", real[2].read_bytes() if real else kern(2).encode(), BUILT)
    put("renamed/xml_as.mxl", musicxml("XML named mxl"), BUILT)
    write_mxl(root / "renamed/mxl_as.xml", [
        ("META-INF/container.xml", container()), ("score.musicxml", musicxml("mxl named xml"))
    ])
    expected["renamed/mxl_as.xml"] = BUILT
    put("renamed/utf16.musicxml", musicxml("Für Elise, café", encoding="UTF-16"), BUILT, encoding="utf-16")

    # Zip bombs: one honest about its size, one within the size cap but 1000:1, one whose sizes lie.
    meta = container().encode()
    meta = ("META-INF/container.xml", zlib.compress(meta)[2:-4], zlib.crc32(meta), len(meta))
    zeros, crc = deflated_zeros(1024)
    raw_zip(root / "hostile/bomb.mxl", [meta, ("score.musicxml", zeros, crc, 2**30)])
    expected["hostile/bomb.mxl"] = r"^zip bomb: members would unpack to 1024 MiB \(limit 64 MiB\)$"
    zeros48, crc48 = deflated_zeros(48)
    raw_zip(root / "hostile/bomb_ratio.mxl", [meta, ("score.musicxml", zeros48, crc48, 48 * 2**20)])
    expected["hostile/bomb_ratio.mxl"] = r"^zip bomb: member 'score.musicxml' would unpack \d+:1 \(limit 200:1\)$"
    raw_zip(root / "hostile/bomb_lying.mxl", [meta, ("score.musicxml", zeros, crc, 1024)])  # 1 GiB inside
    expected["hostile/bomb_lying.mxl"] = r"^corrupt or unreadable \.mxl \(zip\) archive: Bad CRC-32 for file 'score.musicxml'$"
    write_mxl(root / "hostile/many_members.mxl", [("META-INF/container.xml", container())] + [(f"m{i}", "") for i in range(1000)])
    expected["hostile/many_members.mxl"] = r"^too many members in the \.mxl \(zip\) archive: 1001 \(limit 1000\)$"

    # Zips that name places outside the folder they would be unpacked to, or nothing.
    write_mxl(root / "hostile/traversal.mxl", [("META-INF/container.xml", container("../evil.xml")), ("../evil.xml", musicxml())])
    expected["hostile/traversal.mxl"] = r"^unsafe member name in the \.mxl \(zip\) archive: '\.\./evil\.xml'"
    write_mxl(root / "hostile/absolute.mxl", [
        ("META-INF/container.xml", container("/tmp/evil.xml")), ("/tmp/evil.xml", musicxml())
    ])
    expected["hostile/absolute.mxl"] = r"^unsafe member name in the \.mxl \(zip\) archive: '/tmp/evil\.xml'"
    write_mxl(root / "hostile/rootfile_escapes.mxl", [
        ("META-INF/container.xml", container("../score.musicxml")), ("score.musicxml", musicxml())
    ])
    expected["hostile/rootfile_escapes.mxl"] = r"^unsafe rootfile name in META-INF/container\.xml: '\.\./score\.musicxml'"
    write_mxl(root / "hostile/no_container.mxl", [("score.musicxml", musicxml())])
    expected["hostile/no_container.mxl"] = r"^no META-INF/container\.xml in the \.mxl \(zip\) archive"
    whole = (root / "renamed" / "mxl_as.xml").read_bytes()
    put("hostile/truncated.mxl", whole[: len(whole) // 2], r"^corrupt or unreadable \.mxl \(zip\) archive: .*truncated")

    # Entities: expansion, external files, external DTDs, parameter entities; inside a zip too.
    put("hostile/billion_laughs.musicxml", billion_laughs(), r"^XML declares an entity \(&lol;\): entities are refused")
    xxe = musicxml(title="&xxe;", doctype=f'<!DOCTYPE score-partwise [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>')
    put("hostile/xxe_file.musicxml", xxe, r"^XML declares an entity \(&xxe;\)")
    put("hostile/xxe_dtd.musicxml", musicxml(title="&secret;", doctype=f'<!DOCTYPE score-partwise SYSTEM "{dtd.as_uri()}">'),
        r"^XML uses an undeclared entity \(&secret;\): external DTDs are never read$")
    mei = f'<?xml version="1.0"?>\n<!DOCTYPE mei [<!ENTITY % dtd SYSTEM "{dtd.as_uri()}"> %dtd;]>\n'
    mei += "<mei><music>&secret;</music></mei>\n"
    put("hostile/xxe_param.mei", mei, r"^XML declares an entity \(%dtd;\)")
    write_mxl(root / "hostile/xxe_in_zip.mxl", [("META-INF/container.xml", container()), ("score.musicxml", xxe)])
    expected["hostile/xxe_in_zip.mxl"] = r"^XML in score\.musicxml declares an entity \(&xxe;\)"

    # Encodings.
    put("hostile/latin1_as_utf8.musicxml", musicxml("Café crème"),
        r"^not well-formed XML: byte 0xe9 at line 4, column \d+ is not UTF-8", encoding="latin-1")
    put("renamed/latin1_declared.musicxml", musicxml("Café crème", encoding="ISO-8859-1"), BUILT, encoding="latin-1")
    put("hostile/shift_jis.xml", musicxml("Tiny", encoding="Shift_JIS"),
        r"^XML in an encoding that cannot be read: Shift_JIS \(unknown, or multi-byte")
    put("hostile/latin1.krn", "!!!OTL: Café\n" + kern(2), r"^not UTF-8: byte 0xe9 on line 1 ", encoding="latin-1")

    # Not scores at all, or not well-formed, or empty, or too big.
    put("hostile/garbage.krn", random.Random(0).randbytes(4096), r"^not a score: binary data")
    png = b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(512)
    put("hostile/png.musicxml", png, r"^not a score: looks like PNG image data$")
    midi = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x04\x00\xff\x2f\x00"
    put("hostile/midi.mxl", midi, r"^not a score: looks like a MIDI file$")
    svg = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>\n'
    put("hostile/svg.xml", svg, r"^not a score: XML with root element <svg>")
    put("hostile/text.krn", "Just some notes about music.\n", r"^not a score: text without a \*\*kern spine")
    put("hostile/malformed.xml", "<score-partwise><part", r"^not well-formed XML: ")
    put("hostile/empty.mei", b"", r"^empty file$")
    put("hostile/new\nline.krn", b"\n", r"^not a score: text without a \*\*kern spine")
    with open(root / "hostile/huge.krn", "wb") as sparse:
        sparse.truncate(100 * 2**20)
    expected["hostile/huge.krn"] = r"^too large: 100 MiB \(limit 64 MiB\)$"

    # Scores past the caps: too many pages, too long.
    put("hostile/long.krn", kern(2000), r"^too long: \d+ pages \(limit 40\)$")
    put("hostile/slow.krn", kern(40, tempo=4), r"^too long: \d+ s of music \(limit 1800 s\)$")

    # Not regular files inside the root, each a failure row without being followed or opened: links
    # out of the root and inside it, a FIFO, a folder named like a score, a score whose name is not
    # UTF-8 (its id and path escaped). Links not named like scores are not listed at all.
    for rel, target in (("links/outside_score.krn", outside / "outside_score.krn"), ("links/secret.xml", secret),
                        ("links/alias.krn", good[0])):
        os.symlink(target, root / rel)
        expected[rel] = LINK
    os.symlink(outside, root / "links" / "outside_dir")
    os.symlink(root / "good", root / "links" / "good_again")
    os.mkfifo(root / "hostile" / "fifo.krn")
    expected["hostile/fifo.krn"] = FIFO
    (root / "hostile" / "folder.mxl").mkdir()
    expected["hostile/folder.mxl"] = FOLDER
    shutil.copyfile(good[0], os.fsdecode(bytes(root / "hostile") + b"/caf\xe9.krn"))
    expected["hostile/caf\\xe9.krn"] = NOT_UTF8
    return root, outside, expected


# Run in a separate process while a build runs: whoever opens one of the FIFOs for reading is let
# through at once (the FIFO is opened for writing and closed, so the reader sees an empty file
# instead of blocking forever), and the FIFO is printed.
_WATCH = """
import json, os, sys, time
while True:
    for path in sys.argv[1:]:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))  # fails (ENXIO) unless a reader has it open
        except OSError:
            continue
        print(json.dumps(path), flush=True)
    time.sleep(0.02)
"""


@contextlib.contextmanager
def watching_fifos(fifos: list[Path]):
    """Yields a list that holds, once the block ends, every FIFO of ``fifos`` something opened for
    reading meanwhile; such a reader gets end of file instead of hanging the build."""
    opened: list[str] = []
    watcher = subprocess.Popen([sys.executable, "-c", _WATCH, *map(str, fifos)], stdout=subprocess.PIPE, text=True)
    try:
        yield opened
    finally:
        watcher.terminate()
        output = watcher.communicate(timeout=30)[0]
        opened.extend(sorted({json.loads(line) for line in output.splitlines()}))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    return make_corpus(tmp_path_factory.mktemp("hostile"))


# --- the checks before Verovio, one file at a time (fast) ---------------------------------------------

def checked_before_verovio(outcome: str) -> bool:
    """Whether the container check refuses the file (the caps on length need Verovio's layout)."""
    return outcome != BUILT and "too long" not in outcome


def test_corpus_is_listed_exactly(corpus):
    root, _, expected = corpus
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refs = list_scores(SourceConfig(kind="folder", root=str(root)))
    assert [ref.score_id for ref in refs] == sorted(expected)
    for ref in refs:
        assert printable(ref.path) == f"{root.resolve()}/{ref.score_id}"


def test_check_container_on_each_file(corpus):
    """Every hostile file refused with its reason before Verovio sees it, every good one let through,
    each with little memory (the bombs included: nothing is unpacked past the bound)."""
    root, _, expected = corpus
    paths = {ref.score_id: ref.path for ref in list_scores(SourceConfig(kind="folder", root=str(root)))}
    wrong = {}
    for rel, outcome in sorted(expected.items()):
        tracemalloc.start()
        try:
            check_container(Path(paths.get(rel, root / rel)))
            reason = None
        except Rejected as err:
            reason = str(err)
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert peak < 24 * 2**20, f"{rel}: the check took {peak / 2**20:.0f} MiB"
        if checked_before_verovio(outcome):
            if reason is None or not re.search(outcome, reason):
                wrong[rel] = reason
        elif reason is not None:
            wrong[rel] = reason
    assert not wrong, json.dumps(wrong, indent=1)


def test_unpack_stops_at_the_budget(tmp_path):
    path = tmp_path / "a.mxl"
    write_mxl(path, [("score.musicxml", musicxml())])
    with zipfile.ZipFile(path) as archive:
        with pytest.raises(Rejected, match="zip bomb: 'score.musicxml' unpacks to more than the limit"):
            for _ in _unpack(archive, archive.getinfo("score.musicxml"), [100]):
                pass


def test_caps_on_pages_measures_and_duration(corpus):
    root, _, expected = corpus
    krn = next(root / rel for rel, outcome in expected.items() if rel.startswith("good/"))
    ref = ScoreRef(score_id=krn.name, path=str(krn), source="folder", group="")
    assert parse(ref, ParseConfig()).duration > 1
    for cap, reason in (
        (ParseConfig(max_pages=0), r"too long: \d+ pages \(limit 0\)"),
        (ParseConfig(max_measures=1), r"too long: \d+ performed measures \(limit 1\)"),
        (ParseConfig(max_duration_s=1.0), r"too long: \d+ s of music \(limit 1 s\)"),
    ):
        with pytest.raises(Rejected, match=reason):
            performed_score(ref, cap)  # pages are capped by parse, measures and duration by the timeline


# --- the whole corpus built beside real scores ------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_run(corpus, tmp_path_factory):
    root, outside, _ = corpus
    out = tmp_path_factory.mktemp("hostile-out") / "pdmx_fusa"
    try:
        with watching_fifos([root / "hostile" / "fifo.krn"]) as opened:
            built = build(out, f"source.root={json.dumps(str(root))}", pipeline=FOLDER_PIPELINE)
    except Exception as err:  # noqa: BLE001 - reported as the failure of every test that needs the build
        pytest.fail(f"the build of the hostile folder did not end normally: {type(err).__name__}: {err}", pytrace=False)
    return built, opened


@pytest.fixture(scope="module")
def hostile_build(hostile_run):
    return hostile_run[0]


def test_no_fifo_is_opened(hostile_run):
    assert not hostile_run[1], f"opened for reading during the build: {hostile_run[1]}"


def test_every_listed_file_is_built_or_a_failure_row(corpus, hostile_build):
    root, _, expected = corpus
    outcomes = {o.ref.score_id: o for o in hostile_build.report.outcomes}
    assert sorted(outcomes) == sorted(expected)
    built = {row["score_id"] for row in hostile_build.all_rows()}
    assert built == {rel for rel, outcome in expected.items() if outcome == BUILT}
    rows = [json.loads(line) for line in (hostile_build.out / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    failures = {row["score_id"]: row for row in rows}
    assert sorted(failures) == sorted(rel for rel, outcome in expected.items() if outcome != BUILT)
    wrong = {rel: row["reason"] for rel, row in failures.items() if not re.search(expected[rel], row["reason"])}
    assert not wrong, json.dumps(wrong, indent=1)
    for rel, row in failures.items():
        stage = "timeline" if row["reason"].startswith("too long") and "pages" not in row["reason"] else "parse"
        assert row["stage"] == stage and row["path"] == str(root / rel), row


def test_nothing_outside_the_root_is_listed_or_read(corpus, hostile_build):
    root, outside, _ = corpus
    for outcome in hostile_build.report.outcomes:
        path = Path(outcome.ref.path)  # the entry itself, a link included: inside the root, by a path of real folders
        assert path.parent.resolve().is_relative_to(root.resolve()) and path.parent.resolve() == path.parent
        if outcome.ref.score_id.startswith("links/"):
            assert outcome.failure and re.search(LINK, outcome.failure.reason)

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from strings(item)

    assert not [s for row in hostile_build.all_rows() for s in strings(row) if MARKER in s]
    for folder in (hostile_build.out, hostile_build.out.with_name(hostile_build.out.name + ".cache")):
        for path in (p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else ():
            assert MARKER.encode() not in path.read_bytes(), path


def test_peak_rss_per_score_stays_bounded(hostile_build):
    peaks = {o.ref.score_id: o.peak_rss_mb for o in hostile_build.report.outcomes}
    print("\npeak RSS per score (MiB):\n" + "\n".join(f"  {peak:7.0f}  {rel}" for rel, peak in sorted(peaks.items())))
    assert all(0 < peak < PEAK_RSS_LIMIT_MB for peak in peaks.values()), peaks


def test_real_scores_are_built(corpus, hostile_build):
    real = real_scores()
    if not real:
        pytest.skip(f"needs Humdrum scores in {CORPORA / 'humdrum-piano'} (development data, not part of the repository)")
    built = {row["score_id"] for row in hostile_build.all_rows()}
    assert {f"good/{krn.name}" for krn in real[:2]} | {"renamed/krn_as.xml"} <= built


def test_built_renamed_scores_keep_their_text(hostile_build):
    titles = {row["score_id"]: row.get("title") for row in hostile_build.all_rows()}
    assert titles["renamed/utf16.musicxml"] == "Für Elise, café"
    assert titles["renamed/latin1_declared.musicxml"] == "Café crème"
    assert titles["renamed/xml_as.mxl"] == "XML named mxl"
    assert titles["renamed/mxl_as.xml"] == "mxl named xml"


# --- entries named like scores that are not regular files inside the root ---------------------------
# Each is listed and becomes one failure row, without being followed or opened: links (to a score
# inside or outside the root, to a FIFO, to a folder, to nothing), a FIFO, a socket, a device, a
# folder named like a score (whose contents are listed on their own), a name that is not UTF-8.

TRIAD = "theoryExercises/TriadExercise.mxl"  # music21's smallest piano score: built in seconds


def make_odd_folder(base: Path) -> tuple[Path, dict[str, str], list[Path]]:
    """The root, every entry that must be listed (``BUILT`` or the reason its row gives), and the FIFOs."""
    root, outside = base / "odd", base / "elsewhere"
    root.mkdir()
    outside.mkdir()
    shutil.copyfile(corpus_dir() / TRIAD, root / "real.mxl")
    expected = {"real.mxl": BUILT}
    (outside / "far.krn").write_text(f"!!!OTL: {MARKER}\n" + kern(2), encoding="utf-8")
    os.mkfifo(outside / "pipe")
    for name, target in (("alias.mxl", root / "real.mxl"), ("far.krn", outside / "far.krn"), ("piped.krn", outside / "pipe"),
                         ("linked.mxl", outside), ("dangling.xml", outside / "nothing.xml")):
        os.symlink(target, root / name)
        expected[name] = LINK
    os.symlink(outside, root / "away")  # not named like a score: not listed
    os.mkfifo(root / "x.mxl")
    expected["x.mxl"] = FIFO
    (root / "y.musicxml").mkdir()
    expected["y.musicxml"] = FOLDER
    (root / "y.musicxml" / "inner.krn").write_bytes(b"")
    expected["y.musicxml/inner.krn"] = r"^empty file$"
    Path(os.fsdecode(bytes(root) + b"/caf\xe9.xml")).write_bytes((corpus_dir() / TRIAD).read_bytes())
    expected["caf\\xe9.xml"] = NOT_UTF8
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock.mei"))
    expected["sock.mei"] = r"^a socket, not a regular file$"
    try:
        os.mknod(root / "null.krn", stat.S_IFCHR | 0o600, os.makedev(1, 3))  # like /dev/null
        expected["null.krn"] = r"^a character device, not a regular file$"
    except OSError:  # not allowed here (not root)
        pass
    return root, expected, [root / "x.mxl", outside / "pipe"]


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> tuple[Path, dict[str, str], list[Path]]:
    return make_odd_folder(tmp_path_factory.mktemp("odd"))


@pytest.fixture(scope="module")
def odd_run(odd, tmp_path_factory):
    root, _, fifos = odd
    out = tmp_path_factory.mktemp("odd-out") / "pdmx_fusa"
    with watching_fifos(fifos) as opened:
        built = build(out, f"source.root={json.dumps(str(root))}", pipeline=FOLDER_PIPELINE)
    return built, opened


def test_odd_entries_are_listed(odd):
    root, expected, _ = odd
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refs = list_scores(SourceConfig(kind="folder", root=str(root)))
    assert [(ref.score_id, printable(ref.path)) for ref in refs] == [(rel, f"{root.resolve()}/{rel}") for rel in sorted(expected)]


def test_odd_entries_are_failure_rows(odd, odd_run):
    root, expected, _ = odd
    built, opened = odd_run
    assert not opened, f"opened for reading during the build: {opened}"
    assert {row["score_id"] for row in built.all_rows()} == {"real.mxl"}
    rows = [json.loads(line) for line in (built.out / "failures.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [row["score_id"] for row in rows] == sorted(rel for rel, outcome in expected.items() if outcome != BUILT)
    for row in rows:
        assert row["stage"] == "parse" and row["path"] == f"{root.resolve()}/{row['score_id']}", row
        assert re.search(expected[row["score_id"]], row["reason"]), row
    for folder in (built.out, built.out.with_name(built.out.name + ".cache")):
        for path in (p for p in folder.rglob("*") if p.is_file()):
            assert MARKER.encode() not in path.read_bytes(), path


def test_scores_command_lists_odd_entries(odd, capsys):
    root, expected, _ = odd
    assert cli.main(["scores", str(FOLDER_PIPELINE), "--set", f"source.root={json.dumps(str(root))}"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{rel}\t{root.resolve()}/{rel}" for rel in sorted(expected)]


def test_names_not_utf8_get_unique_printable_ids(tmp_path):
    """Bytes that are not UTF-8 are written ``\\xNN``; a real name spelled like that escape keeps its
    id, and the other gets ``~2``. The container check refuses the path without looking it up."""
    root = tmp_path / "scores"
    root.mkdir()
    (root / "caf\\xe9.krn").write_text(kern(2), encoding="utf-8")  # a backslash in a real name
    Path(os.fsdecode(bytes(root) + b"/caf\xe9.krn")).write_text(kern(2), encoding="utf-8")
    os.mkdir(os.fsdecode(bytes(root) + b"/d\xe9"))
    Path(os.fsdecode(bytes(root) + b"/d\xe9/in.krn")).write_text(kern(2), encoding="utf-8")
    refs = list_scores(SourceConfig(kind="folder", root=str(root)))
    assert [ref.score_id for ref in refs] == ["caf\\xe9.krn", "caf\\xe9.krn~2", "d\\xe9/in.krn"]
    assert list_scores(SourceConfig(kind="folder", root=str(root))) == refs
    reasons = {}
    for ref in refs:
        try:
            check_container(Path(ref.path))
            reasons[ref.score_id] = None
        except Rejected as err:
            reasons[ref.score_id] = str(err)
    assert reasons == {
        "caf\\xe9.krn": None,
        "caf\\xe9.krn~2": "name is not valid UTF-8",
        "d\\xe9/in.krn": "name of a folder on its path is not valid UTF-8",
    }


@pytest.mark.parametrize("swapped", ["link", "fifo"])
def test_a_file_swapped_after_its_lstat_is_not_followed_nor_waited_on(tmp_path, monkeypatch, swapped):
    """A regular file replaced by a link or a FIFO between the look and the open: the open follows
    no link and does not wait for a writer; the descriptor's own status decides."""
    score = tmp_path / "score.krn"
    score.write_text(kern(2), encoding="utf-8")
    path = tmp_path / "swapped.krn"
    os.symlink(score, path) if swapped == "link" else os.mkfifo(path)
    lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: lstat(score) if os.fspath(p) == str(path) else lstat(p, *a, **k))

    def hung(*_):
        raise TimeoutError("the check waited on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        with pytest.raises(Rejected, match=LINK if swapped == "link" else FIFO):
            check_container(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

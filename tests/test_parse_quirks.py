"""parse on what real piano scores hold: parts on any number of staves, and the Verovio timing
quirks (a tempo its MIDI cannot write, a timemap out of order, score time that overflows), each
in a small fixture of ``tests/fixtures/parse``. Each fixture is first checked to still show its
quirk in this Verovio, then parsed: one clock for measures and notes, agreeing with the timemap."""

from __future__ import annotations

import base64
import zipfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pdmx_fusa.audio.midi import _read_smf, read_midi
from pdmx_fusa.config import ConfigError, ParseConfig, load_config
from pdmx_fusa.records import ScoreRef
from pdmx_fusa.stages import Rejected
from pdmx_fusa.stages.parse import MEI, _parts, new_toolkit, parse
from pdmx_fusa.stages.timemap import played_timemap
from pdmx_fusa.timing import read_musicxml

FIXTURES = Path(__file__).parent / "fixtures" / "parse"
TWO_PARTS = Path(__file__).parent / "fixtures" / "timing" / "two_parts.musicxml"  # "Piano RH" and "Piano LH"


def parsed(path: Path, **cfg):
    return parse(ScoreRef(path.name, str(path), "folder", ""), ParseConfig(**cfg))


def toolkit(path: Path):
    tk = new_toolkit(ParseConfig())
    assert tk.loadFile(str(path))
    return tk


# --- parts, not staves ----------------------------------------------------------------------------


def test_one_part_on_four_staves_is_piano():
    score = parsed(FIXTURES / "four_staves.musicxml")
    assert toolkit(FIXTURES / "four_staves.musicxml").getMEI().count("<staffDef ") == 4
    assert len(score.performance) == 2 and len(score.midi.notes) == 16


def test_two_piano_parts_pass_and_the_limit_counts_parts():
    assert len(parsed(TWO_PARTS).performance) == 5
    with pytest.raises(Rejected, match=r"not piano-like: 2 parts \(limit 1\)"):
        parsed(TWO_PARTS, max_parts=1)


def test_an_ensemble_is_not_piano():
    with pytest.raises(Rejected, match=r"not piano-like: 4 parts \(limit 2\)"):
        parsed(FIXTURES / "four_parts.musicxml")


def staff(n, label=None, instrument=None):
    inner = (f"<label>{label}</label>" if label is not None else "") + (f'<instrDef midi.instrnum="{instrument}"/>' if instrument is not None else "")
    return f'<staffDef n="{n}">{inner}</staffDef>'


@pytest.mark.parametrize("group, parts", [
    # MusicXML: a part on four staves, labelled or not (Verovio braces it); two such parts
    ('<staffGrp><staffGrp><label>Piano</label>' + "".join(staff(n) for n in range(4)) + '</staffGrp></staffGrp>', 1),
    ('<staffGrp><staffGrp><grpSym symbol="brace"/>' + "".join(staff(n) for n in range(4)) + '</staffGrp></staffGrp>', 1),
    ('<staffGrp><staffGrp><label>Primo</label>' + staff(1) + staff(2) + '</staffGrp><staffGrp><label>Secondo</label>'
     + staff(3) + staff(4) + '</staffGrp></staffGrp>', 2),
    # a chorale: labelled one-staff parts, some under a bracket; unlabelled one-staff parts side by side
    ('<staffGrp>' + staff(1, "Horn", 0) + '<staffGrp><grpSym symbol="bracket"/>'
     + "".join(staff(n, v, 0) for n, v in enumerate(["S", "A", "T", "B"], 2)) + '</staffGrp></staffGrp>', 5),
    ('<staffGrp>' + "".join(staff(n) for n in range(4)) + '</staffGrp>', 4),
    # Humdrum: a braced piano naming its instrument on each staff; a harpsichord beside a piano
    ('<staffGrp symbol="brace"><label>Piano</label>' + staff(1, None, 0) + staff(2, None, 0) + '</staffGrp>', 1),
    ('<staffGrp symbol="bracket">' + staff(1, " ", 6) + staff(2, " ", 0) + staff(3, " ", 0) + '</staffGrp>', 2),
    # a named bracket over named instruments is not one part
    ('<staffGrp><label>Strings</label>' + staff(1, "Violin", 40) + staff(2, "Viola", 41) + staff(3, "Cello", 42) + '</staffGrp>', 3),
])
def test_parts_are_counted_from_the_staff_groups(group, parts):
    assert _parts(ET.fromstring(group.replace("<staffGrp", f'<staffGrp xmlns="{MEI[1:-1]}"', 1))) == parts


def test_max_parts_is_validated():
    assert load_config(None, ["parse.max_parts=4"]).parse.max_parts == 4
    with pytest.raises(ConfigError, match="parse.max_parts must be at least 1"):
        load_config(None, ["parse.max_parts=0"])


# --- Verovio's timing quirks ----------------------------------------------------------------------


def _midi_tempos(path: Path) -> list[int]:
    _, events = _read_smf(base64.b64decode(toolkit(path).renderToMIDI()))
    return [values[0] for _, kind, *values in events if kind == "tempo"]


def _raw_timemap(path: Path) -> list[dict]:
    return toolkit(path).renderToTimemap({"includeMeasures": True, "includeRests": True})


QUIRKS = {
    # a tempo of 2 bpm is 30,000,000 us per quarter, more than a MIDI tempo's 24 bits: Verovio wraps it
    "slow_tempo.musicxml": lambda p: 30_000_000 % (1 << 24) in _midi_tempos(p),
    # -10 bpm: the timemap runs backwards in real time; the MIDI wraps the negative value
    "negative_tempo.musicxml": lambda p: any(a["tstamp"] > b["tstamp"] for a, b in zip(_raw_timemap(p), _raw_timemap(p)[1:])),
    # score-time comparison overflows: the timemap comes out of order (its last entry is not the end)
    "unordered_timemap.musicxml": lambda p: _raw_timemap(p)[-1]["tstamp"] < max(e["tstamp"] for e in _raw_timemap(p)),
    "backwards_timemap.musicxml": lambda p: any(a["tstamp"] > b["tstamp"] for a, b in zip(_raw_timemap(p), _raw_timemap(p)[1:])),
    # score-time sums overflow: negative quarter positions, and a MIDI whose notes lie ~13 days late
    "score_time_overflow.musicxml": lambda p: min(e["qstamp"] for e in _raw_timemap(p)) < 0,
}


@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_quirk_is_handled_with_one_clock(name):
    path = FIXTURES / name
    assert QUIRKS[name](path), f"this Verovio no longer shows the quirk {name} was made for"
    score = parsed(path)
    onsets = [p.onset for p in score.performance]
    assert onsets[0] == 0 and onsets == sorted(onsets)
    assert [p.engraved_id for p in score.performance] == [m.id for m in score.measures]  # no repeats: engraved order
    assert all(p.offset == q.onset for p, q in zip(score.performance, score.performance[1:]))
    assert score.performance[-1].offset == score.duration
    # The MIDI's tempo map takes every event of the timemap to its time: measures, notes and audio share it.
    loaded = toolkit(path)
    timemap, _ = played_timemap(loaded, ET.fromstring(loaded.getMEI()))
    for event in timemap:
        assert score.midi.tempo.seconds_at_quarter(event["qstamp"]) == pytest.approx(event["tstamp"] / 1000, abs=0.002)
    # Every note plays between the start and the end, and each measure begins with a note (all fixtures do).
    assert all(0 <= n.onset <= n.offset <= score.duration + 1e-9 for n in score.midi.notes)
    note_onsets = [n.onset for n in score.midi.notes]
    assert all(min(abs(t - onset) for t in note_onsets) < 0.002 for onset in onsets)
    assert len(score.notes) == len(score.midi.notes)


def test_slow_tempo_plays_at_its_tempo():
    """2 bpm: 30 s a quarter in measure 2, as the timemap says (the wrapped MIDI said 4.5 bpm)."""
    score = parsed(FIXTURES / "slow_tempo.musicxml")
    assert [p.onset for p in score.performance] == pytest.approx([0, 2, 122], abs=0.002)
    assert score.duration == pytest.approx(124, abs=0.01)
    upper = sorted({round(n.onset, 3) for n in score.midi.notes if n.key >= 72})
    assert upper == pytest.approx([0, 0.5, 1, 1.5, 2, 32, 62, 92, 122, 122.5, 123, 123.5], abs=0.002)


def test_negative_tempo_keeps_the_tempo_before_it():
    score = parsed(FIXTURES / "negative_tempo.musicxml")
    assert [p.onset for p in score.performance] == pytest.approx([0, 2, 4], abs=0.002)
    assert score.duration == pytest.approx(6, abs=0.01)


def test_score_time_overflow_keeps_every_note_in_real_time():
    """Verovio's MIDI has every note, hours late: the rebuilt one has the same notes at the timemap's times."""
    path = FIXTURES / "score_time_overflow.musicxml"
    score = parsed(path)
    timemap = _raw_timemap(path)
    starts = sorted(e["tstamp"] / 1000 for e in timemap if "measureOn" in e)
    assert [p.onset for p in score.performance] == pytest.approx(starts, abs=0.002)
    assert score.duration == pytest.approx(max(e["tstamp"] for e in timemap) / 1000, abs=0.002)
    broken = read_midi(base64.b64decode(toolkit(path).renderToMIDI()))
    assert max(n.offset for n in broken.notes) > 1e5  # what it replaces
    assert sorted(n.key for n in score.midi.notes) == sorted(n.key for n in broken.notes)


def test_verovio_midi_writer_errors_stay_off_the_terminal(capfd):
    """Verovio's MIDI writer prints "number too large to convert to VLV" on stderr for the score
    time overflow that parse repairs: a build's terminal must not fill with it."""
    path = Path(__file__).parent / "fixtures" / "parse" / "score_time_overflow.musicxml"
    parse(ScoreRef(path.name, str(path), "folder", ""), ParseConfig())
    assert "VLV" not in capfd.readouterr().err


# --- encodings --------------------------------------------------------------------------------------


class _Timemap:
    """What ``played_timemap`` reads of a Verovio toolkit: its timemap, here given."""

    def __init__(self, events: list[dict]):
        self.events = events

    def renderToTimemap(self, options: dict) -> list[dict]:  # noqa: N802 (Verovio's name)
        return [dict(e) for e in self.events]


def test_a_measure_starts_at_the_latest_with_its_first_note():
    """Where Verovio's score time broke, its timemap is read by real time; the real time of a
    measure's start can break too while its notes' stays right (asap Ravel, Alborada del
    gracioso: measures 71 to 96 start about 124 s after their first notes, so the notes of 71 to
    83 went to measure 70 and were played, and labelled, there). Measure 2 below starts at 6 s in
    the timemap, its note at 2 s: it starts at 2 s, before measure 3, and before its note."""
    mei = ET.fromstring(
        '<mei xmlns="http://www.music-encoding.org/ns/mei"><music><body><mdiv><score><section>'
        + "".join(f'<measure xml:id="m{i}"><staff><layer><{kind} xml:id="{kind[0]}{i}"/></layer></staff></measure>'
                  for i, kind in ((1, "note"), (2, "note"), (3, "rest")))
        + "</section></score></mdiv></body></music></mei>")
    events = [{"qstamp": 0.0, "tstamp": 0.0, "measureOn": "m1", "on": ["n1"]}, {"qstamp": 9.0, "tstamp": 2000.0, "on": ["n2"]},
              {"qstamp": 10.0, "tstamp": 6000.0, "measureOn": "m2"},
              {"qstamp": 11.0, "tstamp": 4000.0, "measureOn": "m3", "on": ["r3"]}]
    timemap, trusted = played_timemap(_Timemap(events), mei)
    assert not trusted
    assert [(e.get("measureOn"), e["tstamp"]) for e in timemap] == [("m1", 0.0), ("m2", 2000.0), (None, 2000.0), ("m3", 4000.0)]
    # a repeat's second pass: Verovio names the copies of measures and notes "<id>-rend2", unknown to the MEI
    again = [{**e, "qstamp": e["qstamp"] + 20, "tstamp": e["tstamp"] + 8000,
              **{k: [f"{i}-rend2" for i in e[k]] if k == "on" else f"{e[k]}-rend2" for k in ("measureOn", "on") if k in e}}
             for e in events]
    timemap, _ = played_timemap(_Timemap(events + again), mei)
    assert [(e["measureOn"], e["tstamp"]) for e in timemap if "measureOn" in e][3:] == [
        ("m1-rend2", 8000.0), ("m2-rend2", 10000.0), ("m3-rend2", 12000.0)]


def _utf16(text: str, bom: bool) -> bytes:
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    return text.encode("utf-16" if bom else "utf-16-le")


@pytest.mark.parametrize("container", ["musicxml", "mxl"])
@pytest.mark.parametrize("bom", [True, False])
def test_utf16_musicxml_reads_as_its_utf8_original(tmp_path, container, bom):
    """MusicXML in UTF-16 (as some Finale and Sibelius exports are; Verovio's loader reads it only
    from a plain file with a byte order mark) parses to the same measures and notes as the same score in UTF-8."""
    original = FIXTURES / "four_staves.musicxml"
    data = _utf16(original.read_text(encoding="utf-8"), bom)
    path = tmp_path / f"utf16.{container}"
    if container == "mxl":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("META-INF/container.xml", '<?xml version="1.0" encoding="UTF-8"?><container><rootfiles>'
                             '<rootfile full-path="score.musicxml"/></rootfiles></container>')
            archive.writestr("score.musicxml", data)
    else:
        path.write_bytes(data)
    # the quirk: Verovio alone refuses it, except a plain file with a byte order mark
    assert new_toolkit(ParseConfig()).loadFile(str(path)) == (bom and container == "musicxml")
    score, expected = parsed(path), parsed(original)
    assert [p.onset for p in score.performance] == [p.onset for p in expected.performance]
    assert [(n.key, n.onset, n.offset) for n in score.midi.notes] == [(n.key, n.onset, n.offset) for n in expected.midi.notes]
    assert score.svgs == expected.svgs
    assert read_musicxml(path) == read_musicxml(original)  # the timeline's own reading too


@pytest.mark.parametrize("declared", ["UTF-8", "ISO-8859-1", None])
@pytest.mark.parametrize("container", ["musicxml", "mxl"])
def test_a_utf8_byte_order_mark_is_read(tmp_path, container, declared):
    """UTF-8 with a byte order mark (which Verovio refuses), whatever its declaration says, parses
    as the same score without it."""
    original = FIXTURES / "four_staves.musicxml"
    text = original.read_text(encoding="utf-8")
    text = text.replace('<?xml version="1.0" encoding="UTF-8"?>', f'<?xml version="1.0" encoding="{declared}"?>' if declared else "", 1)
    data = b"\xef\xbb\xbf" + text.encode("utf-8")
    path = tmp_path / f"bom.{container}"
    if container == "mxl":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path="score.musicxml"/></rootfiles></container>')
            archive.writestr("score.musicxml", data)
    else:
        path.write_bytes(data)
    assert not new_toolkit(ParseConfig()).loadFile(str(path))  # the quirk
    score, expected = parsed(path), parsed(original)
    assert [(n.key, n.onset, n.offset) for n in score.midi.notes] == [(n.key, n.onset, n.offset) for n in expected.midi.notes]
    assert score.svgs == expected.svgs

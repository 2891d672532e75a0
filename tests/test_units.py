"""Unit tests: configuration, the soundfont list, MIDI passages, splits, plans, alignment, synthesis."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import mido
import numpy as np
import pytest

from conftest import REPO, SOUNDFONTS
from pdmx_fusa.config import ConfigError, ExpressiveConfig, PipelineConfig, RenderConfig, SplitConfig, load_config
from pdmx_fusa.audio.midi import TICKS_PER_SECOND, Midi, Note, PassageEvent, cut_passage, passage_events, read_midi, write_passage
from pdmx_fusa.records import (
    Engraving, MeasureBoxes, Measure, Page, PageLabels, Performed, PerformedNote, Score, ScoreRef, Visit,
)
from pdmx_fusa.audio.soundfonts import Soundfont, read_soundfonts, verify_soundfonts
from pdmx_fusa.stages import Rejected
from pdmx_fusa.stages.align import align
from pdmx_fusa.stages.notes import notes_midi
from pdmx_fusa.stages.visits import visits
from pdmx_fusa.stages.plan import plan, renditions_for
from pdmx_fusa.stages.split import SPLITS, piece_key, split

# --- configuration ----------------------------------------------------------------------------------


def pipeline(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path, list(overrides))
    return str(err.value)


def test_empty_file_is_the_default(tmp_path):
    assert load_config(pipeline(tmp_path, "")) == PipelineConfig() == load_config(None)


def test_repository_pipelines_load():
    for name in ("default", "folder", "pdmx"):
        cfg = load_config(REPO / "pipelines" / f"{name}.toml")
        assert cfg.source.kind == ("embedded" if name == "default" else name)
    assert load_config(REPO / "pipelines" / "default.toml") == PipelineConfig()


def test_unknown_section(tmp_path):
    path = pipeline(tmp_path, '[sauce]\nkind = "folder"\n')
    message = config_error(path)
    assert str(path) in message and "sauce" in message


def test_unknown_key(tmp_path):
    path = pipeline(tmp_path, "[render]\nsample_rate = 44100\nreleese_tail_s = 2.0\n")
    message = config_error(path)
    assert str(path) in message and "render.releese_tail_s" in message
    assert "release_tail_s" in message  # the known keys are listed


@pytest.mark.parametrize(
    ("text", "key", "what"),
    [
        ('[run]\nworkers = "two"\n', "run.workers", "int"),
        ("[run]\nworkers = true\n", "run.workers", "int"),
        ("[run]\nworkers = 1.5\n", "run.workers", "int"),
        ("[source]\nroot = 3\n", "source.root", "str"),
        ('[render]\ntrain_tempo_ratios = "0.9"\n', "render.train_tempo_ratios", "list"),
        ('[render]\ntrain_tempo_ratios = [0.9, "fast"]\n', "render.train_tempo_ratios", "float"),
        ("[source]\nsubsets = [1]\n", "source.subsets", "str"),
    ],
)
def test_wrong_type(tmp_path, text, key, what):
    path = pipeline(tmp_path, text)
    message = config_error(path)
    assert str(path) in message and key in message and what in message


def test_section_must_be_a_table(tmp_path):
    path = pipeline(tmp_path, "render = 3\n")
    message = config_error(path)
    assert str(path) in message and "render" in message and "table" in message


def test_bad_toml(tmp_path):
    path = pipeline(tmp_path, "[render\nsample_rate = 1\n")
    message = config_error(path)
    assert str(path) in message and "not valid TOML" in message


def test_missing_pipeline(tmp_path):
    assert "no such pipeline file" in config_error(tmp_path / "nowhere.toml")


def test_int_is_accepted_as_float(tmp_path):
    cfg = load_config(pipeline(tmp_path, "[render]\nrelease_tail_s = 2\ntrain_tempo_ratios = [1, 1.5]\n"))
    assert cfg.render.release_tail_s == 2.0 and isinstance(cfg.render.release_tail_s, float)
    assert cfg.render.train_tempo_ratios == (1.0, 1.5) and all(isinstance(r, float) for r in cfg.render.train_tempo_ratios)


def test_set_parsing(tmp_path):
    path = pipeline(tmp_path, '[run]\nworkers = 4\n[output]\ndir = "from-file"\n[source]\nkind = "folder"\n')
    cfg = load_config(
        path,
        [
            "run.workers=1",  # TOML integer, overrides the file
            'source.subsets=["rated"]',  # TOML list -> tuple
            "source.root=/data/PDMX",  # a bare word is a string
            "output.dir = 'with spaces and = sign'",  # spaces around '=', quoted TOML string
            "render.release_tail_s=0.5",
            "render.eval_tempo_ratios=[1, 1.25]",
            "source.extensions=[]",
        ],
    )
    assert cfg.run.workers == 1
    assert cfg.source.kind == "folder"  # kept from the file
    assert cfg.source.subsets == ("rated",)
    assert cfg.source.root == "/data/PDMX"
    assert cfg.output.dir == "with spaces and = sign"
    assert cfg.render.release_tail_s == 0.5
    assert cfg.render.eval_tempo_ratios == (1.0, 1.25)
    assert cfg.source.extensions == ()
    assert cfg.parse == PipelineConfig().parse  # untouched sections keep their defaults
    assert load_config(None, ["source.root=a=b"]).source.root == "a=b"  # only the first '=' splits


@pytest.mark.parametrize("item", ["run.workers", "workers=2", "=2", ".workers=2"])
def test_set_malformed(item):
    message = config_error(None, [item])
    assert "section.key=value" in message or "unknown key" in message
    assert repr(item) in message or "unknown key" in message


def test_set_errors_name_the_key():
    message = config_error(None, ["output.wrkers=2"])
    assert "<defaults>" in message and "output.wrkers" in message
    message = config_error(None, ["run.workers=two"])  # a bare word is a string, not an int
    assert "run.workers" in message and "int" in message
    message = config_error(None, ["nosuch.key=1"])
    assert "nosuch" in message


# --- soundfont list ---------------------------------------------------------------------------------

GOOD_LINES = [
    "# comment line",
    "",
    "grand  pkg-a  /sf/a.sf2  0:0  " + "a" * 64 + "  train   # trailing comment",
    "bright pkg-a  /sf/a.sf2  0:1  " + "A" * 64 + "  train",
    "held   pkg-b  /sf/b.sf3  0:0  " + "b" * 64 + "  test",
]


def soundfont_list(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "soundfonts.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_soundfonts_parse(tmp_path):
    fonts = read_soundfonts(soundfont_list(tmp_path, GOOD_LINES))
    assert [(f.name, f.package, f.path, f.bank, f.preset, f.role) for f in fonts] == [
        ("grand", "pkg-a", "/sf/a.sf2", 0, 0, "train"),
        ("bright", "pkg-a", "/sf/a.sf2", 0, 1, "train"),
        ("held", "pkg-b", "/sf/b.sf3", 0, 0, "test"),
    ]
    assert fonts[1].sha256 == "a" * 64  # lower-cased


def test_repository_soundfonts():
    fonts = read_soundfonts(SOUNDFONTS)
    assert {f.role for f in fonts} == {"train", "test"}
    assert len({f.name for f in fonts}) == len(fonts)
    # a test piano is never a training piano: no (file, bank, preset) is in both roles
    voices = {role: {(f.path, f.bank, f.preset) for f in fonts if f.role == role} for role in ("train", "test")}
    assert not voices["train"] & voices["test"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("bad pkg /sf/c.sf2 0:0 " + "c" * 64, "expected 6 fields"),
        ("bad pkg /sf/c.sf2 0:0 " + "c" * 64 + " train extra", "expected 6 fields"),
        ("bad pkg /sf/c.sf2 0-0 " + "c" * 64 + " train", "bank:preset must be two integers"),
        ("bad pkg /sf/c.sf2 x:1 " + "c" * 64 + " train", "bank:preset must be two integers"),
        ("bad pkg /sf/c.sf2 0:0 " + "c" * 64 + " validation", "role must be one of"),
    ],
)
def test_soundfonts_bad_line(tmp_path, line, expected):
    path = soundfont_list(tmp_path, [*GOOD_LINES, line])
    with pytest.raises(ConfigError) as err:
        read_soundfonts(path)
    assert expected in str(err.value)
    assert f"{path}:{len(GOOD_LINES) + 1}" in str(err.value)  # file and line number


def test_soundfonts_duplicate_name(tmp_path):
    with pytest.raises(ConfigError, match="unique"):
        read_soundfonts(soundfont_list(tmp_path, [*GOOD_LINES, GOOD_LINES[2]]))


def test_soundfonts_need_both_roles(tmp_path):
    with pytest.raises(ConfigError, match="no soundfont has role 'test'"):
        read_soundfonts(soundfont_list(tmp_path, GOOD_LINES[:4]))
    with pytest.raises(ConfigError, match="no such soundfont list"):
        read_soundfonts(tmp_path / "missing.txt")


def test_soundfont_sha256_mismatch(tmp_path):
    file = tmp_path / "piano.sf2"
    file.write_bytes(b"not really a soundfont")
    actual = hashlib.sha256(file.read_bytes()).hexdigest()
    good = Soundfont("grand", "pkg-a", str(file), 0, 0, actual, "train")
    verify_soundfonts([good])  # no error
    wrong = Soundfont("bright", "pkg-a", str(file), 0, 1, "0" * 64, "train")
    with pytest.raises(ConfigError) as err:
        verify_soundfonts([good, wrong])
    message = str(err.value)
    assert "bright" in message and str(file) in message and actual in message and "0" * 64 in message
    # the digest is remembered with the file's status, and recomputed once the file changes
    memo = tmp_path / "memo.json"
    verify_soundfonts([good], memo)
    assert json.loads(memo.read_text())[str(file)][-1] == actual
    file.write_bytes(b"not really a soundfont!")
    with pytest.raises(ConfigError, match="bright|grand"):
        verify_soundfonts([good], memo)
    missing = Soundfont("gone", "pkg-gone", str(tmp_path / "gone.sf2"), 0, 0, actual, "test")
    with pytest.raises(ConfigError, match=r"is missing \(apt-get install pkg-gone\)"):
        verify_soundfonts([missing])


# --- MIDI -------------------------------------------------------------------------------------------

PPQ = 480  # 120 bpm: 960 ticks per second


def make_midi(events: list[tuple[float, mido.Message]], tempos: list[tuple[int, int]] = ()) -> bytes:
    """A type-0 file from (seconds at 120 bpm, message) pairs, plus (tick, tempo) changes."""
    timed = [(round(t * 2 * PPQ), 1, msg) for t, msg in events] + [(tick, 0, mido.MetaMessage("set_tempo", tempo=tempo)) for tick, tempo in tempos]
    timed.sort(key=lambda e: (e[0], e[1]))
    track, last = mido.MidiTrack(), 0
    for tick, _, msg in timed:
        track.append(msg.copy(time=tick - last))
        last = tick
    out = io.BytesIO()
    mido.MidiFile(type=0, ticks_per_beat=PPQ, tracks=[track]).save(file=out)
    return out.getvalue()


def note(channel, key, onset, offset, velocity=80):
    return [(onset, mido.Message("note_on", channel=channel, note=key, velocity=velocity)), (offset, mido.Message("note_off", channel=channel, note=key))]


def cc(channel, control, value, time):
    return [(time, mido.Message("control_change", channel=channel, control=control, value=value))]


PASSAGE_SOURCE = [
    *cc(1, 7, 100, 0.1),  # before the passage, another channel: carried
    *cc(0, 64, 127, 0.25),  # pedal down before the passage: carried
    *note(0, 60, 0.5, 1.5),  # begins before the passage: left out although it still sounds
    *note(0, 62, 1.0, 1.25, velocity=90),
    *note(0, 64, 1.5, 3.0, velocity=70),  # cut at the end
    *cc(0, 64, 0, 1.75),
    *note(0, 65, 2.0, 2.5),  # begins at the end: left out
    *cc(0, 64, 127, 2.2),  # after the passage: left out
    (0.0, mido.Message("program_change", channel=0, program=1)),
]


def as_tuples(events: list[PassageEvent]) -> list[tuple]:
    return [(e.tick, e.kind, e.channel, e.a, e.b) for e in events]


def test_read_midi():
    midi = read_midi(make_midi(PASSAGE_SOURCE))
    assert [(n.key, n.onset, n.offset, n.velocity) for n in midi.notes] == [
        (60, 0.5, 1.5, 80), (62, 1.0, 1.25, 90), (64, 1.5, 3.0, 70), (65, 2.0, 2.5, 80),
    ]
    assert [(c.channel, c.control, c.value, c.time) for c in midi.controls] == [
        (1, 7, 100, 0.1), (0, 64, 127, 0.25), (0, 64, 0, 1.75), (0, 64, 127, 2.2),
    ]
    assert midi.programs == {1}


def test_read_midi_tempo_map():
    # 120 bpm, then 60 bpm from tick 960 (1 s): a quarter (480 ticks) then lasts 1 s
    data = make_midi([*note(0, 60, 0.5, 1.5)], tempos=[(0, 500_000), (960, 1_000_000)])
    midi = read_midi(data)
    assert midi.tempo.seconds(480) == pytest.approx(0.5)
    assert midi.tempo.seconds(960) == pytest.approx(1.0)
    assert midi.tempo.seconds(1440) == pytest.approx(2.0)
    assert midi.tempo.seconds_at_quarter(3) == pytest.approx(2.0)
    (n,) = midi.notes
    # note-off at tick 1440 (written as 1.5 s at 120 bpm) is 2.0 s under the tempo change
    assert (n.onset, n.offset) == (pytest.approx(0.5), pytest.approx(2.0))


def test_cut_passage():
    midi = read_midi(make_midi(PASSAGE_SOURCE))
    events = cut_passage(midi, 1.0, 2.0, 1.0)
    s = TICKS_PER_SECOND
    assert as_tuples(events) == [
        (0, "control_change", 0, 64, 127),
        (0, "control_change", 1, 7, 100),
        (0, "note_on", 0, 62, 90),
        (round(0.25 * s), "note_off", 0, 62, 0),
        (round(0.5 * s), "note_on", 0, 64, 70),
        (round(0.75 * s), "control_change", 0, 64, 0),
        (round(1.0 * s), "note_off", 0, 64, 0),  # cut at the end of the passage
    ]


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_a_key_sounds_once_at_a_time(order):
    """A unison's shorter note (no length of its own, as the timeline leaves it) and the longer one:
    the key is never struck twice while it sounds, since one note-off releases every voice of it
    in the synthesiser. The short one takes its tick first; the long one begins as it ends and
    sounds to its own end."""
    notes = [Note(0, 64, 90, 1.0, 1.0), Note(0, 64, 80, 1.0, 2.0)]
    events, ticks = passage_events([notes[i] for i in order], [], 3.0)
    sounding, struck = 0, []
    for e in events:
        sounding += {"note_on": 1, "note_off": -1}.get(e.kind, 0)
        assert sounding <= 1, as_tuples(events)
        if e.kind == "note_on":
            struck.append(e.tick)
    s = TICKS_PER_SECOND
    assert struck == [s, s + 1] and max(off for _, off in ticks) == 2 * s


@pytest.mark.parametrize("ratio", [0.5, 0.9, 1.1, 2.0])
def test_cut_passage_tempo_ratio(ratio):
    midi = read_midi(make_midi(PASSAGE_SOURCE))
    base = as_tuples(cut_passage(midi, 1.0, 2.0, 1.0))
    scaled = as_tuples(cut_passage(midi, 1.0, 2.0, ratio))
    assert [e[1:] for e in scaled] == [e[1:] for e in base]
    assert [e[0] for e in scaled] == [round(e[0] / ratio) for e in base]


def test_cut_passage_controller_at_start():
    """A controller that changes exactly where the passage starts: the new value is in effect, not
    the one from before the passage (pedal changes on the downbeat that starts a page visit)."""
    midi = read_midi(make_midi([*cc(0, 64, 127, 0.5), *cc(0, 64, 0, 1.0), *note(0, 60, 1.0, 1.5)]))
    events = cut_passage(midi, 1.0, 2.0, 1.0)
    pedal = [e.b for e in events if e.kind == "control_change" and e.a == 64]
    assert pedal and pedal[-1] == 0, f"pedal values in order: {pedal}"


def test_write_passage_round_trip():
    midi = read_midi(make_midi(PASSAGE_SOURCE))
    events = cut_passage(midi, 1.0, 2.0, 1.1)
    file = mido.MidiFile(file=io.BytesIO(write_passage(events)))
    assert file.type == 0 and file.ticks_per_beat == 960
    now, back = 0, []
    for msg in file.tracks[0]:
        now += msg.time
        if msg.type == "note_on":
            back.append((now, "note_on", msg.channel, msg.note, msg.velocity))
        elif msg.type == "note_off":
            back.append((now, "note_off", msg.channel, msg.note, 0))
        elif msg.type == "control_change":
            back.append((now, "control_change", msg.channel, msg.control, msg.value))
    assert back == as_tuples(events)
    # seconds survive too: the first C ends (1.25 - 1.0) / 1.1 s into the passage
    assert file.length == pytest.approx(1.0 / 1.1, abs=1e-3)


# --- split ------------------------------------------------------------------------------------------


def ref(score_id="folder/a.krn", group=""):
    return ScoreRef(score_id=score_id, path="/x/" + score_id, source="folder", group=group)


def test_split_proportions_and_determinism():
    keys = [f"composer {i} | piece {i}" for i in range(10_000)]
    for cfg in (SplitConfig(), SplitConfig(validation=0.2, test=0.3, salt="other")):
        first = [split(k, cfg) for k in keys]
        assert first == [split(k, cfg) for k in reversed(keys)][::-1]
        counts = Counter(first)
        assert set(counts) == set(SPLITS)
        assert counts["test"] / len(keys) == pytest.approx(cfg.test, abs=0.015)
        assert counts["validation"] / len(keys) == pytest.approx(cfg.validation, abs=0.015)
    a = [split(k, SplitConfig(salt="one")) for k in keys]
    b = [split(k, SplitConfig(salt="two")) for k in keys]
    assert sum(x != y for x, y in zip(a, b)) > 1000  # the salt reshuffles
    assert {split(k, SplitConfig(validation=0.0, test=0.0)) for k in keys[:500]} == {"train"}
    assert {split(k, SplitConfig(validation=0.0, test=1.0)) for k in keys[:500]} == {"test"}


def test_split_only_puts_every_piece_in_one_split():
    keys = [f"composer {i} | piece {i}" for i in range(2000)]
    assert {split(k, SplitConfig(only="test")) for k in keys} == {"test"}
    with pytest.raises(ConfigError, match="splits.only must be train, validation or test"):
        load_config(None, ["splits.only='tests'"])


def test_split_is_stable_across_processes():
    """No per-process hash seed: the same key lands in the same split in another interpreter."""
    keys = [f"piece {i}" for i in range(300)]
    code = "import json, sys; from pdmx_fusa.stages.split import split; from pdmx_fusa.config import SplitConfig; " \
        "print(json.dumps([split(k, SplitConfig()) for k in json.loads(sys.argv[1])]))"
    env = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", code, json.dumps(keys)], env=env, capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == [split(k, SplitConfig()) for k in keys]


def test_piece_key_normalisation():
    key = piece_key(ref(), "Für Elise!", "Beethoven, Ludwig van")
    assert piece_key(ref("other/b.mxl"), "fur  ELISE", "ludwig van beethoven") == key  # case, accents, order
    assert piece_key(ref(), "Polonaise, Op. 1 — No. 3", "Schumann, Clara") == piece_key(ref(), "polonaise op 1 no 3", "CLARA SCHUMANN")
    assert piece_key(ref(), "Mazurka", "Frédéric Chopin") == piece_key(ref(), "mazurka", "Frederic Chopin")
    assert piece_key(ref(), "Polonaise Op. 1 No. 3", "Clara Schumann") != piece_key(ref(), "Polonaise Op. 1 No. 4", "Clara Schumann")
    assert piece_key(ref(), "Waltz", "Chopin") != piece_key(ref(), "Waltz", "Brahms")
    assert piece_key(ref(), "Waltz", "") != piece_key(ref(), "", "Waltz")


def test_piece_key_group_and_fallback():
    assert piece_key(ref(group="./data/1/2/Qm.json"), "Any", "Thing") == "./data/1/2/Qm.json"
    assert piece_key(ref("x/one.krn"), "", "") == "x/one.krn"  # nothing known: the score alone
    assert piece_key(ref("x/one.krn"), "", "") != piece_key(ref("x/two.krn"), "", "")


# --- plan -------------------------------------------------------------------------------------------

FONTS = [
    Soundfont("t1", "p", "/a.sf2", 0, 0, "0" * 64, "train"),
    Soundfont("t2", "p", "/a.sf2", 0, 1, "0" * 64, "train"),
    Soundfont("t3", "p", "/b.sf2", 0, 0, "0" * 64, "train"),
    Soundfont("held", "p", "/c.sf3", 0, 0, "0" * 64, "test"),
]
VISITS = tuple(Visit(page=i % 3, index=i // 3, measures=(i,), start=float(i), end=float(i + 1)) for i in range(24))


def test_plan_seeded_by_score_id():
    cfg = RenderConfig(renditions_per_visit=2, expressive=ExpressiveConfig(per_visit=0))  # constant renditions (tests/test_expressive.py: the others)
    first = plan("score/a", VISITS, "train", FONTS, cfg)
    for other in ("score/b", "score/c"):
        plan(other, VISITS, "train", FONTS, cfg)
    assert plan("score/a", VISITS, "train", FONTS, cfg) == first  # regardless of what ran before
    plans = {sid: plan(sid, VISITS, "train", FONTS, cfg) for sid in (f"score/{i}" for i in range(10))}
    for a in plans:
        for b in plans:
            if a < b:
                assert plans[a] != plans[b], (a, b)
    all_choices = set(renditions_for("train", FONTS, cfg))
    assert len(all_choices) == 9
    assert {r for p in plans.values() for _, r in p} == all_choices  # every rendition gets used


def test_plan_shape():
    cfg = RenderConfig(renditions_per_visit=2, expressive=ExpressiveConfig(per_visit=0))
    planned = plan("score/a", VISITS, "train", FONTS, cfg)
    assert [v for v, _ in planned] == [v for v in VISITS for _ in range(2)]
    for i in range(0, len(planned), 2):
        assert planned[i][1] != planned[i + 1][1]  # distinct renditions of one visit
    many = plan("score/a", VISITS[:2], "test", FONTS, RenderConfig(renditions_per_visit=5))
    assert len(many) == 2  # only one test rendition exists


@pytest.mark.parametrize("split_name", SPLITS)
def test_plan_fonts_and_ratios_by_split(split_name):
    cfg = RenderConfig(renditions_per_visit=3, train_tempo_ratios=(0.8, 1.0, 1.2), eval_tempo_ratios=(1.0,))
    roles = {f.name: f.role for f in FONTS}
    for sid in ("a", "b", "c"):
        for _, rendition in plan(sid, VISITS, split_name, FONTS, cfg):
            assert roles[rendition.soundfont] == ("test" if split_name == "test" else "train")
            allowed = cfg.train_tempo_ratios if split_name == "train" else cfg.eval_tempo_ratios
            assert rendition.tempo_ratio in allowed


# --- visits and align ------------------------------------------------------------------------------------------


def hand_score(performed_ids: list[str], pages: list[list[str]], notes: tuple[PerformedNote, ...] = (), noteheads=None):
    """A score whose i-th performed measure plays ``performed_ids[i]`` from 2i to 2i + 2 s, and its
    engraving; ``noteheads``: one dict per page (note id -> box)."""
    measures = tuple(Measure(m, m[1:], page, 0, "4/4") for page, ids in enumerate(pages) for m in ids)
    performance = tuple(Performed(m, 2.0 * i, 2.0 * (i + 1), 1) for i, m in enumerate(performed_ids))
    score = Score(
        ref=ref(), title="", composer="", svgs=("",) * len(pages), measures=measures, performance=performance,
        notes=notes, labels=tuple(PageLabels(0, "4/4", 1) for _ in pages), midi=None, duration=2.0 * len(performed_ids),
    )
    box = (10.0, 10.0, 100.0, 50.0)
    heads = noteheads or [{} for _ in pages]
    engraving = Engraving(tuple(
        Page(b"", 1240, 1754, (box,), {m: MeasureBoxes(0, (box,), box) for m in ids}, heads[page])
        for page, ids in enumerate(pages)
    ))
    return score, engraving


def test_visits_with_repeats():
    pages = [["m1", "m2", "m3"], ["m4", "m5", "m6"]]
    played = ["m1", "m2", "m3", "m4", "m5", "m2", "m3", "m4", "m5", "m6", "m5", "m6"]
    # back to page 1 (a new visit of it), then a repeat within page 2 (the same visit)
    found = visits(*hand_score(played, pages))
    assert [(v.page, v.index, v.measures, v.start, v.end) for v in found] == [
        (0, 0, (0, 1, 2), 0.0, 6.0),
        (1, 0, (3, 4), 6.0, 10.0),
        (0, 1, (5, 6), 10.0, 14.0),
        (1, 1, (7, 8, 9, 10, 11), 14.0, 24.0),
    ]


def test_single_page_repeat_is_one_visit():
    found = visits(*hand_score(["m1", "m2", "m1", "m2", "m3"], [["m1", "m2", "m3"]]))
    assert [(v.page, v.index, v.measures) for v in found] == [(0, 0, (0, 1, 2, 3, 4))]


def test_visit_measure_on_no_page():
    with pytest.raises(Rejected, match="m9"):
        visits(*hand_score(["m1", "m9"], [["m1"]]))


def test_align_joins_boxes_and_visit_times():
    """Each visit's measures carry their own page's boxes and times from the visit's start."""
    score, engraving = hand_score(["m1", "m2", "m3", "m4", "m2"], [["m1", "m2"], ["m3", "m4"]])
    moved = MeasureBoxes(1, ((200.0, 300.0, 400.0, 350.0),), (200.0, 300.0, 400.0, 350.0))
    engraving.pages[1].measures["m4"] = moved
    found = visits(score, engraving)
    aligned = align(score, engraving, found)
    assert [[(m.engraved_id, m.number, m.onset, m.offset) for m in aligned[v].measures] for v in found] == [
        [("m1", "1", 0.0, 2.0), ("m2", "2", 2.0, 4.0)],
        [("m3", "3", 0.0, 2.0), ("m4", "4", 2.0, 4.0)],
        [("m2", "2", 0.0, 2.0)],
    ]
    assert aligned[found[1]].measures[1].boxes is moved
    assert all(not aligned[v].notes for v in found)


def test_align_notes_follow_the_passage_cut():
    """A visit's notes are those cut_passage plays (onset in [start, end), within 1 us), timed from
    the visit's start and cut at its end, in the measure their onset lies in, with their notehead on
    the visit's page or no box."""
    def note(engraved_id, measure, key, onset, offset, grace=False):
        return PerformedNote(engraved_id, measure, key, 64, 0, onset, offset, grace)

    notes = (
        note("n1", 0, 60, 0.0, 1.0),
        note("n2", 1, 62, 2.0 - 5e-7, 5.0),  # a hair before m2 (rounding): still m2's, held past the visit
        note("g3", 1, 64, 3.9, 3.95, grace=True),  # a grace note before m3's note: its notehead is on page 2
        note("n3", 2, 65, 4.0, 4.5),
        note("n4", 3, 67, 6.0, 9.0),
    )
    box = (1.0, 2.0, 3.0, 4.0)
    score, engraving = hand_score(
        ["m1", "m2", "m3", "m4"], [["m1", "m2"], ["m3", "m4"]], notes, [{"n1": box, "n2": box}, {"g3": box, "n3": box, "n4": box}]
    )
    found = visits(score, engraving)
    aligned = align(score, engraving, found)
    first, second = (aligned[v].notes for v in found)
    assert [(n.engraved_id, n.measure, n.box, n.onset, n.offset, n.grace) for n in first] == [
        ("n1", 0, box, 0.0, 1.0, False),
        ("n2", 1, box, pytest.approx(2.0), 4.0, False),
        ("g3", 1, None, 3.9, 3.95, True),
    ]
    assert [(n.engraved_id, n.measure, n.box, n.onset, n.offset) for n in second] == [
        ("n3", 0, box, 0.0, 0.5), ("n4", 1, box, 2.0, 4.0),
    ]
    midi = notes_midi(Midi((), (), frozenset(), None), notes)
    assert [(n.key, n.onset, n.offset) for n in midi.notes] == [(n.key, n.onset, n.offset) for n in notes]
    for visit, mine in zip(found, (first, second)):
        events = cut_passage(midi, visit.start, visit.end, 1.0)
        assert [e.a for e in events if e.kind == "note_on"] == [n.key for n in mine]


# --- synthesis --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def piano():
    fonts = {f.name: f for f in read_soundfonts(SOUNDFONTS)}
    font = fonts.get("timgm6mb-piano")  # the smallest file: quick to load
    if font is None or not Path(font.path).is_file():
        pytest.skip("needs the timgm6mb-piano soundfont of soundfonts.txt")
    from pdmx_fusa.audio.synth import Piano

    return Piano(font, 22050)


def test_piano_play_is_deterministic(piano):
    midi = read_midi(make_midi(PASSAGE_SOURCE))
    events = cut_passage(midi, 0.0, 3.0, 1.0)
    first = piano.play(events, 3.5)
    assert first.dtype == np.float32 and first.shape == (round(3.5 * 22050),)
    assert np.abs(first).max() > 0.01
    again = piano.play(events, 3.5)
    assert again.tobytes() == first.tobytes()
    # something else in between (held notes, pedal down at the end) leaves no trace
    other = [PassageEvent(0, "control_change", 0, 64, 127), *(PassageEvent(0, "note_on", 0, k, 127) for k in range(40, 90, 3))]
    assert np.abs(piano.play(other, 1.0)).max() > 0.01
    assert piano.play(events, 3.5).tobytes() == first.tobytes()


def test_piano_plays_at_the_event_time(piano):
    start = round(0.5 * TICKS_PER_SECOND)
    events = [PassageEvent(start, "note_on", 0, 60, 100), PassageEvent(start + round(0.3 * TICKS_PER_SECOND), "note_off", 0, 60, 0)]
    samples = piano.play(events, 1.0)
    sounding = np.flatnonzero(np.abs(samples) > 1e-4)
    assert len(sounding) and 0.5 <= sounding[0] / 22050 <= 0.51
    assert piano.play([], 0.5).tobytes() == np.zeros(round(0.5 * 22050), np.float32).tobytes()


# --- parse ------------------------------------------------------------------------------------------

KERN = "**kern\t**kern\n*clefF4\t*clefG2\n*k[b-]\t*k[b-]\n{met}*M{meter}\t*M{meter}\n=1\t=1\n1F\t1a\n=2\t=2\n2C\t2c\n2F\t2f\n==\t==\n*-\t*-\n"


@pytest.mark.parametrize(
    ("met", "meter", "expected"),
    [("", "4/4", "4/4"), ("*met(c)\t*met(c)\n", "4/4", "4/4"), ("*met(c|)\t*met(c|)\n", "2/2", "2/2"), ("", "3/8", "3/8")],
    ids=["plain", "common-time", "cut-time", "3/8"],
)
def test_parse_meter_and_key(tmp_path, met, meter, expected):
    """The meter label of a score whose time signature is drawn as a symbol (C, cut C) is still a
    fraction: Verovio encodes Humdrum's *met(c) as <meterSig sym="common"> without count or unit."""
    from pdmx_fusa.config import ParseConfig
    from pdmx_fusa.stages.parse import parse

    path = tmp_path / "piece.krn"
    path.write_text(KERN.format(met=met, meter=meter), encoding="utf-8")
    score = parse(ScoreRef("piece.krn", str(path), "folder", ""), ParseConfig())
    assert [m.meter for m in score.measures] == [expected, expected]
    assert [m.key_fifths for m in score.measures] == [-1, -1]  # one flat
    assert [(lab.meter, lab.key_fifths) for lab in score.labels] == [(expected, -1)]
    assert len(score.performance) == 2 and score.performance[0].onset == 0.0
    assert score.performance[0].polyphony == 2


@pytest.mark.parametrize("marked", ["short", "long"])
def test_a_fermata_on_either_voice_of_a_unison_holds(marked):
    """A fermata over one voice of a unison (one key, one onset), whose shorter note the timeline
    leaves no length: the expressive rendition holds the note that sounds either way."""
    from dataclasses import replace

    from pdmx_fusa.audio.midi import TempoMap
    from pdmx_fusa.records import Rendition
    from pdmx_fusa.stages.performance import perform

    def note(engraved_id, onset, offset):
        return PerformedNote(engraved_id, 0, 60, 64, 0, onset, offset, False)

    notes = (note("first", 0.0, 1.0), note("short", 1.0, 1.0), note("long", 1.0, 2.0))
    score, engraving = hand_score(["m1"], [["m1"]], notes)
    midi = Midi(notes=(), controls=(), programs=frozenset({0}), tempo=TempoMap(480, (0,), (0.0,), (1 / 960,)))
    score = replace(score, midi=midi, fermatas=frozenset({marked}))
    model = ExpressiveConfig(tempo_sd=0.0, ritardando=0.0, asynchrony_ms=0.0, phrase_arch=0.0, pedal=False)
    (visit,) = visits(score, engraving)
    played, _ = perform(score, visit, Rendition("any", 1.0, expressive=True), RenderConfig(expressive=model))
    assert played.end == pytest.approx(1.0 + 1.0 * model.fermata_hold, abs=0.01)

"""The house: the consumer side never imports the producer, torch lives in ``model/`` only, the
dataset's schema has one home that the writer, the reader and the docs follow."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO
from pdmx_fusa.build.shards import stage
from pdmx_fusa.dataset.reader import STRUCTS, Example, ExampleMeasure, ExampleNote, read_examples
from pdmx_fusa.dataset.schema import COLUMNS, MEASURE_FIELDS, NOTE_FIELDS, SCHEMA, STRUCT_FIELDS

PACKAGE = REPO / "pdmx_fusa"
CONSUMER = ("dataset", "model")


def imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    package = parts if path.name == "__init__.py" else parts[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def modules() -> dict[str, set[str]]:
    return {path.relative_to(PACKAGE).as_posix(): imports(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_the_import_reader_sees_relative_imports():
    found = imports(PACKAGE / "build" / "run.py")
    assert "pdmx_fusa.build.card" in found and "pdmx_fusa.sources" in found


def test_consumer_never_imports_the_producer():
    for name, found in modules().items():
        if name.split("/")[0] in CONSUMER:
            producer = sorted(m for m in found if m.startswith("pdmx_fusa.") and m.split(".")[1] not in CONSUMER)
            assert not producer, f"{name} imports the producer: {producer}"


def test_torch_only_in_model():
    for name, found in modules().items():
        if name.split("/")[0] != "model":
            assert not any(m == "torch" or m.startswith("torch.") for m in found), f"{name} imports torch"
    text = (REPO / "pyproject.toml").read_text()
    dependencies = text.split("[project.optional-dependencies]")[0]
    assert "torch" not in dependencies, "torch must be an extra (pdmx-fusa[train]), not a dependency of the builder"


def test_rows_must_match_the_schema(tmp_path):
    row = {name: None for name in SCHEMA.names}
    with pytest.raises(ValueError, match=r"missing \['split'\], extra \['splt'\]"):
        stage([{k if k != "split" else "splt": v for k, v in row.items()}], tmp_path / "rows.arrow")
    assert not (tmp_path / "rows.arrow").exists()


def test_docs_list_every_column():
    """docs/dataset.md's tables name the schema's columns, then the measure fields, then the note
    fields, in their order, each with the schema's meaning."""
    text = (REPO / "docs" / "dataset.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| `(\w+)` \|", text, flags=re.M)
    assert list(STRUCT_FIELDS) == ["measures", "notes"]
    assert documented == [*COLUMNS, *MEASURE_FIELDS, *NOTE_FIELDS]
    meanings = re.findall(r"^\| `\w+` \| [^|]+ \| (.+) \|$", text, flags=re.M)
    schema = [meaning for _, meaning in [*COLUMNS.values(), *MEASURE_FIELDS.values(), *NOTE_FIELDS.values()]]
    assert meanings == schema


def test_reader_follows_the_schema(default_build):
    assert [f.name for f in Example.__dataclass_fields__.values()] == [*COLUMNS, "sample_rate"]
    assert list(ExampleMeasure.__dataclass_fields__) == list(MEASURE_FIELDS)
    assert list(ExampleNote.__dataclass_fields__) == list(NOTE_FIELDS)
    assert {column: cls.__name__ for column, cls in STRUCTS.items()} == {"measures": "ExampleMeasure", "notes": "ExampleNote"}
    raw = default_build.rows["train"]
    read = list(read_examples(default_build.out, "train"))
    assert len(read) == len(raw)
    for example, row in zip(read, raw):
        assert example.score_id == row["score_id"] and example.tempo_ratio == row["tempo_ratio"]
        assert example.image.shape == (1754, default_build.cfg.engrave.width_px) and example.image.dtype.name == "uint8"
        assert example.sample_rate == default_build.cfg.render.sample_rate
        assert abs(len(example.audio) / example.sample_rate - row["duration"]) < 1e-3
        assert [m.onset for m in example.measures] == [m["onset"] for m in row["measures"]]
        assert example.measures[0].box == tuple(row["measures"][0]["box"])
        assert len(example.notes) == len(row["notes"]) > 0
        assert [(n.pitch, n.onset, n.measure, n.grace) for n in example.notes] == [
            (n["pitch"], n["onset"], n["measure"], n["grace"]) for n in row["notes"]
        ]
        assert all(type(n.grace) is bool and (n.box is None or len(n.box) == 4) for n in example.notes)
        assert example.midi == row["midi"]

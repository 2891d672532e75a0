"""The solo-piano scores that ship inside music21's corpus: the default build, nothing to download."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..config import ConfigError
from ..records import ScoreRef

# Relative to music21's corpus folder.
FILES = (
    "bach/bwv846.mxl",
    "cpebach/h186.mxl",
    "joplin/maple_leaf_rag.mxl",
    "mozart/k545/movement1_exposition.mxl",
    "schoenberg/opus19/movement2.mxl",
    "schoenberg/opus19/movement6.mxl",
    "schumann_clara/polonaise_op1n1.mxl",
    "schumann_clara/polonaise_op1n2.mxl",
    "schumann_clara/polonaise_op1n3.mxl",
    "schumann_clara/polonaise_op1n4.mxl",
    "verdi/laDonnaEMobile.mxl",
    "theoryExercises/TriadExercise.mxl",
    "demos/two-parts.xml",
)
LICENSE = "public domain (music21 corpus)"


def corpus_dir() -> Path:
    """music21's corpus folder, found without importing music21."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("source.kind 'embedded' reads music21's corpus, but music21 is not installed")
    return Path(spec.submodule_search_locations[0]) / "corpus"


def list_scores() -> list[ScoreRef]:
    corpus = corpus_dir()
    return [
        ScoreRef(score_id=f"music21/{rel}", path=str(corpus / rel), source="embedded", group="", license=LICENSE)
        for rel in FILES
    ]

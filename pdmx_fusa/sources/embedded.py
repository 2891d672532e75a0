"""The solo-piano scores that ship inside music21's corpus: the default build, nothing to download."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..config import ConfigError
from ..records import ScoreRef

# Relative to music21's corpus folder -> (title, composer). The catalogue states every file's title
# and composer, as PDMX's table does for its scores: four of the files carry neither in their own
# header. The theory exercise is unattributed ("Anonymous", the cataloguing convention).
CATALOGUE = {
    "bach/bwv846.mxl": ("Prelude in C major, BWV 846", "Johann Sebastian Bach"),
    "cpebach/h186.mxl": ("Sonata in A major, H. 186, Wq. 55/4: II. Poco adagio", "Carl Philipp Emanuel Bach"),
    "joplin/maple_leaf_rag.mxl": ("Maple Leaf Rag", "Scott Joplin"),
    "mozart/k545/movement1_exposition.mxl": ("Piano Sonata in C major, K. 545: I. Allegro (exposition)", "Wolfgang Amadeus Mozart"),
    "schoenberg/opus19/movement2.mxl": ("Six Little Piano Pieces, Op. 19: No. 2", "Arnold Schoenberg"),
    "schoenberg/opus19/movement6.mxl": ("Six Little Piano Pieces, Op. 19: No. 6", "Arnold Schoenberg"),
    "schumann_clara/polonaise_op1n1.mxl": ("Polonaise in E-flat major, Op. 1 No. 1", "Clara Schumann"),
    "schumann_clara/polonaise_op1n2.mxl": ("Polonaise in C major, Op. 1 No. 2", "Clara Schumann"),
    "schumann_clara/polonaise_op1n3.mxl": ("Polonaise in D major, Op. 1 No. 3", "Clara Schumann"),
    "schumann_clara/polonaise_op1n4.mxl": ("Polonaise in C major, Op. 1 No. 4", "Clara Schumann"),
    "verdi/laDonnaEMobile.mxl": ("Rigoletto: La donna è mobile", "Giuseppe Verdi"),
    "theoryExercises/TriadExercise.mxl": ("Triad Exercise", "Anonymous"),
    "demos/two-parts.xml": ("Sonata No. 4", "Carl Philipp Emanuel Bach"),
}
FILES = tuple(CATALOGUE)
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
        ScoreRef(score_id=f"music21/{rel}", path=str(corpus / rel), source="embedded", group="", title=title, composer=composer, license=LICENSE)
        for rel, (title, composer) in CATALOGUE.items()
    ]

"""Check a built dataset independently of how the pipeline computed it (mirdata's ``validate``).

    report = validate("build/pdmx_fusa")
    report.passed             # every check met its threshold
    print(report.text())      # figures per check; report.to_json() for machines

Four sections, each a few :class:`Check` records with figures:

- integrity (:mod:`.integrity`, :mod:`.structure`), exact: shards against schema.py, files
  against ``SHA256SUMS``, the card's split counts against the shards, no piece in two splits, and
  within each example nested boxes, contiguous times and notes inside their measures;
- image (:mod:`.image`): staff-box edges against the staff lines and barlines in the raster,
  notehead boxes against ink (px error, median <= :data:`.image.MAX_BOX_ERROR_PX`), and every
  notehead inside its measure's box;
- audio (:mod:`.onsets`): onsets detected in the audio against note and measure onsets
  (p95 |error| <= :data:`.onsets.MAX_P95_MS` ms);
- content (:mod:`.content`): each measure's audio chroma against its notes' pitch classes; fewer
  than :data:`.content.MAX_FLAGGED` of measures may sound more like a neighbour's notes.

Only this package's consumer side is used: the shards are read with pyarrow, the audio with
soundfile.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from .content import ContentChecks
from .image import ImageChecks
from .integrity import NotADataset, check_card_counts, check_checksums, check_schema, check_splits, shards
from .onsets import OnsetChecks
from .report import Check, Report
from .rows import count_rows, read_rows
from .structure import Structure

__all__ = ["Check", "NotADataset", "Report", "validate"]


def validate(path: str | Path, split: str | None = None, limit: int | None = None, progress: bool = False) -> Report:
    """Check the dataset folder ``path`` and report figures per check.

    Parameters
    ----------
    path : folder a build wrote (``data/*.parquet``, ``README.md``, ``SHA256SUMS``)
    split : run the per-example checks (structure, image, audio, content) on this split only;
        the folder-wide integrity checks always cover every split
    limit : run the per-example checks on the first ``limit`` examples only
    progress : show a progress bar over the examples

    Returns
    -------
    Report, whose ``passed`` is False when any threshold is crossed

    Raises
    ------
    NotADataset : ``path`` holds no shards, or ``split`` is none of its splits
    """
    root = Path(path)
    by_split = shards(root)
    if split is not None and split not in by_split:
        raise NotADataset(f"{root}: no split {split!r} (it has {', '.join(by_split)}); give one of those to --split")
    schema, readable = check_schema(by_split)
    checks = [schema, check_checksums(root, by_split), check_card_counts(root, readable), check_splits(readable)]
    chosen = readable if split is None else {split: readable.get(split, [])}
    accumulators = (Structure(), ImageChecks(), OnsetChecks(), ContentChecks())
    try:
        for ex in tqdm(read_rows(chosen, limit), total=count_rows(chosen, limit), unit="example", desc="validate", disable=not progress):
            for accumulator in accumulators:
                accumulator.add(ex)
    except KeyError as err:  # shards of another schema (reported by check_schema) lack a column read here
        accumulators[0].check.problem(f"column {err} missing: the per-example checks stopped")
    for accumulator in accumulators:
        checks += accumulator.finish()
    return Report(str(root), checks)

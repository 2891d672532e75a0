"""``pdmx-fusa evaluate``: the MSMD protocol, and FUSA's page retrieval, on a built dataset.

The baseline: ``pool`` snippet pairs evenly spaced over the split's candidates (2,000 by default,
as MSMD; 10,000 in the group's later work): R@1, R@5, R@10, R@25, MRR and median rank in both
directions; piece identification (the pool's excerpts of each recording vote with their top 25
snippets); the modality gap; how often a wrong top hit still has the right meter and polyphony.
The page model: the same over its page pairs (up to ``pool``), and page retrieval (each distinct
page against the audio of all page visits: R@1, R@10, MRR). The baseline retrieves pages too, by
votes: up to ``PAGE_SNIPPETS`` snippets of each page and as many excerpts of each visit, evenly
spaced, each snippet voting with its top 25 excerpts (:func:`.metrics.page_retrieval_by_votes`).
"""

from __future__ import annotations

import json
from pathlib import Path

from .data import PagePairs, SnippetPairs, evenly_spaced
from .metrics import cross_modal, modality_gap, page_retrieval, page_retrieval_by_votes, piece_identification, wrong_top_hits
from .train import TrainConfig, device_of, embed_pairs, load_model

POOL = 2000
PAGE_SNIPPETS = 32


def evaluate(checkpoint: str | Path, data: list[str | Path], *, split: str = "test", pool: int = POOL,
             device: str = "auto", workers: int = 2, batch_size: int = 100, progress: bool = True) -> dict:
    """The figures of ``checkpoint`` on ``split`` of the datasets ``data`` (a JSON-ready dict)."""
    where = device_of(device)
    model = load_model(checkpoint, where)
    dataset = (SnippetPairs if model.kind == "baseline" else PagePairs)([str(d) for d in data], split)
    indices = evenly_spaced(len(dataset), pool)
    cfg = TrainConfig(data=[str(d) for d in data], batch_size=batch_size, workers=workers, precision="fp32")
    found = embed_pairs(model, dataset, indices, cfg, where, progress, desc=f"embedding {len(indices)} {split} pairs")
    sheet, audio = found["sheet"], found["audio"]
    result = {"checkpoint": str(checkpoint), "model": model.kind, "data": [str(d) for d in data], "split": split,
              "pairs": len(indices), **cross_modal(sheet, audio), "modality_gap": modality_gap(sheet, audio),
              "wrong_top_hit_audio_to_sheet": wrong_top_hits(audio @ sheet.T, {"meter": found["meter"], "polyphony": found["polyphony"]})}
    recordings = [dataset.rows[r].rendition for r in found["row"]]
    result["piece_identification"] = piece_identification(audio, recordings, found["piece"], sheet, found["piece"])
    if model.kind == "baseline":
        result["page_retrieval"] = _pages_by_votes(model, dataset, cfg, where, progress)
    if model.kind == "fusa":
        pages = [dataset.rows[r].page_id for r in found["row"]]
        first = {page: i for i, page in reversed(list(enumerate(pages)))}
        queries = sorted(first.values())
        result["page_retrieval"] = page_retrieval(sheet[queries], [pages[i] for i in queries], audio, pages)
    return result


def _pages_by_votes(model, dataset: SnippetPairs, cfg: TrainConfig, where, progress: bool) -> dict:
    """The baseline's page retrieval: snippets of each page's first row, excerpts of every row."""
    indices = [int(dataset.starts[row]) + c for row in range(len(dataset.rows))
               for c in evenly_spaced(len(dataset.candidates[row]), PAGE_SNIPPETS)]
    found = embed_pairs(model, dataset, indices, cfg, where, progress, desc=f"embedding {len(indices)} pairs for page retrieval")
    page_of = [dataset.rows[r].page_id for r in found["row"]]
    first = {}
    for row, page in zip(found["row"], page_of):
        first.setdefault(page, row)
    snippets = [i for i, (row, page) in enumerate(zip(found["row"], page_of)) if first[page] == row]
    visits = [dataset.rows[r].key for r in found["row"]]
    return page_retrieval_by_votes(found["sheet"][snippets], [page_of[i] for i in snippets], found["audio"], visits,
                                   dict(zip(visits, page_of)))


def table(result: dict) -> str:
    """The figures as a console table."""
    lines = [f"{result['model']} on {result['split']} ({result['pairs']} pairs): {result['checkpoint']}",
             f"{'direction':<16}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'R@25':>7}{'MRR':>7}{'MR':>7}"]
    for direction in ("audio_to_sheet", "sheet_to_audio"):
        r = result[direction]
        lines.append(f"{direction:<16}" + "".join(f"{r[k]:>7.3f}" for k in ("R@1", "R@5", "R@10", "R@25", "MRR")) + f"{r['MR']:>7.1f}")
    piece = result["piece_identification"]
    lines.append(f"piece identification: {piece['recordings']} recordings, R@1 {piece['R@1']:.3f}, MRR {piece['MRR']:.3f}")
    lines.append(f"modality gap: {result['modality_gap']:.3f}")
    wrong = result["wrong_top_hit_audio_to_sheet"]
    if wrong["wrong"]:
        lines.append(f"wrong top hits (audio to sheet): {wrong['wrong']}, same meter {wrong['same_meter']:.2f}, "
                     f"same polyphony {wrong['same_polyphony']:.2f}, both {wrong['same_all']:.2f}")
    if "page_retrieval" in result:
        page = result["page_retrieval"]
        lines.append(f"page retrieval: {page['pages']} pages, R@1 {page['R@1']:.3f}, R@10 {page['R@10']:.3f}, MRR {page['MRR']:.3f}")
    return "\n".join(lines)


def write_json(result: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

"""Retrieval metrics over L2-normalised embeddings (numpy): the MSMD protocol and FUSA's page task.

A rank is 1 + the number of candidates more similar (cosine) to the query than its best correct
candidate: ties count in the query's favour.
"""

from __future__ import annotations

import numpy as np

RECALLS = (1, 5, 10, 25)


def ranks(similarity: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Rank of each query's best correct candidate.

    Parameters
    ----------
    similarity : (queries, candidates)
    correct : bool (queries, candidates), at least one True per row

    Returns
    -------
    int array (queries,), 1 = the top hit is correct
    """
    best = np.where(correct, similarity, -np.inf).max(axis=1)
    return 1 + (similarity > best[:, None]).sum(axis=1)


def summary(rank: np.ndarray, recalls: tuple[int, ...] = RECALLS) -> dict[str, float]:
    """R@k (share of ranks <= k), MRR (mean reciprocal rank) and MR (median rank)."""
    out = {f"R@{k}": float(np.mean(rank <= k)) for k in recalls}
    return out | {"MRR": float(np.mean(1.0 / rank)), "MR": float(np.median(rank))}


def cross_modal(sheet: np.ndarray, audio: np.ndarray) -> dict[str, dict[str, float]]:
    """Both directions over paired embeddings (n, d): pair i's partner is item i of the other view."""
    similarity, correct = audio @ sheet.T, np.eye(len(sheet), dtype=bool)
    return {"audio_to_sheet": summary(ranks(similarity, correct)), "sheet_to_audio": summary(ranks(similarity.T, correct))}


def modality_gap(sheet: np.ndarray, audio: np.ndarray) -> float:
    """Euclidean distance between the two views' mean embeddings."""
    return float(np.linalg.norm(sheet.mean(axis=0) - audio.mean(axis=0)))


def piece_identification(audio: np.ndarray, recordings: list[str], audio_pieces: list[str], sheet: np.ndarray,
                         sheet_pieces: list[str], top: int = 25) -> dict[str, float]:
    """Identify the piece of each recording: each of its excerpts retrieves its ``top`` snippets,
    which vote for their pieces; the recording's pieces are ranked by votes.

    Parameters
    ----------
    audio : (m, d) excerpt embeddings; ``recordings[i]`` and ``audio_pieces[i]`` name excerpt i's
        recording and its piece
    sheet : (n, d) snippet embeddings; ``sheet_pieces[j]`` names snippet j's piece

    Returns
    -------
    ``recordings``, and R@1 and MRR of the true piece's rank among the votes
    """
    names = sorted(set(sheet_pieces))
    snippet_piece = np.array([names.index(p) for p in sheet_pieces])
    hits = np.argsort(-(audio @ sheet.T), axis=1, kind="stable")[:, :top]
    recordings_arr, found = np.array(recordings), []
    for recording in sorted(set(recordings)):
        rows = np.flatnonzero(recordings_arr == recording)
        votes = np.bincount(snippet_piece[hits[rows]].ravel(), minlength=len(names))
        truth = names.index(audio_pieces[rows[0]])
        found.append(1 + int((votes > votes[truth]).sum()))
    found = np.array(found)
    return {"recordings": len(found), "R@1": float(np.mean(found == 1)), "MRR": float(np.mean(1.0 / found))}


def page_retrieval(pages: np.ndarray, page_ids: list, audio: np.ndarray, audio_page_ids: list) -> dict[str, float]:
    """Each page against the audio of all page visits (FUSA's task): R@1, R@10, MRR.

    ``page_ids[i]`` names page i; a visit is correct for the page it plays, ``audio_page_ids[j]``.
    """
    correct = np.array(page_ids, dtype=object)[:, None] == np.array(audio_page_ids, dtype=object)[None, :]
    rank = ranks(pages @ audio.T, correct)
    return {"pages": len(pages), "R@1": float(np.mean(rank == 1)), "R@10": float(np.mean(rank <= 10)),
            "MRR": float(np.mean(1.0 / rank))}


def page_retrieval_by_votes(sheet: np.ndarray, sheet_pages: list, audio: np.ndarray, audio_visits: list,
                            visit_pages: dict, top: int = 25) -> dict[str, float]:
    """Page retrieval with snippet embeddings (the baseline): each snippet of a page retrieves its
    ``top`` excerpts among those of all page visits, which vote for their visits; a page's visits
    are ranked by votes, ties broken by the mean similarity of the page's snippets to the visit's
    excerpts (which moves a score by less than half a vote).

    Parameters
    ----------
    sheet : (n, d) snippet embeddings; ``sheet_pages[i]`` names snippet i's page
    audio : (m, d) excerpt embeddings; ``audio_visits[j]`` names excerpt j's visit (one rendition)
    visit_pages : the page each visit plays

    Returns
    -------
    ``pages``, ``visits``, and R@1, R@10 and MRR of each page's best visit
    """
    pages, page_of = np.unique(np.asarray(sheet_pages, dtype=object), return_inverse=True)
    visits, visit_of = np.unique(np.asarray(audio_visits, dtype=object), return_inverse=True)
    similarity = sheet @ audio.T
    hits = np.argsort(-similarity, axis=1, kind="stable")[:, :top]
    votes = np.zeros((len(pages), len(visits)))
    np.add.at(votes, (np.repeat(page_of, hits.shape[1]), visit_of[hits].ravel()), 1)
    by_page = np.eye(len(pages))[page_of].T
    by_visit = np.eye(len(visits))[visit_of]
    mean = (by_page @ similarity @ by_visit) / np.outer(by_page.sum(1), by_visit.sum(0))
    correct = pages[:, None] == np.array([visit_pages[v] for v in visits], dtype=object)[None, :]
    rank = ranks(votes + mean / 2.001, correct)
    return {"pages": len(pages), "visits": len(visits), "R@1": float(np.mean(rank == 1)),
            "R@10": float(np.mean(rank <= 10)), "MRR": float(np.mean(1.0 / rank))}


def wrong_top_hits(similarity: np.ndarray, labels: dict[str, np.ndarray]) -> dict[str, float]:
    """Of the queries whose top hit is wrong (pair i's partner is candidate i), the share whose top
    hit still has the partner's label, for each label and for all labels at once.

    ``labels[name]`` holds candidate j's label at j (queries share their partner's labels).
    """
    top = similarity.argmax(axis=1)
    wrong = np.flatnonzero(top != np.arange(len(top)))
    out: dict[str, float] = {"wrong": len(wrong)}
    if not len(wrong):
        return out
    same = {name: values[top[wrong]] == values[wrong] for name, values in labels.items()}
    out.update({f"same_{name}": float(match.mean()) for name, match in same.items()})
    out["same_all"] = float(np.logical_and.reduce(list(same.values())).mean())
    return out

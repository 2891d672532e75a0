"""visits: the performance cut into page visits, maximal runs of performed measures on one page."""

from __future__ import annotations

from ..records import Engraving, Score, Visit
from . import Rejected


def visits(score: Score, engraving: Engraving) -> tuple[Visit, ...]:
    """Split the performance into visits: maximal runs of performed measures on one page.

    A repeat that goes back to an earlier page starts a new visit of that page; a repeat within a
    page stays in the same visit.
    """
    page_of = {m: page for page, p in enumerate(engraving.pages) for m in p.measures}
    runs: list[tuple[int, list[int]]] = []
    for i, performed in enumerate(score.performance):
        page = page_of.get(performed.engraved_id)
        if page is None:
            raise Rejected(f"visits: performed measure {performed.engraved_id} is on no engraved page")
        if runs and runs[-1][0] == page:
            runs[-1][1].append(i)
        else:
            runs.append((page, [i]))
    found, seen = [], {}
    for page, indices in runs:
        found.append(
            Visit(
                page=page,
                index=seen.get(page, 0),
                measures=tuple(indices),
                start=score.performance[indices[0]].onset,
                end=score.performance[indices[-1]].offset,
            )
        )
        seen[page] = seen.get(page, 0) + 1
    return tuple(found)

"""Image: the boxes against what the page shows, measured in the raster alone.

- Staff lines: for each horizontal edge of a staff box, the row profile of ink across the measure
  (its columns, 2 px in from each end) within half a staff space of the edge; its peak (at least
  :data:`LINE_INK` dark over two rows) is the line, its centroid over three rows the line's centre.
- Barlines: for each vertical edge, the column profile of ink over the staff's rows within half a
  staff space; a peak of at least :data:`BAR_INK` (a stroke spanning the staff) is the barline.
  Where there is none (a system's first measure without a start barline, a last measure without
  an end one) the edge is where the staff lines start or stop: the column where the profile
  crosses half its largest value in the window.
- Noteheads: the box slid by up to half its height in each direction, whole pixels; the offset
  with the most ink inside (within 0.02 of the most: ties to the smallest) is where the notehead
  is. Its length is the error; a best offset with less than :data:`NOTEHEAD_INK` of ink inside
  (no notehead near) counts as the search's diagonal.
- Placement: each notehead lies, left to right, inside the measure its note names (within
  :data:`PLACEMENT_PX`), and not within another system's staff lines: a swap of two measures'
  boxes breaks this. (A notehead may stand far above or below its own system on ledger lines.)

An edge with nothing found counts as an error of the whole search radius. Each distinct page and
set of boxes is measured once (renditions of one visit share both).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from .report import Check, spread
from .rows import Row

MAX_BOX_ERROR_PX = 2.0  # threshold: median px error of staff lines, barlines and noteheads
PLACEMENT_PX = 2.0  # a notehead's centre may lie this far outside its measure's x-range
LINE_INK = 0.6  # a staff line: its two darkest rows hold at least 0.6 of a row of ink across the measure
BAR_INK = 0.8  # a barline: its two darkest columns hold at least 0.8 of a column of ink over the staff
NOTEHEAD_INK = 0.3  # a notehead box's best position holds at least this share of ink


def _peak(profile: np.ndarray, minimum: float) -> float | None:
    """Sub-pixel centre (pixel i covers [i, i + 1)) of the strongest stroke across ``profile``: the
    index whose ink plus its darker neighbour's is largest (an anti-aliased stroke may fall on two
    pixels), if that sum is at least ``minimum``; its centroid over three pixels."""
    if not len(profile):
        return None
    padded = np.pad(profile, 1)
    mass = profile + np.maximum(padded[:-2], padded[2:])
    peak = int(mass.argmax())
    if mass[peak] < minimum:
        return None
    lo, hi = max(0, peak - 1), min(len(profile), peak + 2)
    weights = profile[lo:hi]
    return float(((np.arange(lo, hi) + 0.5) * weights).sum() / weights.sum())


def staff_line_errors(ink: np.ndarray, staff) -> list[float]:
    """Px from each horizontal edge of ``staff`` ([x0, y0, x1, y1]) to the staff line drawn there."""
    x0, y0, x1, y1 = staff
    radius = max(3.0, (y1 - y0) / 8)  # half a staff space
    cols = slice(int(np.ceil(x0)) + 2, max(int(np.ceil(x0)) + 3, int(x1) - 2))
    errors = []
    for y in (y0, y1):
        top = max(0, int(np.floor(y - radius)))
        centre = _peak(ink[top: int(np.ceil(y + radius)) + 1, cols].mean(axis=1), LINE_INK)
        errors.append(radius if centre is None else min(radius, abs(top + centre - y)))
    return errors


def barline_errors(ink: np.ndarray, staff) -> list[float]:
    """Px from each vertical edge of ``staff`` to the barline there, else to where its lines end."""
    x0, y0, x1, y1 = staff
    radius = max(3.0, (y1 - y0) / 8)
    rows = slice(int(np.ceil(y0)), int(y1) + 1)
    errors = []
    for x, inward in ((x0, 1), (x1, -1)):
        left = max(0, int(np.floor(x - radius)))
        profile = ink[rows, left: int(np.ceil(x + radius)) + 1].mean(axis=0)
        centre = _peak(profile, BAR_INK)
        if not len(profile) or profile.max() <= 0.01:
            errors.append(radius)
        elif centre is not None:
            errors.append(min(radius, abs(left + centre - x)))
        else:  # the lines start (left edge) or stop (right edge): the half-height crossing
            half = profile >= 0.5 * profile.max()
            edge = int(np.argmax(half)) if inward > 0 else len(half) - int(np.argmax(half[::-1]))
            errors.append(min(radius, abs(left + edge - x)))
    return errors


def notehead_errors(ink: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For notehead ``boxes`` (n, 4): px from each box to the position of most ink within half its
    height, and the share of ink the box holds where it is."""
    if not len(boxes):
        return np.zeros(0), np.zeros(0)
    height, width = ink.shape
    integral = np.zeros((height + 1, width + 1))
    integral[1:, 1:] = ink.cumsum(axis=0).cumsum(axis=1)
    reach = int(max(3, np.round(0.5 * np.median(boxes[:, 3] - boxes[:, 1]))))
    shifts = np.arange(-reach, reach + 1)
    dx, dy = (a.ravel() for a in np.meshgrid(shifts, shifts))
    x0, y0, x1, y1 = (np.round(boxes[:, i]).astype(int)[:, None] for i in range(4))
    xs0, xs1 = np.clip(x0 + dx, 0, width), np.clip(x1 + dx, 0, width)
    ys0, ys1 = np.clip(y0 + dy, 0, height), np.clip(y1 + dy, 0, height)
    area = np.maximum((x1 - x0) * (y1 - y0), 1)
    share = (integral[ys1, xs1] - integral[ys0, xs1] - integral[ys1, xs0] + integral[ys0, xs0]) / area
    distance = np.hypot(dx, dy)
    best = share >= share.max(axis=1, keepdims=True) - 0.02
    errors = np.where(best, distance, np.inf).min(axis=1)
    errors[share.max(axis=1) < NOTEHEAD_INK] = reach * np.sqrt(2)
    return errors, share[:, (dx == 0) & (dy == 0)][:, 0]


def misplaced_notes(measures: list[dict], notes: list[dict], systems: list) -> list[str]:
    """Notes whose notehead is not inside the measure they name (x), or lies on another system
    than that measure's (y within another system's staff lines), each notehead once."""
    found, seen = [], set()
    for n in notes:
        if n["box"] is None or not 0 <= n["measure"] < len(measures) or (n["engraved_id"], n["measure"]) in seen:
            continue
        seen.add((n["engraved_id"], n["measure"]))
        m = measures[n["measure"]]
        x, y = (n["box"][0] + n["box"][2]) / 2, (n["box"][1] + n["box"][3]) / 2
        other = [i for i, s in enumerate(systems) if s[1] <= y <= s[3] and i != m["system"]]
        if not m["box"][0] - PLACEMENT_PX <= x <= m["box"][2] + PLACEMENT_PX or other:
            found.append(f"note {n['engraved_id']} of measure {m['number']}: notehead at ({x:.0f}, {y:.0f}) "
                         f"outside its measure's box {[round(v) for v in m['box']]}")
    return found


class ImageChecks:
    """Accumulates :meth:`add` per example; :meth:`finish` gives the four image checks."""

    def __init__(self) -> None:
        self.lines: list[float] = []
        self.bars: list[float] = []
        self.heads: list[float] = []
        self.shares: list[float] = []
        self.placed = 0
        self.seen: set[str] = set()
        self.placement = Check("image", "note_placement", f"every notehead inside its measure's box (within {PLACEMENT_PX:g} px) and system")

    def add(self, ex: Row) -> None:
        row = ex.row
        boxes = {"m": [(m["box"], m["staff_boxes"], m["system"], m["number"]) for m in row["measures"]],
                 "n": [(n["box"], n["measure"]) for n in row["notes"]], "s": row["systems"]}
        key = hashlib.sha1(row["image"]["bytes"] + json.dumps(boxes).encode()).hexdigest()
        if key in self.seen:
            return
        self.seen.add(key)
        staves = {tuple(s) for m in row["measures"] for s in m["staff_boxes"]}
        for staff in sorted(staves):
            self.lines += staff_line_errors(ex.ink, staff)
            self.bars += barline_errors(ex.ink, staff)
        heads = np.array(sorted({tuple(n["box"]) for n in row["notes"] if n["box"] is not None}), dtype=float).reshape(-1, 4)
        errors, shares = notehead_errors(ex.ink, heads)
        self.heads += errors.tolist()
        self.shares += shares.tolist()
        self.placed += sum(n["box"] is not None for n in row["notes"])
        for line in misplaced_notes(row["measures"], row["notes"], row["systems"]):
            self.placement.problem(f"{ex.where}: {line}")

    def finish(self) -> list[Check]:
        checks = []
        for name, errors, counted, what in (
            ("staff_lines", self.lines, "edges", "staff-box top and bottom edges to the drawn staff lines"),
            ("barlines", self.bars, "edges", "staff-box left and right edges to the drawn barlines (or line ends)"),
            ("noteheads", self.heads, "boxes", "notehead boxes to the ink of the notehead"),
        ):
            figures = spread(errors)
            check = Check("image", name, f"median px error of {what} <= {MAX_BOX_ERROR_PX:g}",
                          figures={"median_px": figures["median"], "p95_px": figures["p95"], counted: len(errors)})
            if not errors or figures["median"] > MAX_BOX_ERROR_PX:
                check.passed = False
            checks.append(check)
        checks[-1].figures["ink_share_median"] = spread(self.shares)["median"]
        self.placement.figures.update({"noteheads": self.placed, "misplaced": self.placement.n_problems})
        return [*checks, self.placement]

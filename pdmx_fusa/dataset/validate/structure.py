"""Integrity within each example: boxes inside the page and nested (staff in measure in system),
measures contiguous in time from 0 inside the audio, each note inside the measure it names, and
labels in range. All must hold exactly (to float32 rounding)."""

from __future__ import annotations

import re

import numpy as np

from .report import Check
from .rows import Row

EPS = 1e-3  # px and s: float32 rounding of values written as float32


def _valid(box, within) -> bool:
    x0, y0, x1, y1 = box
    return x0 < x1 and y0 < y1 and within[0] - EPS <= x0 and within[1] - EPS <= y0 and x1 <= within[2] + EPS and y1 <= within[3] + EPS


class Structure:
    """Accumulates :meth:`add` per example; :meth:`finish` gives the ``structure`` check."""

    def __init__(self) -> None:
        self.check = Check("integrity", "structure",
                           "boxes inside the page and nested; measures contiguous from 0 inside the audio; notes inside their measure; labels in range")
        self.examples = self.measures = self.notes = 0

    def add(self, ex: Row) -> None:
        for problem in self.problems(ex):
            self.check.problem(f"{ex.where}: {problem}")
        self.examples += 1
        self.measures += len(ex.row["measures"])
        self.notes += len(ex.row["notes"])

    def problems(self, ex: Row) -> list[str]:
        row, (height, width) = ex.row, ex.ink.shape
        page, duration = (0, 0, width, height), len(ex.samples) / ex.rate
        measures, notes, systems = row["measures"], row["notes"], row["systems"]
        found = [f"system {box}" for box in systems if not _valid(box, page)]
        if not measures:
            return [*found, "no measures"]
        for m in measures:
            number = m["number"]
            if not _valid(m["box"], page):
                found.append(f"measure {number}: box {m['box']} outside the {width}x{height} page")
            elif not 0 <= m["system"] < len(systems) or not _valid(m["box"], systems[m["system"]]):
                found.append(f"measure {number}: box outside its system {m['system']}")
            staves = np.array(m["staff_boxes"] or np.zeros((0, 4)), dtype=float)
            if not len(staves) or not all(_valid(s, m["box"]) for s in staves):
                found.append(f"measure {number}: staff boxes {m['staff_boxes']} not inside its box")
            elif np.abs(np.r_[staves[:, :2].min(axis=0), staves[:, 2:].max(axis=0)] - m["box"]).max() > EPS:
                found.append(f"measure {number}: box is not the union of its staff boxes")
        onsets = np.array([m["onset"] for m in measures], dtype=float)
        offsets = np.array([m["offset"] for m in measures], dtype=float)
        if onsets[0] != 0 or (np.diff(onsets) < 0).any() or (offsets < onsets).any():
            found.append("measure onsets do not rise from 0 (or an offset precedes its onset)")
        if (offsets[:-1] != onsets[1:]).any():
            found.append("a measure does not end where the next begins")
        if onsets.min() < 0 or offsets.max() > duration + EPS:
            found.append(f"measure times outside the {duration:.3f} s of audio")
        if abs(row["duration"] - duration) > EPS:
            found.append(f"duration {row['duration']} but the audio lasts {duration:.3f} s")
        found += self.note_problems(notes, measures, page)
        if not -7 <= row["key_fifths"] <= 7 or not re.fullmatch(r"(\d+/\d+)?", row["meter"] or "") or row["polyphony"] < 1:
            found.append(f"labels out of range: key_fifths {row['key_fifths']}, meter {row['meter']!r}, polyphony {row['polyphony']}")
        if not 1 <= row["page"] <= row["n_pages"] or row["visit"] < 0:
            found.append(f"page {row['page']} of {row['n_pages']}, visit {row['visit']}")
        return found

    @staticmethod
    def note_problems(notes: list[dict], measures: list[dict], page: tuple) -> list[str]:
        """What is wrong with an example's notes: the first three breaches."""
        if not notes:
            return ["no notes"]
        found = []
        onsets = [n["onset"] for n in notes]
        if onsets != sorted(onsets) or [n["measure"] for n in notes] != sorted(n["measure"] for n in notes):
            found.append("notes not in onset order")
        end = measures[-1]["offset"]
        for n in notes:
            m = n["measure"]
            if not 0 <= m < len(measures):
                found.append(f"note {n['engraved_id']}: measure index {m} of {len(measures)}")
            elif not measures[m]["onset"] - EPS <= n["onset"] < measures[m]["offset"] + EPS:
                found.append(f"note {n['engraved_id']}: onset {n['onset']:.3f} s outside its measure {measures[m]['number']} "
                             f"[{measures[m]['onset']:.3f}, {measures[m]['offset']:.3f})")
            if not n["onset"] <= n["offset"] <= end + EPS or n["pitch"] <= 0 or n["velocity"] <= 0:
                found.append(f"note {n['engraved_id']}: onset {n['onset']}, offset {n['offset']}, pitch {n['pitch']}, velocity {n['velocity']}")
            if n["box"] is not None and not _valid(n["box"], page):
                found.append(f"note {n['engraved_id']}: box {n['box']} outside the page")
        return found[:3]

    def finish(self) -> list[Check]:
        self.check.figures.update({"examples": self.examples, "measures": self.measures, "notes": self.notes})
        return [self.check]

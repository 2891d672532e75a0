"""What :func:`pdmx_fusa.dataset.validate` finds: one :class:`Check` per promise, with its figures,
the threshold it was held to and a few examples of what broke it, gathered in a :class:`Report`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

SHOWN = 5  # problems quoted per check; the count says how many there were


@dataclass
class Check:
    """One promise of the dataset, checked.

    section: integrity, image, audio or content
    name: what is checked, e.g. ``checksums``
    threshold: the rule it is held to, in words
    passed: whether the figures meet the threshold
    figures: name -> number (px, ms, shares in 0..1, counts)
    problems: up to :data:`SHOWN` lines naming an example or file that breaks the promise
    n_problems: how many there were in all
    """

    section: str
    name: str
    threshold: str
    passed: bool = True
    figures: dict[str, float | int | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    n_problems: int = 0

    def problem(self, line: str) -> None:
        """Record one breach (the check then fails)."""
        self.passed = False
        self.n_problems += 1
        if len(self.problems) < SHOWN:
            self.problems.append(line)


@dataclass
class Report:
    """Every check of one dataset folder; ``passed`` when all of them did."""

    path: str
    checks: list[Check]

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def check(self, name: str) -> Check:
        """The check called ``name`` (KeyError if none is)."""
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def failed(self) -> list[str]:
        """Names of the checks that failed."""
        return [check.name for check in self.checks if not check.passed]

    def to_json(self) -> dict:
        return {"path": self.path, "passed": self.passed, "checks": [asdict(check) for check in self.checks]}

    def text(self) -> str:
        lines = [f"{self.path}: {'PASSED' if self.passed else 'FAILED: ' + ', '.join(self.failed())}"]
        for check in self.checks:
            figures = "  ".join(f"{k} {_number(v)}" for k, v in check.figures.items())
            lines.append(f"  {'ok  ' if check.passed else 'FAIL'} {check.section:<9} {check.name:<20} {figures}")
            if not check.passed:
                lines.append(f"       threshold: {check.threshold}")
            lines += [f"       - {p}" for p in check.problems]
            if check.n_problems > len(check.problems):
                lines.append(f"       ... {check.n_problems - len(check.problems)} more")
        return "\n".join(lines)


def _number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def spread(values, scale: float = 1.0) -> dict[str, float]:
    """Median and 95th percentile of ``values`` times ``scale`` (None for no values), for figures."""
    values = np.asarray(values, dtype=float) * scale
    if not len(values):
        return {"median": None, "p95": None}
    return {"median": round(float(np.median(values)), 3), "p95": round(float(np.percentile(values, 95)), 3)}

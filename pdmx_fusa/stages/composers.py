"""Composer names in one form.

Per score (:func:`clean`): whitespace collapsed, life dates dropped ("(1685 - 1750)", ", 1770-1827"),
a catalogue's inverted "Last, First" turned into "First Last". Across a build
(:func:`canonical_names`): the spellings of one surname are merged into the fullest spelling they
are all consistent with ("Mozart", "W. A. Mozart" and "Mozart, Wolfgang Amadeus" become
"Wolfgang Amadeus Mozart"), learnt from the names of the build itself, never from a list. A name
that fits two different full names ("Bach" beside "Johann Sebastian Bach" and "Carl Philipp
Emanuel Bach") is left as it is.
"""

from __future__ import annotations

import collections
import re
import unicodedata
from collections.abc import Iterable

_DATES = re.compile(r"[(\[][^()\[\]]*\d[^()\[\]]*[)\]]|,?\s*\b(?:c\.\s*)?\d{3,4}\s*[-–]\s*(?:\d{2,4})?\s*$")
_WORD = re.compile(r"[^\W_]+\.?")


def clean(name: str) -> str:
    """``name`` without life dates and extra whitespace, "Last, First" turned into "First Last"."""
    text = " ".join(_DATES.sub(" ", unicodedata.normalize("NFC", name or "")).split()).strip(" ,;")
    last, comma, first = text.partition(",")
    if comma and first.strip() and "," not in first and len(last.split()) <= 3 and not re.search(r"&|/|\band\b", text):
        text = f"{first.strip()} {last.strip()}"
    return text


def surname(name: str) -> str:
    """The lower-case ASCII surname of a :func:`clean` name (its last word); "" when it has none."""
    words = _words(name)
    return words[-1].rstrip(".") if words else ""


def canonical_names(counts: dict[str, int]) -> dict[str, str]:
    """Each cleaned name of ``counts`` (name -> number of scores) mapped to its canonical spelling.

    A name's given names (the words before its surname; an initial matches a word it begins)
    must appear, in order, among those of every fuller name it is merged into; of the fullest
    names it fits, all must be one name up to accents, spelt as most scores spell it (then the
    longer, then the first in code-point order).
    """
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for name in counts:
        if surname(name):
            groups[surname(name)].append(name)
    mapping = {}
    for names in groups.values():
        given = {name: _words(name)[:-1] for name in names}
        for name in names:
            fits = [other for other in names if _fits(given[name], given[other])]
            fullest = [f for f in fits if not any(_fits(given[f], given[g]) and not _fits(given[g], given[f]) for g in fits)]
            if len({tuple(given[f]) for f in fullest}) == 1:
                mapping[name] = min(fullest, key=lambda f: (-counts[f], -len(f), f))
    return {name: mapping.get(name, name) for name in counts}


def _words(name: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return _WORD.findall(folded)


def _fits(short: list[str], full: list[str]) -> bool:
    """Every word of ``short`` matches a word of ``full``, in order (an initial "w." matches "wolfgang")."""
    rest = iter(full)
    return all(any(w == f or (w.endswith(".") and f.startswith(w[:-1])) or (len(w) == 1 and f.startswith(w)) for f in rest) for w in short)

"""The performed order of a score's measures: repeats, voltas and jumps unfolded.

Conventions (those of common practice; where sources disagree, the choice is named):

- **Repeats.** A backward repeat sends the music back to its forward repeat: forward repeats are
  matched to backward repeats like brackets (the nearest unmatched forward before it), so
  ``|: A |: B :| C :|`` nests and plays A B B C A B B C (the inner repeat is taken again on
  every pass of the outer one). A backward repeat with no forward repeat left to match goes
  back to the measure after the previous repeated section (with its voltas), or to the first
  measure. The section is played ``times`` times (default 2), or as many times as its highest
  volta number, if that is more ("1, 2" and 3 make three passes).
- **Voltas.** The voltas of a section are the run of consecutive measures with endings around
  its backward repeat (a second ending runs on after it). On pass ``p`` a measure of that run is
  played only if its numbers include ``p``. A first ending with no second ending is therefore
  played on pass 1 and skipped on pass 2, which goes straight on to the measure after it
  (MuseScore's reading; Verovio 6.4 instead skips the whole repeat). Measures with endings that
  belong to no repeated section are played once, like any other.
- **D.C. and D.S.** After the measure that holds the mark is played (on the last pass of any
  section it is in, and after its own backward repeat is taken), the music jumps to the first
  measure (D.C.) or to the last segno measure at or before the mark (D.S.; a D.S. with no segno
  before it is ignored), of those with the segno's name where the D.S. names one that is written
  before it (Sibelius and Dorico write ``<sound dalsegno="segno2"/>``; MuseScore 3 names every
  segno "segno"). Each mark jumps once. **After a jump no repeat is taken again**, as is
  the usual convention: every repeated section is then played once, as on its last pass, so a
  first ending is skipped and the last ending played.
- **al Fine, al Coda.** After a jump, the music stops at the end of the first Fine measure
  played, and at each To Coda measure played it jumps (once per To Coda) to the first coda measure
  after it, of those with the coda's name where the To Coda names one that follows it (a D.S. al
  Coda, then a D.C. al Coda 2). The words "al Fine" / "al Coda" need not be written: MusicXML's ``<sound>`` never
  says them, so a Fine or a To Coda is honoured after any D.C. or D.S. (A score that writes its
  To Coda as a plain coda mark has it read as one by :mod:`.musicxml`.) Before any jump, Fine,
  To Coda and coda marks do nothing (a Fine without D.C. or D.S. is ignored).

A score with none of these plays each measure once, in order. The output never exceeds
``max(10000, 20 * len(measures))`` measures (a guard against absurd ``times``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .musicxml import XmlMeasure

_MAX_PASSES = 100


@dataclass(frozen=True)
class _Section:
    start: int  # the first measure of the repeated section
    last: int  # its last measure, voltas included
    run: tuple[int, int] | None  # first and last measure of its voltas, if any
    backs: frozenset[int]  # the backward repeats that send back to ``start``
    passes: int


def unfold(measures: tuple[XmlMeasure, ...]) -> tuple[tuple[int, int], ...]:
    """The performed order: (measure index, pass) pairs, following repeats (times), voltas, D.C.
    and D.S. (jumping back once, after which repeats are not taken again), al Fine and al Coda
    (see the module docstring). ``pass`` counts the times that measure has been played so far,
    this one included: 1 the first time, 2 the second... In a plain repeat it is the pass through
    the section; after a D.C. it counts on (a measure repeated before the D.C. is played a third
    time as pass 3), so every pair is distinct. A score with no repeats or jumps plays each
    measure once, in order: ``((0, 1), (1, 1), ...)``."""
    n = len(measures)
    if n == 0:
        return ()
    sections = _sections(measures)
    containing: list[list[_Section]] = [[] for _ in range(n)]
    for section in sorted(sections, key=lambda s: (s.start, -s.last)):  # outermost first
        for i in range(section.start, section.last + 1):
            containing[i].append(section)
    segnos = [i for i, m in enumerate(measures) if m.segno]
    codas = [i for i, m in enumerate(measures) if m.coda]
    tocodas = {i for i, m in enumerate(measures) if m.tocoda}

    limit = max(10_000, 20 * n)
    played = [0] * n
    out: list[tuple[int, int]] = []
    active: list[list] = []  # [section, pass], outermost first
    jumped = False
    fired: set[int] = set()  # the D.C. and D.S. measures that have jumped
    coda_fired: set[int] = set()  # the To Coda measures that have jumped
    i = 0
    while 0 <= i < n and len(out) < limit:
        active = [entry for entry in active if entry[0].start <= i <= entry[0].last]
        for section in containing[i]:
            if all(entry[0] is not section for entry in active):
                active.append([section, section.passes if jumped else 1])
        active.sort(key=lambda entry: (entry[0].start, -entry[0].last))
        m = measures[i]
        if m.endings:
            current = next((p for section, p in reversed(active) if section.run and section.run[0] <= i <= section.run[1]), None)
            if current is not None and current not in m.endings:
                i += 1
                continue
        played[i] += 1
        out.append((i, played[i]))
        if jumped and m.fine:
            break
        if m.repeat_backward and not jumped:
            target = None
            for k in range(len(active) - 1, -1, -1):
                section, p = active[k]
                if i in section.backs:
                    if p < section.passes:
                        active[k][1] = p + 1
                        del active[k + 1 :]
                        target = section.start
                    break
            if target is not None:
                i = target
                continue
        if (m.dacapo or m.dalsegno) and i not in fired and (m.endings or all(p >= s.passes for s, p in active)):
            target = 0 if m.dacapo else _segno(measures, segnos, i)
            if target is not None:
                fired.add(i)
                jumped = True
                active = []
                i = target
                continue
        if jumped and i in tocodas and i not in coda_fired:
            target = _coda(measures, codas, i)
            if target is not None:
                coda_fired.add(i)
                active = []
                i = target
                continue
        i += 1
    return tuple(out)


def _named(measure: XmlMeasure, kind: str) -> set[str]:
    return {name for mark, name in measure.names if mark == kind}


def _segno(measures: tuple[XmlMeasure, ...], segnos: list[int], i: int) -> int | None:
    """Where the D.S. of measure ``i`` goes: the last segno at or before it, of those it names."""
    before = [s for s in segnos if s <= i]
    wanted = _named(measures[i], "dalsegno")
    named = [s for s in before if wanted & _named(measures[s], "segno")]
    return max(named or before, default=None)


def _coda(measures: tuple[XmlMeasure, ...], codas: list[int], i: int) -> int | None:
    """Where the To Coda of measure ``i`` goes: the first coda after it, of those it names."""
    after = [c for c in codas if c > i]
    wanted = _named(measures[i], "tocoda")
    named = [c for c in after if wanted & _named(measures[c], "coda")]
    return min(named or after, default=None)


def _sections(measures: tuple[XmlMeasure, ...]) -> list[_Section]:
    """The repeated sections, in the order of their closing backward repeats."""
    n = len(measures)
    forwards: list[int] = []  # forward repeats not yet matched
    absorbed: set[int] = set()  # backward repeats inside an earlier section's voltas
    sections = []
    previous_last = -1
    for i, m in enumerate(measures):
        if m.repeat_forward:
            forwards.append(i)
        if not m.repeat_backward or i in absorbed:
            continue
        start = forwards.pop() if forwards else previous_last + 1
        run = None
        if m.endings:
            first = last = i
            while first - 1 >= start and measures[first - 1].endings:
                first -= 1
            while last + 1 < n and measures[last + 1].endings and not measures[last + 1].repeat_forward:
                last += 1
            run = (first, last)
        end = run[1] if run else i
        backs = frozenset(j for j in range(i, end + 1) if measures[j].repeat_backward)
        absorbed |= backs
        highest = max((e for j in range(run[0], run[1] + 1) for e in measures[j].endings), default=0) if run else 0
        passes = min(max(max(measures[j].times for j in backs), highest, 1), _MAX_PASSES)
        sections.append(_Section(start, end, run, backs, passes))
        previous_last = max(previous_last, end)
    return sections

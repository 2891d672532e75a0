"""Verovio's timemap in the order it is played, whatever Verovio's fractions did to it.

Shared by ``parse`` (measure times, and the clock of the MIDI) and anything else that reads the
timemap (the notes' engraved ids), so that all of them see the same events at the same times.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import verovio

from .notes import MEI, XML_ID


def played_timemap(toolkit: verovio.toolkit, mei: ET.Element) -> tuple[list[dict], bool]:
    """Verovio's timemap (measures and rests included) in played order, and whether its quarter
    positions (``qstamp``) are Verovio's own.

    Verovio keeps score time as 32-bit fractions of a whole note. Tuplets whose notes do not fill
    whole beats (MuseScore's hidden playback voices of trills and turns, often 5:3 or 7:4 with a
    rest of a few ticks) give measures lengths like 4 + 587/1280 quarters; a few such measures with
    different denominators and the fractions overflow (so their values show; Verovio 6.4.1).
    First their comparison, by which Verovio orders the timemap: the list comes out of order (some entries far from their place), although
    every entry is right. Later, once numerators grow (from a few hundred quarters on, sooner
    with more such measures), their sums: score time jumps, even below zero, while real time
    (``tstamp``, kept apart) stays right; Verovio's MIDI, written in score time, then has
    negative delta times ("number too large to convert to VLV") and its notes land hours off.
    A negative tempo mark (invalid MusicXML) instead makes real time run backwards.

    So: entries are sorted by score time; when real time also never decreases along them, that
    is the performance, with Verovio's positions. A negative tempo plays at the tempo before it
    (as Verovio treats a tempo of 0), real time rebuilt over it. Otherwise score time is what
    broke: entries are sorted by real time, and each ``qstamp`` replaced by real time on a
    120 bpm grid (``tstamp / 500``): ``False`` is returned, and Verovio's MIDI is not to be used.
    There the real time of a measure's start can break too while its notes' stays right (asap
    Ravel, Alborada del gracioso: measures 71 to 96 start about 124 s after their first notes,
    which the sort then gave to measure 70): a measure starts at the latest with its first note
    or rest (``mei``: the toolkit's MEI, parsed, tells whose they are).
    Entries are copies; the ``qstamp`` of an entry is what a clock must map to its time."""
    events = sorted(toolkit.renderToTimemap({"includeMeasures": True, "includeRests": True}), key=lambda e: e["qstamp"])
    if not events or events[0]["qstamp"] < 0:
        return _by_real_time(events, mei), False
    if all(a["tstamp"] <= b["tstamp"] for a, b in zip(events, events[1:])):
        return events, True
    if any(e.get("tempo", 1) < 0 for e in events):
        return _forwards(events), True
    return _by_real_time(events, mei), False


def _by_real_time(events: list[dict], mei: ET.Element) -> list[dict]:
    first: dict[str, float] = {}  # measure id -> real time of its first note or rest
    owner = {element.get(XML_ID): measure.get(XML_ID) for measure in mei.iter(MEI + "measure") for element in measure.iter()}
    for event in events:
        for element in event.get("on", ()):
            notated, rendition, n = element.partition("-rend")  # a repeat's later pass: "<id>-rend2", its measure's too
            measure = owner.get(notated)
            if measure is not None:
                measure += rendition + n
                if event["tstamp"] < first.get(measure, float("inf")):
                    first[measure] = event["tstamp"]
    events = [{**e, "tstamp": min(e["tstamp"], first.get(e["measureOn"], e["tstamp"]))} if "measureOn" in e else e
              for e in events]
    ordered = sorted(events, key=lambda e: (e["tstamp"], "measureOn" not in e, e["qstamp"]))  # a measure before its notes
    return [{**e, "qstamp": e["tstamp"] / 500} for e in ordered]


def _forwards(events: list[dict]) -> list[dict]:
    """Events in score order with real time rebuilt where it runs backwards, at the last forward tempo."""
    out, time, rate = [events[0]], events[0]["tstamp"], 500.0  # ms per quarter: 120 bpm until one is seen
    for before, event in zip(events, events[1:]):
        step, quarters = event["tstamp"] - before["tstamp"], event["qstamp"] - before["qstamp"]
        if step >= 0:
            rate = step / quarters if step and quarters > 0 else rate
        else:
            step = quarters * rate
        time += step
        out.append({**event, "tstamp": time})
    return out

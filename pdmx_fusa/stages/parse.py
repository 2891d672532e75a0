"""parse: load a score with Verovio once and take from it everything later stages need."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import verovio

from ..config import ParseConfig
from ..audio.midi import Midi, read_midi
from ..records import Measure, PageLabels, Performed, Score, ScoreRef
from . import Rejected
from .container import check_container

MEI = "{http://www.music-encoding.org/ns/mei}"
RESOURCES = str(Path(verovio.__file__).parent / "data")
METER_SYMBOLS = {"common": "4/4", "cut": "2/2"}
_MEASURE_IN_SVG = re.compile(r'<g id="([^"]+)" class="measure')

verovio.enableLog(verovio.LOG_OFF)  # its warnings would flood the progress bar; reasons are ours


def new_toolkit(cfg: ParseConfig) -> verovio.toolkit:
    """A Verovio toolkit with the pipeline's layout options."""
    toolkit = verovio.toolkit(False)
    toolkit.setResourcePath(RESOURCES)  # not the process default, which some hosts (Dask workers) lose
    toolkit.setOptions(
        {
            "xmlIdSeed": 1,  # the same ids on every run
            "pageWidth": cfg.page_width,
            "pageHeight": cfg.page_height,
            "scale": cfg.scale,
            "adjustPageHeight": False,
            "footer": "none",
        }
    )
    return toolkit


def parse(ref: ScoreRef, cfg: ParseConfig) -> Score:
    """Load ``ref`` with Verovio, lay it out in pages, and read its measures, timing and MIDI."""
    check_container(Path(ref.path))
    toolkit = new_toolkit(cfg)
    if not toolkit.loadFile(ref.path):
        raise Rejected("Verovio could not load the file (unreadable, or not a format it knows)")
    pages = toolkit.getPageCount()
    if pages == 0:
        raise Rejected("Verovio laid out no page (no music in the file)")
    if pages > cfg.max_pages:
        raise Rejected(f"too long: {pages} pages (limit {cfg.max_pages})")
    head, measures = _read_mei(toolkit.getMEI(), cfg)
    svgs = tuple(toolkit.renderToSVG(page) for page in range(1, pages + 1))
    page_of = {m: page for page, svg in enumerate(svgs) for m in _MEASURE_IN_SVG.findall(svg)}
    measures = tuple(Measure(m.id, m.number, page_of.get(m.id, -1), m.key_fifths, m.meter) for m in measures)
    midi = read_midi(base64.b64decode(toolkit.renderToMIDI()))
    performance, duration = _perform(toolkit, midi, cfg)
    return Score(
        ref=ref,
        title=ref.title or head.get("title", ""),
        composer=ref.composer or head.get("composer", ""),
        svgs=svgs,
        measures=measures,
        performance=performance,
        labels=_labels(measures, performance, pages),
        midi=midi,
        duration=duration,
    )


def _read_mei(mei: str, cfg: ParseConfig) -> tuple[dict[str, str], list[Measure]]:
    """Title, composer, and every measure with the key and meter in effect, in document order."""
    root = ET.fromstring(mei)
    head = _head(root)
    staves = {s.get("n") for s in root.iterfind(f".//{MEI}staffDef")}
    if len(staves) > cfg.max_staves:
        raise Rejected(f"not piano-like: {len(staves)} staves (limit {cfg.max_staves})")
    key, meter, measures = 0, "", []
    for element in root.iter():
        tag = element.tag.removeprefix(MEI)
        if tag in ("scoreDef", "staffDef", "keySig") and (sig := element.get("key.sig" if tag != "keySig" else "sig")):
            key = _fifths(sig, key)
        prefix = "" if tag == "meterSig" else "meter."
        if tag in ("scoreDef", "staffDef", "meterSig") and (element.get(f"{prefix}count") or element.get(f"{prefix}sym")):
            count, unit = element.get(f"{prefix}count"), element.get(f"{prefix}unit", "")
            meter = f"{count}/{unit}" if count else METER_SYMBOLS.get(element.get(f"{prefix}sym"), meter)
        elif tag == "measure":
            measures.append(Measure(element.get("{http://www.w3.org/XML/1998/namespace}id"), element.get("n", ""), -1, key, meter))
    return head, measures


def _head(root: ET.Element) -> dict[str, str]:
    """Title and composer from the MEI header, else from the first page's centred and right-aligned
    header lines (where Verovio puts MusicXML credits)."""
    def text(element: ET.Element | None) -> str:
        return " ".join("".join(element.itertext()).split()) if element is not None else ""

    head = {
        "title": text(root.find(f".//{MEI}meiHead//{MEI}titleStmt/{MEI}title")),
        "composer": text(root.find(f".//{MEI}meiHead//{MEI}composer"))
        or next((text(p) for p in root.iterfind(f".//{MEI}meiHead//{MEI}persName") if p.get("role") == "composer"), ""),
    }
    for rend in root.iterfind(f".//{MEI}pgHead/{MEI}rend"):
        field = {"center": "title", "right": "composer"}.get(rend.get("halign", ""))
        if field and not head[field]:
            head[field] = text(rend)
    return head


def _fifths(sig: str, current: int) -> int:
    if sig == "0":
        return 0
    count, accidental = sig[:-1], sig[-1:]
    if count.isdigit() and accidental in ("s", "f"):
        return int(count) if accidental == "s" else -int(count)
    return current


def _perform(toolkit: verovio.toolkit, midi: Midi, cfg: ParseConfig) -> tuple[tuple[Performed, ...], float]:
    """Performed measures (repeats unfolded) timed by the MIDI's tempo map, and the score's end."""
    if not midi.notes:
        raise Rejected("no notes")
    foreign = sorted(midi.programs - set(cfg.piano_programs))
    if foreign:
        raise Rejected(f"not piano-like: MIDI program {foreign[0]} is not a piano")
    timemap = toolkit.renderToTimemap({"includeMeasures": True, "includeRests": True})
    starts, polyphony, active = [], [], 0
    for event in timemap:
        active -= len(event.get("off", ()))
        if "measureOn" in event:
            starts.append((event["measureOn"], midi.tempo.seconds_at_quarter(event["qstamp"])))
            polyphony.append(0)
        active += len(event.get("on", ()))
        if polyphony:
            polyphony[-1] = max(polyphony[-1], active)
    if len(starts) > cfg.max_measures:
        raise Rejected(f"too long: {len(starts)} performed measures (limit {cfg.max_measures})")
    end = max(midi.tempo.seconds_at_quarter(timemap[-1]["qstamp"]), max(n.offset for n in midi.notes))
    if abs(end - timemap[-1]["tstamp"] / 1000) > 1 + 0.01 * end:
        raise Rejected(f"Verovio's MIDI and timemap disagree: the MIDI ends at {end:.1f} s, the timemap at {timemap[-1]['tstamp'] / 1000:.1f} s")
    if end > cfg.max_duration_s:
        raise Rejected(f"too long: {end:.0f} s of music (limit {cfg.max_duration_s:.0f} s)")
    for (_, before), (measure_id, onset) in zip(starts, starts[1:]):
        if onset < before:
            raise Rejected(f"Verovio's timemap runs backwards: measure {measure_id} at {onset:.2f} s after one at {before:.2f} s")
    ends = [onset for _, onset in starts[1:]] + [end]
    performed = tuple(
        Performed(toolkit.getNotatedIdForElement(measure_id), onset, offset, voices)
        for (measure_id, onset), offset, voices in zip(starts, ends, polyphony)
    )
    return performed, end


def _labels(measures: tuple[Measure, ...], performance: tuple[Performed, ...], pages: int) -> tuple[PageLabels, ...]:
    """Per page: the most common key and meter among its measures, the highest polyphony played on it."""
    page_of = {m.id: m.page for m in measures}
    labels = []
    for page in range(pages):
        on_page = [m for m in measures if m.page == page]
        keys = Counter(m.key_fifths for m in on_page)
        meters = Counter(m.meter for m in on_page)
        voices = [p.polyphony for p in performance if page_of.get(p.engraved_id) == page]
        labels.append(
            PageLabels(
                key_fifths=keys.most_common(1)[0][0] if keys else 0,
                meter=meters.most_common(1)[0][0] if meters else "",
                polyphony=max(voices, default=0),
            )
        )
    return tuple(labels)

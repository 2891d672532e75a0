"""parse: load a score with Verovio once and take from it everything later stages need."""

from __future__ import annotations

import base64
import bisect
import contextlib
import os
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from pathlib import Path

import verovio

from ..config import ParseConfig
from ..audio.midi import Midi, Note, TempoMap, read_midi
from ..records import Measure, PageLabels, Performed, Score, ScoreRef
from ..timing.musicxml import read_musicxml, score_bytes
from . import Rejected
from .container import check_container
from .dynamics import score_marks
from .header import title_and_composer
from .notes import XML_ID, notes_midi, perform_notes, read_engraved, timemap_notes
from .timemap import played_timemap
from .tremolos import read_tremolos
from .voices import read_layers

MEI = "{http://www.music-encoding.org/ns/mei}"
RESOURCES = str(Path(verovio.__file__).parent / "data")
METER_SYMBOLS = {"common": "4/4", "cut": "2/2"}
_MEASURE_IN_SVG = re.compile(r'<g id="([^"]+)" class="measure')
_DECLARED_ENCODING = re.compile(r'^(<\?xml[^>]*?encoding\s*=\s*)(["\'])[^"\']*\2')
_DECLARATION = re.compile(rb'^<\?xml[^>]*?encoding\s*=\s*["\']([A-Za-z0-9._:-]+)["\']')

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


def load(toolkit: verovio.toolkit, path: str) -> bool:
    """Load the score file ``path`` into ``toolkit``; whether it loaded. Text Verovio would refuse
    or misread is handed to it as UTF-8 text without a byte order mark: it refuses UTF-8 with one,
    reads UTF-16 (some Finale and Sibelius exports) only from a plain file with a byte order mark,
    and reads any other declared encoding (ISO-8859-1, windows-1252) as if it were UTF-8."""
    text = _utf8_text(score_bytes(Path(path)))
    return toolkit.loadData(text) if text is not None else toolkit.loadFile(path)


def _utf8_text(data: bytes | None) -> str | None:
    """``data`` decoded, its XML declaration then saying UTF-8, if Verovio would not read it as it
    is: UTF-8 with a byte order mark, UTF-16 (by its byte order mark or by how ``<?`` is written),
    else XML in the encoding its declaration names. None for plain UTF-8 or ASCII, and for what
    does not decode."""
    if not data:
        return None
    if data[:3] == b"\xef\xbb\xbf":  # UTF-8 with a byte order mark, which Verovio refuses
        codec = "utf-8-sig"
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16"
    elif data[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        codec = "utf-16-le" if data[0] else "utf-16-be"
    else:
        declared = _DECLARATION.match(data)
        codec = declared.group(1).decode("ascii") if declared else "utf-8"
        if codec.lower().replace("_", "-") in ("utf-8", "utf8", "us-ascii", "ascii"):
            return None
    try:
        text = data.decode(codec).lstrip("\ufeff \t\r\n")  # Verovio refuses XML that starts with a blank
    except (LookupError, UnicodeDecodeError):
        return None
    return _DECLARED_ENCODING.sub(r'\1"UTF-8"', text, count=1)


def parse(ref: ScoreRef, cfg: ParseConfig) -> Score:
    """Load ``ref`` with Verovio, lay it out in pages, and read its measures, timing and MIDI."""
    check_container(Path(ref.path))
    toolkit = new_toolkit(cfg)
    if not load(toolkit, ref.path):
        raise Rejected("Verovio could not load the file (unreadable, or not a format it knows)")
    pages = toolkit.getPageCount()
    if pages == 0:
        raise Rejected("Verovio laid out no page (no music in the file)")
    if pages > cfg.max_pages:
        raise Rejected(f"too long: {pages} pages (limit {cfg.max_pages})")
    mei = ET.fromstring(toolkit.getMEI())
    head, measures = _read_mei(mei, cfg)
    svgs = tuple(toolkit.renderToSVG(page) for page in range(1, pages + 1))
    page_of = {m: page for page, svg in enumerate(svgs) for m in _MEASURE_IN_SVG.findall(svg)}
    measures = tuple(replace(m, page=page_of.get(m.id, -1)) for m in measures)
    performance, duration, midi, timemap = _perform(toolkit, mei, _midi(toolkit), cfg)  # midi: repaired where Verovio's is off
    if _unplayed(measures, performance) and read_musicxml(ref.path) is not None:
        # Verovio's playback skips measures of this MusicXML (endings it cannot number): play it
        # through, every measure once; the timeline stage lays out the MusicXML's own order
        toolkit = new_toolkit(cfg)
        toolkit.setOptions({"expandNever": True})
        load(toolkit, ref.path)
        mei = ET.fromstring(toolkit.getMEI())
        performance, duration, midi, timemap = _perform(toolkit, mei, _midi(toolkit), cfg)
    # every MIDI note with its engraved note, on the clock of the timemap the measures were read from
    notes = perform_notes(toolkit, mei, midi, performance, timemap)
    layers = read_layers(mei, timemap, midi.tempo, performance)
    measures = tuple(replace(m, layers=layers.get(m.id, ())) for m in measures)
    # velocities from the marks (what the MIDI below plays and the notes column carries), and fermatas
    notes, fermatas = score_marks(mei, notes, performance, ref.score_id, cfg)
    title, composer = title_and_composer(ref, head)
    return Score(
        ref=ref,
        title=title,
        composer=composer,
        svgs=svgs,
        measures=measures,
        performance=performance,
        notes=notes,
        labels=page_labels(measures, performance, pages),
        midi=notes_midi(midi, notes),  # exactly the notes of ``notes``: one source of time
        duration=duration,
        fermatas=fermatas,
        tremolos=read_tremolos(mei),
    )


def _midi(toolkit: verovio.toolkit) -> Midi:
    with _quiet_stderr():  # its MIDI writer prints an error per overflowing delta time, repaired by _perform
        return read_midi(base64.b64decode(toolkit.renderToMIDI()))


def _unplayed(measures: tuple[Measure, ...], performance: tuple[Performed, ...]) -> bool:
    """Whether a measure with music on a page is missing from Verovio's performance."""
    played = {p.engraved_id for p in performance}
    return any(m.id not in played and m.page >= 0 for m in measures)


@contextlib.contextmanager
def _quiet_stderr():
    """Send what C++ code writes to the process's stderr (file descriptor 2) to /dev/null meanwhile."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _read_mei(root: ET.Element, cfg: ParseConfig) -> tuple[dict[str, str], list[Measure]]:
    """Title, composer, and every measure with the key and meter in effect, in document order."""
    head = _head(root)
    group = root.find(f".//{MEI}scoreDef/{MEI}staffGrp")
    parts = _parts(group) if group is not None else 0
    if parts > cfg.max_parts:
        raise Rejected(f"not piano-like: {parts} parts (limit {cfg.max_parts})")
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
        elif tag == "multiRest" and measures and (count := element.get("num", "")).isdigit() and int(count) > 1:
            measures[-1] = replace(measures[-1], written=int(count))  # one engraved measure for several written
    return head, measures


def _parts(group: ET.Element) -> int:
    """The parts (instruments) of a staff group, however many staves each has.

    A group with nothing labelled inside it is one part when it is labelled or names its
    instrument itself, or is braced: a MusicXML part on 2, 3 or 4 staves (Verovio makes it a
    braced group, labelled with the part name if there is one), a Humdrum or MEI piano. Otherwise
    every group and staff in it counts on its own (the labelled staves of a choir or an ensemble,
    a bracket over named instruments, unlabelled single staves side by side), except that
    adjacent staves naming the same instrument under the same label are one part (Humdrum's
    ``*Ipiano`` on each staff of a piano beside other instruments)."""
    inner_labels = any(True for child in group if child.tag != f"{MEI}label" for _ in child.iter(f"{MEI}label"))
    own = {child.tag.removeprefix(MEI) for child in group}
    braced = group.get("symbol") == "brace" or any(s.get("symbol") == "brace" for s in group.iterfind(f"{MEI}grpSym"))
    if not inner_labels and (braced or own & {"label", "instrDef"}):
        return 1
    count, previous = 0, None
    for child in group:
        if child.tag == f"{MEI}staffGrp":
            count, previous = count + _parts(child), None
        elif child.tag == f"{MEI}staffDef":
            instrument = _instrument(child)
            count += not (instrument is not None and instrument == previous)
            previous = instrument
    return count


def _instrument(staff_def: ET.Element) -> tuple[str, str, str] | None:
    """The label and the instrument a staff names; None when it names no instrument."""
    instrument = staff_def.find(f"{MEI}instrDef")
    if instrument is None:
        return None
    label = staff_def.find(f"{MEI}label")
    text = " ".join("".join(label.itertext()).split()) if label is not None else ""
    return text, instrument.get("midi.instrnum", ""), instrument.get("midi.instrname", "")


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


def _perform(
    toolkit: verovio.toolkit, mei: ET.Element, midi: Midi, cfg: ParseConfig
) -> tuple[tuple[Performed, ...], float, Midi, list[dict]]:
    """Performed measures (repeats unfolded), the score's end, the MIDI that times them (one clock
    for the rows and the audio), and the played timemap they were read from (``mei``: the
    toolkit's MEI, parsed). That is Verovio's MIDI unless it disagrees with Verovio's
    timemap, which is then the clock (see :func:`played_timemap` and :func:`_one_clock`)."""
    if not midi.notes:
        raise Rejected("no notes")
    foreign = sorted(midi.programs - set(cfg.piano_programs))
    if foreign:
        raise Rejected(f"not piano-like: MIDI program {foreign[0]} is not a piano")
    timemap, trusted = played_timemap(toolkit, mei)
    if not timemap:
        raise Rejected("Verovio's timemap is empty")
    midi = _one_clock(toolkit, midi, timemap, trusted)
    starts, polyphony, active = [], [], 0
    for event in timemap:
        active -= len(event.get("off", ()))
        if "measureOn" in event:
            starts.append((event["measureOn"], midi.tempo.seconds_at_quarter(event["qstamp"])))
            polyphony.append(0)
        active += len(event.get("on", ()))
        if polyphony:
            polyphony[-1] = max(polyphony[-1], active)
    last = midi.tempo.seconds_at_quarter(timemap[-1]["qstamp"])
    end = max(last, max(n.offset for n in midi.notes))
    if end - last > 1 + 0.01 * end:  # notes the timemap does not know: nothing left to trust
        raise Rejected(f"Verovio's MIDI and timemap disagree: the MIDI ends at {end:.1f} s, the timemap at {last:.1f} s")
    ends = [onset for _, onset in starts[1:]] + [end]
    performed = tuple(
        Performed(toolkit.getNotatedIdForElement(measure_id), onset, offset, voices)
        for (measure_id, onset), offset, voices in zip(starts, ends, polyphony)
    )
    return performed, end, midi, timemap


CLOCK_TOLERANCE = 0.02  # seconds: a MIDI this close to the timemap at every event agrees with it
VEROVIO_VELOCITY = 90  # what Verovio's MIDI plays a note without @vel at
AGREEING = 0.98  # share of its notes a MIDI must share with the timemap to be kept on the timemap's clock


def _one_clock(toolkit: verovio.toolkit, midi: Midi, timemap: list[dict], trusted: bool) -> Midi:
    """``midi`` if it agrees with ``timemap`` at every event; else a MIDI that does.

    Verovio writes tempos as 24-bit microseconds per quarter and overflows on slow ones: below
    3.58 bpm the value wraps around (2 bpm plays at 4.5 bpm, 1 bpm at 6.2, a negative tempo at
    some other), while the timemap is right. Its notes then keep their ticks,
    and the tempo map becomes the timemap's own (quarter position, time) pairs. Where the ticks
    cannot be recovered (a tempo that wrapped to 0) or score time broke (:func:`played_timemap`),
    the notes are taken from the timemap itself: each played note from its onset to its end, a
    tie's continuation extending its first note, with the pitch and velocity Verovio gives it.
    Where Verovio's MIDI has those notes at those times after all (score time broke only at a few
    events, as at the very end: 99.9 % of the notes agree, where a broken MIDI has none),
    Verovio's notes and pedalling are kept on that clock, as their pitches are its own (octave
    lines included); otherwise pedalling is lost."""
    tempo = midi.tempo
    if trusted and all(abs(tempo.seconds_at_quarter(e["qstamp"]) - e["tstamp"] / 1000) <= CLOCK_TOLERANCE for e in timemap):
        return midi
    tempo = _tempo_through(timemap, midi.tempo.ppq)
    if trusted and (retimed := _retimed(midi, tempo)):
        return retimed
    rebuilt = _midi_from_timemap(toolkit, midi, timemap, tempo)
    return replace(midi, tempo=tempo) if _agreeing(midi.notes, rebuilt.notes) >= AGREEING else rebuilt


def _agreeing(notes: tuple[Note, ...], others: tuple[Note, ...]) -> float:
    """The share of ``notes`` that ``others`` has too: a note of the same key starting within
    :data:`CLOCK_TOLERANCE`, each note of ``others`` taken once (the nearest first come)."""
    free: dict[int, list[float]] = {}
    for note in others:
        free.setdefault(note.key, []).append(note.onset)
    for onsets in free.values():
        onsets.sort()
    found = 0
    for note in notes:
        onsets = free.get(note.key, [])
        i = bisect.bisect_left(onsets, note.onset)
        near = min((j for j in (i - 1, i) if 0 <= j < len(onsets)), key=lambda j: abs(onsets[j] - note.onset), default=None)
        if near is not None and abs(onsets[near] - note.onset) <= CLOCK_TOLERANCE:
            onsets.pop(near)
            found += 1
    return found / max(1, len(notes))


def _tempo_through(timemap: list[dict], ppq: int) -> TempoMap:
    """The tempo map through every (qstamp, tstamp) of ``timemap``: exact at each."""
    points = [(0.0, 0.0)] if timemap[0]["qstamp"] > 0 else []
    for e in timemap:
        if not points or e["qstamp"] * ppq > points[-1][0]:
            points.append((e["qstamp"] * ppq, e["tstamp"] / 1000))
    rates = [(s1 - s0) / (k1 - k0) for (k0, s0), (k1, s1) in zip(points, points[1:])]
    rates.append(rates[-1] if rates else 0.5 / ppq)
    return TempoMap(ppq, tuple(k for k, _ in points), tuple(s for _, s in points), tuple(rates))


def _retimed(midi: Midi, tempo: TempoMap) -> Midi | None:
    """``midi``'s events at their own ticks through ``tempo``; None where its tempo map cannot be
    inverted (a tempo of 0 microseconds: every tick of it at one time)."""
    old = midi.tempo
    if any(rate <= 0 for rate in old.rates):
        return None

    def move(time: float) -> float:
        i = old.in_effect(time)
        return tempo.seconds(round(old.ticks[i] + (time - old.starts[i]) / old.rates[i]))

    notes = sorted((replace(n, onset=move(n.onset), offset=move(n.offset)) for n in midi.notes), key=lambda n: (n.onset, n.channel, n.key))
    controls = sorted((replace(c, time=move(c.time)) for c in midi.controls), key=lambda c: c.time)
    return Midi(tuple(notes), tuple(controls), midi.programs, tempo)


def _midi_from_timemap(toolkit: verovio.toolkit, midi: Midi, timemap: list[dict], tempo: TempoMap) -> Midi:
    """The notes ``timemap`` plays, timed by ``tempo`` (exact at its events), on the channel and
    programs of Verovio's ``midi``; no controllers."""
    mei = ET.fromstring(toolkit.getMEI())
    engraved = read_engraved(mei)
    velocity = {}
    for element in mei.iter():
        if element.tag in (f"{MEI}chord", f"{MEI}note") and element.get("vel"):
            for note in element.iter(f"{MEI}note"):
                velocity[note.get(XML_ID)] = int(float(element.get("vel")))
    channel = Counter(n.channel for n in midi.notes).most_common(1)[0][0]
    notes = [
        Note(channel, c.key, velocity.get(c.id, VEROVIO_VELOCITY), c.onset, c.end)
        for c in timemap_notes(toolkit, tempo, engraved, timemap)
        if 0 <= c.key <= 127 and not c.merged
    ]
    return Midi(
        tuple(sorted(notes, key=lambda n: (n.onset, n.channel, n.key))),
        (),
        midi.programs,
        tempo,
    )


def page_labels(measures: tuple[Measure, ...], performance: tuple[Performed, ...], pages: int) -> tuple[PageLabels, ...]:
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

"""Note-level alignment: every note the audio plays, with its notehead on the page and its times.

On the embedded default build: the ``notes`` column is the passage MIDI note for note, each note in
its measure, heard in the audio where it says, its notehead box on drawn ink; and on the scores
themselves (re-parsed), the matching of Verovio's MIDI to its engraved notes.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from conftest import CORPORA, needs_corpora
from invariants import check_notes, onset_errors, validated
from pdmx_fusa.audio.midi import Note
from pdmx_fusa.dataset.validate.image import notehead_errors
from pdmx_fusa.dataset.validate.onsets import TOLERANCE
from pdmx_fusa.stages.notes import _Candidate, _match, _onto_the_clock, read_engraved

# --- the notes column of the default build ---------------------------------------------------------


def test_notes_are_the_passage_midi(default_build):
    assert check_notes(default_build) > 10_000
    assert validated(default_build.out).check("structure").passed  # each note inside its measure, its box inside the page


def test_note_pairs(default_build, capsys):
    """Every note of the default build is a (notehead box, audio onset) pair: count them."""
    notes = [n for row in default_build.all_rows() for n in row["notes"]]
    boxed = [n for n in notes if n["box"] is not None]
    grace = sum(n["grace"] for n in notes)
    with capsys.disabled():
        print(f"\nnote pairs: {len(boxed)} of {len(notes)} notes have a notehead box ({grace} grace notes), "
              f"{len(default_build.all_rows())} examples")
    assert len(notes) > 12_000  # every note of the 13 scores' performances, each visit rendered once
    assert len(boxed) == len(notes)  # every note of the default is drawn on its visit's page


def test_note_onsets_heard_in_the_audio(default_build, capsys):
    """Notes of chords struck alone (an expressive chord's spread notes included) sound within 30 ms of their onset in the audio."""
    figures = validated(default_build.out).check("note_onsets").figures
    notes = validated(default_build.out).check("structure").figures["notes"]
    assert figures["onsets"] >= 0.8 * notes, f"only {figures['onsets']} of {notes} notes start alone or with a chord"
    with capsys.disabled():
        print(f"\nnote onsets: {figures['within_30ms']:.1%} of {figures['onsets']} notes (of {notes}) within 30 ms, "
              f"median error {figures['median_ms']:+.1f} ms, p95 |error| {figures['p95_abs_ms']:.1f} ms")
    assert figures["within_30ms"] >= 0.95 and figures["p95_abs_ms"] <= 30
    assert abs(figures["median_ms"]) <= 10


@pytest.mark.parametrize("moved", [0.05, -0.05])
def test_shifted_notes_fail_the_onset_check(default_build, moved, capsys):
    """Note labels 50 ms off their audio do not pass the same check."""
    errors, _ = onset_errors(default_build.all_rows(), notes=True, moved=moved)
    within = (np.abs(errors) <= TOLERANCE).mean()
    with capsys.disabled():
        print(f"\nnote onsets moved {moved * 1000:+.0f} ms: {within:.1%} within {TOLERANCE * 1000:.0f} ms")
    assert within < 0.5


def test_noteheads_lie_on_ink(default_build, capsys):
    """Every notehead box lies on the ink of its notehead (validate's noteheads check); the same
    boxes moved by a notehead's width and a half are not."""
    figures = validated(default_build.out).check("noteheads").figures
    pages = {(row["score_id"], row["page"]): row for row in default_build.all_rows()}
    moved = []
    for row in pages.values():
        ink = 1 - np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])), dtype=float) / 255
        boxes = np.array([n["box"] for n in row["notes"] if n["box"] is not None], dtype=float).reshape(-1, 4)
        moved.append(notehead_errors(ink, boxes + [20.0, 0.0, 20.0, 0.0])[1])
    moved_shares = np.concatenate(moved)
    with capsys.disabled():
        print(f"\nnoteheads on ink: {figures['boxes']} boxes, error median {figures['median_px']} px, p95 {figures['p95_px']} px, "
              f"ink share median {figures['ink_share_median']:.2f}; moved 20 px: ink share median {np.median(moved_shares):.2f}")
    assert figures["boxes"] > 5000 and figures["median_px"] <= 1 and figures["p95_px"] <= 3
    assert figures["ink_share_median"] >= 0.5
    assert np.median(moved_shares) < 0.3  # beside a notehead: staff lines, stems, a neighbour's edge


# --- the boxes against the glyphs drawn alone ------------------------------------------------------


def test_notehead_boxes_fit_the_drawn_glyphs(capsys):
    """Drawn alone (the page with every other element removed), each notehead's ink fills its box:
    edges within a pixel for noteheads that touch no other."""
    from pdmx_fusa.config import ParseConfig
    from pdmx_fusa.engraving.raster import SVG, rasterise
    from pdmx_fusa.sources.embedded import corpus_dir
    from pdmx_fusa.stages.engrave import _inner_width, _noteheads, parse_svg
    from pdmx_fusa.stages.parse import new_toolkit

    errors = []
    for name in ("bach/bwv846.mxl", "joplin/maple_leaf_rag.mxl", "schumann_clara/polonaise_op1n3.mxl"):
        toolkit = new_toolkit(ParseConfig())
        assert toolkit.loadFile(str(corpus_dir() / name))
        svg = toolkit.renderToSVG(1)
        root = parse_svg(svg)
        boxes = _noteheads(root, 1240 / _inner_width(svg))
        keep = set()
        for head in root.iter(f"{SVG}g"):
            if head.get("class") == "notehead":
                keep.update(head.iter())
                keep.update(head.iterancestors())
        margin = root.find(f".//{SVG}g[@class='page-margin']")
        for element in list(margin.iter()):
            if element not in keep and element.getparent() is not None:
                element.getparent().remove(element)
        ink = rasterise(root, 1240) < 192
        every = np.array(list(boxes.values()))
        for x0, y0, x1, y1 in boxes.values():
            crowd = (every[:, 0] < x1 + 5) & (every[:, 2] > x0 - 5) & (every[:, 1] < y1 + 5) & (every[:, 3] > y0 - 5)
            if crowd.sum() > 1:
                continue  # a chord's neighbour would count as this notehead's ink
            top, left = int(y0) - 3, int(x0) - 3
            ys, xs = np.nonzero(ink[top: int(y1) + 4, left: int(x1) + 4])
            assert len(xs), (name, (x0, y0, x1, y1))
            drawn = (left + xs.min(), top + ys.min(), left + xs.max() + 1, top + ys.max() + 1)
            errors.append(max(abs(a - b) for a, b in zip(drawn, (x0, y0, x1, y1))))
    errors = np.array(errors)
    with capsys.disabled():
        print(f"\nnotehead boxes vs glyphs drawn alone: {len(errors)} noteheads, edge error median "
              f"{np.median(errors):.2f} px, p95 {np.percentile(errors, 95):.2f} px, max {errors.max():.2f} px")
    assert len(errors) > 300
    assert np.percentile(errors, 95) <= 1.0 and errors.max() <= 1.5


# --- the matching, on the default scores -----------------------------------------------------------


@pytest.fixture(scope="module")
def default_scores(default_build):
    from pdmx_fusa.config import ParseConfig
    from pdmx_fusa.sources import list_scores
    from pdmx_fusa.stages.parse import new_toolkit, parse

    found = {}
    for ref in list_scores(default_build.cfg.source):
        score = parse(ref, ParseConfig())
        toolkit = new_toolkit(ParseConfig())
        assert toolkit.loadFile(ref.path)
        found[ref.score_id] = (score, toolkit)
    return found


def test_every_midi_note_is_matched(default_scores, capsys):
    """Each score's notes are Verovio's MIDI notes, one to one (at most a few ms moved onto the
    measures' clock), and the MIDI synthesised is exactly them; each has an engraved note of the
    score, matched by key and onset (the tremolo strokes of the fourth polonaise by the note they
    repeat); the engraved notes left over are tied continuations, never an engraved id."""
    import base64

    from pdmx_fusa.audio.midi import read_midi
    from pdmx_fusa.stages.notes import match_notes
    from pdmx_fusa.stages.parse import played_timemap

    how, unplayed, moved = Counter(), Counter(), []
    for score_id, (score, toolkit) in default_scores.items():
        assert score.midi.notes == tuple(Note(n.channel, n.key, n.velocity, n.onset, n.offset) for n in score.notes)
        assert [n.onset for n in score.notes] == sorted(n.onset for n in score.notes)
        midi = read_midi(base64.b64decode(toolkit.renderToMIDI()))
        # nothing added, nothing dropped: the same notes, each within a few ms of Verovio's (their
        # velocities are the score's dynamics, stages/dynamics.py, not Verovio's)
        ours = sorted((n.channel, n.key, n.onset) for n in score.notes)
        verovio = sorted((n.channel, n.key, n.onset) for n in midi.notes)
        assert len(ours) == len(verovio), score_id
        assert all(a[:2] == b[:2] and abs(a[2] - b[2]) <= 0.006 for a, b in zip(ours, verovio)), score_id
        mei = ET.fromstring(toolkit.getMEI())
        match = match_notes(toolkit, mei, midi, score.performance, played_timemap(toolkit, mei)[0])
        assert [replace(n, velocity=0) for n in match.notes] == [replace(n, velocity=0) for n in score.notes]
        moved.extend(match.moved)
        engraved = read_engraved(mei)
        for note in score.notes:
            info = engraved[note.engraved_id]
            assert info.key == note.key and not info.tied and info.grace == note.grace, (score_id, note, info)
            measure = score.performance[note.measure]
            assert measure.onset - 1e-6 <= note.onset < measure.offset, (score_id, note, measure)
        how.update(match.how)
        unplayed.update(match.unplayed)
        kinds = set(match.how)
        tremolos = score_id.endswith("polonaise_op1n4.mxl")
        assert kinds == ({"exact", "held"} if tremolos else {"exact"}), (score_id, Counter(match.how))
    moved = np.abs(moved)
    with capsys.disabled():
        print(f"\nnote matching, embedded default: {dict(how)} of {sum(how.values())} MIDI notes; "
              f"engraved notes left unplayed: {dict(unplayed)}; moved onto the clock: {(moved > 0.001).sum()} "
              f"notes by more than 1 ms (at most {moved.max() * 1000:.1f} ms)")
    assert set(unplayed) == {"tie"}


def test_midi_pitches_match_verovio(default_scores):
    """The pitches read from the MEI are the ones Verovio gives its notes (getMIDIValuesForElement)."""
    score, toolkit = default_scores["music21/schumann_clara/polonaise_op1n3.mxl"]
    engraved = read_engraved(ET.fromstring(toolkit.getMEI()))
    ids = [i for event in toolkit.renderToTimemap({}) for i in event.get("on", ()) if "-rend" not in i][:500]
    assert len(ids) == 500
    assert [engraved[i].key for i in ids] == [toolkit.getMIDIValuesForElement(i)["pitch"] for i in ids]


# --- the MEI and the matching passes, by hand -------------------------------------------------------

MEI = """<mei xmlns="http://www.music-encoding.org/ns/mei" xmlns:xml="http://www.w3.org/XML/1998/namespace">
<music><body><mdiv><score>
  <scoreDef><staffGrp><staffDef n="1" lines="5"/><staffDef n="2" lines="5" trans.semi="-12"/></staffGrp></scoreDef>
  <section><measure xml:id="m1">
    <staff n="1"><layer n="1">
      <note xml:id="a" pname="c" oct="4"/>
      <note xml:id="b" pname="f" oct="4" accid.ges="s"/>
      <note xml:id="c" pname="b" oct="3"><accid xml:id="c1" accid="f"/></note>
      <note xml:id="d" pname="c" oct="6" oct.ges="5" accid="x"/>
      <note xml:id="e" pnum="70"/>
      <graceGrp grace="acc"><note xml:id="f" pname="d" oct="4"/></graceGrp>
      <chord grace="unacc"><note xml:id="g" pname="e" oct="4" accid.ges="f"/><note xml:id="h" pname="g" oct="4"/></chord>
      <note xml:id="i" pname="e" oct="4" tie="i"/>
      <note xml:id="j" pname="e" oct="4" tie="t"/>
      <note xml:id="k" pname="a" oct="4"/>
    </layer></staff>
    <staff n="2"><layer n="1"><note xml:id="l" pname="a" oct="4"/></layer></staff>
    <tie startid="#a" endid="#k"/>
  </measure></section>
</score></mdiv></body></music></mei>"""


def test_read_engraved():
    found = read_engraved(ET.fromstring(MEI))
    assert {i: (e.key, e.grace, e.tied) for i, e in found.items()} == {
        "a": (60, False, False), "b": (66, False, False), "c": (58, False, False), "d": (74, False, False),
        "e": (70, False, False), "f": (62, True, False), "g": (63, True, False), "h": (67, True, False),
        "i": (64, False, False), "j": (64, False, True), "k": (69, False, True), "l": (57, False, False),
    }


def candidate(id, key, onset, end, tied=False, grace=False):
    return _Candidate(id, key, onset, end, grace, tied)


def test_match_passes():
    """exact (closest first, a tie's continuation last), held (tremolo strokes, a delayed arpeggio
    note), drift, ornament (another key while notes are held), nearest."""
    def fresh():
        return [
            candidate("c4", 60, 0.0, 2.0),  # a tie's first note lasts to its continuation's end
            candidate("c4-tie", 60, 1.0, 2.0, tied=True),
            candidate("e4", 64, 1.0, 1.5),
            candidate("g4", 67, 2.0, 2.5),
            candidate("a4", 69, 3.0, 3.2),
            candidate("late", 72, 5.0, 5.5),
        ]

    candidates = fresh()
    notes = (
        Note(0, 60, 90, 0.005, 2.0),   # exact: c4
        Note(0, 60, 90, 1.5, 1.6),     # a tremolo stroke while c4 is held through its tie: c4's, not the continuation's
        Note(0, 64, 90, 1.02, 1.5),    # exact: e4 (20 ms late)
        Note(0, 67, 90, 2.12, 2.5),    # held: g4, an arpeggio's delayed note
        Note(0, 69, 90, 3.35, 3.4),    # drift: a4 is 350 ms away and not held any more
        Note(0, 71, 90, 5.1, 5.2),     # ornament: b4 while "late" (72) is held
        Note(0, 50, 90, 9.0, 9.5),     # nearest: nothing of the key, nothing held
    )
    owner, how = _match(notes, candidates)
    assert [(candidates[c].id, h) for c, h in zip(owner, how)] == [
        ("c4", "exact"), ("c4", "held"), ("e4", "exact"), ("g4", "held"), ("a4", "drift"), ("late", "ornament"),
        ("late", "nearest"),
    ]
    assert not candidates[1].matched
    # a MIDI note where a continuation begins is that note's: Verovio did not tie it
    candidates = fresh()
    owner, how = _match((Note(0, 60, 90, 0.0, 1.0), Note(0, 60, 90, 1.01, 2.0)), candidates)
    assert [(candidates[c].id, h) for c, h in zip(owner, how)] == [("c4", "exact"), ("c4-tie", "exact")]



def test_an_ornament_note_takes_a_held_note_of_its_own_measure():
    """A MIDI note of no engraved key (Verovio sounds a note octaves off its MEI pitch: asap
    Debussy, Reflets dans l'eau m. 22, key 101 over an engraved 77) takes a held note of the
    measure it sounds in, the nearest key there, not a nearer key held over from the measure
    before (whose notehead lies outside this measure)."""
    candidates = [candidate("before", 82, 0.9, 1.3), candidate("here", 77, 1.0, 1.2), candidate("unison", 77, 1.0, 1.2)]
    notes = (Note(0, 82, 90, 0.9, 1.3), Note(0, 77, 90, 1.0, 1.2), Note(0, 101, 90, 0.996, 1.2))  # Verovio's MIDI, 4 ms early
    owner, how = _match(notes, candidates, [0.0 - 1e-6, 1.0 - 1e-6])
    assert [(candidates[c].id, h) for c, h in zip(owner, how)] == [("before", "exact"), ("here", "exact"), ("here", "ornament")]
    owner, how = _match(notes, candidates)  # one measure: the nearest key
    assert (candidates[owner[2]].id, how[2]) == ("before", "ornament")


def test_onto_the_clock():
    """Notes matched exactly move onto their engraved note's onset, the other notes of that engraved
    note with them; a moved offset stops at the next onset of its key it did not reach before, and
    unisons that overlapped still do."""
    candidates = [candidate("a", 60, 1.0, 2.0), candidate("b", 60, 2.0, 3.0), candidate("c", 64, 2.0, 4.0)]
    notes = (
        Note(0, 60, 90, 0.997, 1.999),  # a, 3 ms early
        Note(0, 60, 90, 1.497, 1.6),    # a tremolo stroke of a
        Note(0, 60, 90, 2.0, 2.9),      # b, on time
        Note(0, 64, 90, 1.995, 3.9),    # c, 5 ms early
        Note(0, 64, 90, 1.995, 2.5),    # a unison of c in another voice, overlapping it
    )
    owner, how = _match(notes, candidates)
    assert how == ["exact", "held", "exact", "exact", "held"]
    timed = _onto_the_clock(notes, owner, how, candidates)
    assert timed == [
        (pytest.approx(1.0), 2.0),  # moved 3 ms, its offset stopped at b's onset
        (pytest.approx(1.5), pytest.approx(1.603)),
        (2.0, 2.9),
        (pytest.approx(2.0), pytest.approx(3.905)),
        (pytest.approx(2.0), pytest.approx(2.505)),
    ]


def test_notehead_box_from_glyph_and_transform():
    """A notehead's box: the glyph's font-unit box (y up) through the use's translate and scale,
    shifted by the page margin and scaled to pixels like the measure boxes; hidden notes get none."""
    from pdmx_fusa.stages.engrave import _noteheads, glyph_boxes, parse_svg

    x, y, w, h = glyph_boxes()["E0A4"]  # noteheadBlack
    assert (w, h) == (314.0, 266.0)

    def note(id, extra=""):
        return (f'<g id="{id}" class="note"{extra}><g class="notehead">'
                f'<use xlink:href="#E0A4-x" transform="translate(1000, 2000) scale(0.5, 0.5)"/></g></g>')

    svg = ('<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
           '<g class="page-margin" transform="translate(100, 200)">'
           + note("a") + note("b", ' visibility="hidden"') + '<g class="placeholder">' + note("c") + '</g>'
           '<g visibility="hidden"><g visibility="visible">' + note("d") + '</g></g></g></svg>')
    boxes = _noteheads(parse_svg(svg), 0.1)
    expected = tuple(round(v, 2) for v in (
        (1000 + 0.5 * x + 100) * 0.1, (2000 - 0.5 * (y + h) + 200) * 0.1,
        (1000 + 0.5 * (x + w) + 100) * 0.1, (2000 - 0.5 * y + 200) * 0.1,
    ))
    assert boxes == {"a": expected, "d": expected}


@needs_corpora
@pytest.mark.parametrize("name", [
    "asap-dev/Chopin/Berceuse_op_57/score.mxl",  # grace notes, octave lines
    "asap-dev/Beethoven/Piano_Sonatas/16-2/score.mxl",  # MuseScore's hidden playback notes of trills
    "humdrum-piano/mozart/sonata11-3.krn",  # 189 grace notes
    "humdrum-piano/beethoven/sonata14-3.krn",  # fingered tremolos
])
def test_real_scores_match_exactly(name):
    """On real scores every MIDI note matches an engraved note of its key within 30 ms, hidden notes
    get no notehead box, and every note's onset lies in the measure that engraves it."""

    from pdmx_fusa.config import EngraveConfig, ParseConfig
    from pdmx_fusa.records import ScoreRef
    from pdmx_fusa.stages.engrave import engrave
    from pdmx_fusa.stages.notes import MEI, XML_ID, match_notes
    from pdmx_fusa.stages.parse import new_toolkit, parse, played_timemap

    path = str(CORPORA / name)
    score = parse(ScoreRef(name, path, "folder", name), ParseConfig())
    toolkit = new_toolkit(ParseConfig())
    assert toolkit.loadFile(path)
    root = ET.fromstring(toolkit.getMEI())
    match = match_notes(toolkit, root, score.midi, score.performance, played_timemap(toolkit, root)[0])
    assert set(match.how) == {"exact"} and match.notes == score.notes
    measure_of = {n.get(XML_ID): m.get(XML_ID) for m in root.iter(f"{MEI}measure") for n in m.iter(f"{MEI}note")}
    hidden = {n.get(XML_ID) for n in root.iter(f"{MEI}note") if n.get("visible") == "false"}
    assert all(score.performance[n.measure].engraved_id == measure_of[n.engraved_id] for n in score.notes)
    drawn = {i for page in engrave(score, EngraveConfig()).pages for i in page.noteheads}
    played = {n.engraved_id for n in score.notes}
    assert not drawn & hidden and played - hidden <= drawn

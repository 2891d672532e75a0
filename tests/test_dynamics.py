"""Dynamics: velocities from the score's marks, heard in the audio and carried by the rows.

The fixtures (tests/fixtures/dynamics/) are small MusicXML scores with known marks: ``pp_ff``
(measures 1-4 pp, 5-8 ff), ``hairpin`` (p, crescendo to f at m4, diminuendo to p at m8) and
``accents`` (mf; beat 2 accented, beat 4 marcato, an sfz on m3's first beat).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from conftest import REPO, build
from pdmx_fusa.audio.midi import read_midi
from pdmx_fusa.config import ParseConfig
from pdmx_fusa.stages.dynamics import LEVELS, MARCATO, ACCENT
from pdmx_fusa.stages.timeline_view import performed_score, score_file

FIXTURES = REPO / "tests" / "fixtures" / "dynamics"


def chords(name: str, **cfg) -> list[list[int]]:
    """The velocities of each chord of a fixture, in playing order."""
    score = performed_score(score_file(str(FIXTURES / f"{name}.musicxml"), (".musicxml",)), ParseConfig(**cfg))
    by_onset: dict[float, list[int]] = {}
    for note in score.notes:
        by_onset.setdefault(round(note.onset, 4), []).append(note.velocity)
    return [by_onset[t] for t in sorted(by_onset)]


def test_marks_set_the_velocity_curve():
    velocities = [c[0] for c in chords("pp_ff", velocity_spread=0.0)]
    assert velocities == [LEVELS["pp"]] * 16 + [LEVELS["ff"]] * 16


def test_hairpins_are_monotone():
    velocities = [c[0] for c in chords("hairpin", velocity_spread=0.0)]
    crescendo, diminuendo = velocities[:13], velocities[12:29]
    assert crescendo[0] == LEVELS["p"] and crescendo[-1] == LEVELS["f"]
    assert all(a < b for a, b in zip(crescendo, crescendo[1:]))
    assert diminuendo[-1] == LEVELS["p"] and all(a > b for a, b in zip(diminuendo, diminuendo[1:]))
    # with the seeded variation the measures' means still rise and fall
    means = [np.mean(sum(chords("hairpin")[4 * m : 4 * m + 4], [])) for m in range(8)]
    assert all(a < b for a, b in zip(means[:3], means[1:4])) and all(a > b for a, b in zip(means[3:7], means[4:8]))


def test_accents_marcato_and_sfz_stand_out():
    velocities = [c[0] for c in chords("accents", velocity_spread=0.0)]
    mf = LEVELS["mf"]
    for m in range(4):
        plain, accent, plain2, marcato = velocities[4 * m : 4 * m + 4]
        assert accent == mf + ACCENT and marcato == mf + MARCATO
        assert accent > max(plain2, plain if m != 2 else 0) and marcato > plain2
    assert velocities[8] >= LEVELS["f"] and velocities[8] > velocities[10]  # sfz on m3 beat 1


def test_variation_is_seeded_by_the_score():
    first, again = chords("hairpin"), chords("hairpin")
    assert first == again
    plain = chords("hairpin", velocity_spread=0.0)
    assert first != plain and max(abs(a - b) for ca, cb in zip(first, plain) for a, b in zip(ca, cb)) <= 15


def test_dynamics_off_keeps_verovio_velocities():
    assert {v for c in chords("pp_ff", dynamics=False) for v in c} == {90}


def test_pp_and_ff_in_the_audio_and_the_rows(tmp_path, fonts_list):
    """The ff half of a passage is measurably louder than its pp half; the notes column carries
    the velocities the passage MIDI plays."""
    built = build(
        tmp_path / "ds", f"source.root={json.dumps(str(FIXTURES))}", "source.kind=folder",
        f"render.soundfonts={json.dumps(str(fonts_list))}", "run.workers=1", "render.expressive.per_visit=0",
        pipeline=None,
    )
    rows = {r["score_id"]: r for r in built.all_rows()}
    row = rows["pp_ff.musicxml"]
    audio, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]))
    m = row["measures"]

    def level(a: float, b: float) -> float:
        return 20 * np.log10(np.sqrt(np.mean(audio[int(a * rate) : int(b * rate)] ** 2)))

    soft, loud = level(m[0]["onset"], m[3]["offset"]), level(m[4]["onset"], m[7]["offset"])
    assert loud - soft > 10, (soft, loud)
    for r in rows.values():
        midi = sorted(read_midi(r["midi"]).notes, key=lambda n: (n.onset, n.key))
        notes = sorted(r["notes"], key=lambda n: (n["onset"], n["pitch"]))
        assert [n["velocity"] for n in notes] == [n.velocity for n in midi]


@pytest.fixture
def fonts_list(tmp_path) -> Path:
    return debian_fonts(tmp_path)


def debian_fonts(folder: Path) -> Path:
    """A soundfont list in ``folder`` of the first train and the first test piano of
    soundfonts.txt that a Debian package installs (small builds need no more)."""
    lines, roles = [], set()
    for line in (REPO / "soundfonts.txt").read_text().splitlines():
        fields = line.split()
        if line.startswith("#") or len(fields) < 6 or not fields[2].startswith("/") or fields[5] in roles:
            continue
        if Path(fields[2]).is_file():
            lines.append(line)
            roles.add(fields[5])
    path = folder / "soundfonts.txt"
    path.write_text("\n".join(lines) + "\n")
    return path

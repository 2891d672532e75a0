"""`pdmx-fusa train` and `pdmx-fusa evaluate` end to end on the built embedded default, small."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from pdmx_fusa.cli import main  # noqa: E402
from pdmx_fusa.model import embed_audio, embed_pages  # noqa: E402
from pdmx_fusa.model.baseline import Baseline  # noqa: E402
from pdmx_fusa.model.data import SnippetPairs  # noqa: E402
from pdmx_fusa.model.train import TrainConfig, loader, loss_of  # noqa: E402



@pytest.fixture(scope="module")
def data(default_build) -> str:
    """The session's build of the embedded default."""
    return str(default_build.out)


def small(data: str) -> list[str]:
    return ["--data", data, "--batch-size", "40", "--workers", "0", "--refit-pairs", "40", "--quiet"]


def losses(run) -> list[float]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [loss for line in lines if line.get("event") == "stopped" for loss in line["first_losses"]]


def first_losses(data: str, seed: int) -> list[float]:
    """The losses of a fresh baseline on the first training batch of ``seed``, as train draws them
    (batches larger than the 32 CCA dimensions: a smaller one is fitted exactly, with loss 0)."""
    cfg = TrainConfig(data=[data], batch_size=40, workers=0, seed=seed)
    torch.manual_seed(seed)
    model = Baseline().train()
    dataset = SnippetPairs(cfg.data, "train", train=True, seed=seed)
    found = []
    for batch in loader(dataset, cfg, 1):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(batch["sheet"], batch["audio"])
        found.append(loss_of(model, out, batch, torch.device("cpu")).item())
    return found


def test_same_seed_same_first_losses(data):
    once, again, other = first_losses(data, 0), first_losses(data, 0), first_losses(data, 1)
    assert once == again and all(loss > 0 for loss in once)
    assert once != other


def train_in_two_invocations(run, data: str) -> None:
    assert main(["train", *small(data), "--out", str(run), "--max-steps", "1"]) == 0
    assert main(["train", *small(data), "--out", str(run), "--max-steps", "1", "--resume", "--workers", "2"]) == 0


def test_train_resume_evaluate(tmp_path, capsys, data):
    run = tmp_path / "run"
    train_in_two_invocations(run, data)
    assert len(losses(run)) == 2 and all(loss > 0 for loss in losses(run))
    assert {p.name for p in run.iterdir()} >= {"config.json", "last.pt", "model.pt", "metrics.jsonl"}
    assert json.loads((run / "config.json").read_text())["batch_size"] == 40
    (run / "model.pt").unlink()
    assert main(["train", *small(data), "--out", str(run), "--max-steps", "0", "--resume"]) == 0  # only writes model.pt
    assert (run / "model.pt").is_file() and len(losses(run)) == 2
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--data", data, "--pool", "50",
                 "--json", str(tmp_path / "eval.json"), "--workers", "0", "--quiet"]) == 0
    shown = capsys.readouterr().out
    assert "audio_to_sheet" in shown and "piece identification" in shown and re.search(r"page retrieval: \d+ pages", shown)
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["pairs"] == 50 and result["model"] == "baseline"
    for direction in ("audio_to_sheet", "sheet_to_audio"):
        assert set(result[direction]) == {"R@1", "R@5", "R@10", "R@25", "MRR", "MR"}
        assert 0 < result[direction]["MRR"] <= 1 and 1 <= result[direction]["MR"] <= 50
    # the public embedding functions read the same checkpoint: a baseline embeds snippets and excerpts
    sheet = embed_pages([np.full((238, 297), 255, np.uint8)], run)
    audio = embed_audio([np.zeros(22050 * 3, np.float32)], 22050, run)
    assert sheet.shape == audio.shape == (1, 32) and np.allclose(np.linalg.norm(sheet, axis=1), 1, atol=1e-4)


@pytest.mark.slow
def test_a_resumed_run_replays_an_uninterrupted_one(tmp_path, data):
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(["train", *small(data), "--out", str(whole), "--max-steps", "2"]) == 0
    train_in_two_invocations(split, data)
    assert len(losses(whole)) == 2 and losses(split) == losses(whole)


@pytest.mark.slow
def test_page_model_trains_and_evaluates(tmp_path, capsys, data):
    run = tmp_path / "fusa"
    assert main(["train", *small(data), "--model", "fusa", "--out", str(run), "--epochs", "1", "--batch-size", "8"]) == 0
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["event"] == "cca_init" and lines[1]["validation_loss"] > 0
    assert (run / "curves.png").is_file() and (run / "epoch-001.json").is_file()
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(run), "--data", data, "--workers", "0", "--quiet"]) == 0
    assert re.search(r"page retrieval: \d+ pages", capsys.readouterr().out)
    pages = embed_pages([np.full((1754, 1240), 255, np.uint8)] * 2, run)
    assert pages.shape == (2, 512) and np.allclose(pages[0], pages[1], atol=1e-5)


def test_user_errors_exit_2(tmp_path, capsys, data):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "no train shards" in capsys.readouterr().err
    assert main(["train", *small(data), "--out", str(tmp_path / "run"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--data", data]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train", *small(data), "--embedding", "cca", "--batch-size", "32", "--out", str(tmp_path / "run")]) == 2
    assert "--batch-size 32" in capsys.readouterr().err


def test_init_starts_a_new_run_from_a_checkpoints_weights(tmp_path, capsys, data):
    """--init fine-tunes: a new run's weights start as the checkpoint's (here the shipped
    baseline; --max-steps 0 writes them out untrained); a checkpoint of another model is refused."""
    from pdmx_fusa.model.embed import WEIGHTS
    from pdmx_fusa.model.train import load_model

    run = tmp_path / "tuned"
    assert main(["train", *small(data), "--out", str(run), "--max-steps", "0", "--init", str(WEIGHTS / "baseline.pt")]) == 0
    shipped, tuned = load_model(WEIGHTS / "baseline.pt").state_dict(), load_model(run).state_dict()
    assert shipped.keys() == tuned.keys() and all(torch.equal(shipped[k], tuned[k]) for k in shipped)
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[0]) == {"event": "init", "from": str(WEIGHTS / "baseline.pt")}
    capsys.readouterr()
    assert main(["train", *small(data), "--out", str(tmp_path / "cca"), "--embedding", "cca", "--init", str(run)]) == 2
    assert f"--init {run}: holds a baseline with the linear embedding, and this run trains --model baseline --embedding cca" in capsys.readouterr().err
    assert not (tmp_path / "cca").exists()  # refused before anything is written


def test_shipped_baseline_retrieves_out_of_the_box(tmp_path, capsys, data):
    """`pdmx-fusa evaluate --data DIR` without a checkpoint reads the baseline shipped in the
    package; on the default's test split (two scores it never saw, the held-out test pianos) it
    ranks far above chance in both directions. Chance MRR over a pool of n is H(n) / n."""
    from pdmx_fusa.model.embed import WEIGHTS

    assert (WEIGHTS / "baseline.pt").is_file()
    assert main(["evaluate", "--data", data, "--pool", "300", "--json", str(tmp_path / "e.json"), "--workers", "0", "--quiet"]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    chance = sum(1 / k for k in range(1, result["pairs"] + 1)) / result["pairs"]
    assert result["pairs"] == 300
    for direction in ("audio_to_sheet", "sheet_to_audio"):
        assert result[direction]["MRR"] > 4 * chance, (direction, result[direction])
    sheet = embed_pages([np.full((238, 297), 255, np.uint8)])
    assert sheet.shape == (1, 32)

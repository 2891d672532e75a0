"""``pdmx-fusa train``: train a reference model on built datasets, resumable.

A run folder holds ``config.json`` (the options), ``epoch-NNN.pt`` with ``epoch-NNN.json`` beside
it (the options, the training state and the validation figures) after every epoch, ``last.pt``
(where ``--resume`` continues, also written when ``--max-steps`` stops a run mid-epoch),
``metrics.jsonl`` (one line per epoch or stop), ``curves.png`` and, at the end of every
invocation, ``model.pt``: the weights that did best on validation (a baseline with the CCA layer
has it refit on up to 25,000 training pairs): what ``pdmx-fusa evaluate`` reads.

Schedule (Dorfer et al. 2018): Adam, learning rate 0.002, halved after 30 epochs without a lower
validation loss, five times; the sixth such wait ends training.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .baseline import EMBEDDING, EMBEDDINGS, Baseline
from .data import TIMBRE_DB, PagePairs, RowBatches, SnippetPairs, evenly_spaced
from .fusa import HEADS, FusaNet
from .losses import info_nce, ranking_loss
from .metrics import cross_modal

MODELS = {"baseline": SnippetPairs, "fusa": PagePairs}  # each model's training pairs
AUX_WEIGHT = 0.1


class TrainError(ValueError):
    """A run that cannot start as asked (the message names the path or option and the fix)."""


@dataclass
class TrainConfig:
    """The options of a run (``config.json``)."""

    data: list[str]
    model: str = "baseline"
    embedding: str = "linear"  # the baseline's embedding layer: linear or cca (the published one)
    out: str = "runs/baseline"
    epochs: int = 100
    batch_size: int = 100
    pairs_per_epoch: int = 10_000  # the baseline's epoch (the public code's); the page model's is its training pages
    seed: int = 0
    device: str = "auto"
    workers: int = 2
    max_steps: int | None = None  # optimiser steps in this invocation
    lr: float = 0.002
    patience: int = 30
    halvings: int = 5
    precision: str = "bf16"  # autocast dtype on CPU and CUDA: bf16 or fp32
    channels_last: bool = True
    threads: int | None = None  # torch.set_num_threads; None leaves torch's default
    refit_pairs: int = 25_000
    validation_pairs: int = 1_000
    cache_rows: int | None = 4096  # rows kept prepared per loader process (about 0.5 MB each); None: all
    timbre_db: float = TIMBRE_DB  # the training audio's random equaliser (data.timbre); 0: none
    init: str | None = None  # a checkpoint whose weights a new run starts from (fine-tuning)


# what a run saved before an option existed did without it
BEFORE = {"timbre_db": 0.0, "init": None}


@dataclass
class TrainState:
    epoch: int = 0  # the epoch under way (or next)
    step_in_epoch: int = 0
    steps: int = 0
    lr: float = 0.002
    best: float = float("inf")
    best_epoch: int = -1
    waited: int = 0
    halved: int = 0
    done: bool = False
    history: list = field(default_factory=list)


def build_model(kind: str, embedding: str = "linear") -> torch.nn.Module:
    """A fresh model of ``kind`` (``baseline`` with its ``embedding`` layer, or ``fusa``)."""
    if kind == "baseline":
        if embedding not in EMBEDDINGS:
            raise TrainError(f"--embedding {embedding}: choose one of {', '.join(EMBEDDINGS)}")
        return Baseline(embedding)
    return FusaNet()


def device_of(name: str) -> torch.device:
    """``auto``: CUDA where there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda: no CUDA device here (use --device auto or cpu)")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def to_device(batch: dict, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    form = torch.channels_last if channels_last else torch.contiguous_format
    return (batch["sheet"].to(device, memory_format=form, non_blocking=True),
            batch["audio"].to(device, memory_format=form, non_blocking=True))


def loss_of(model: torch.nn.Module, out: dict, batch: dict, device: torch.device) -> torch.Tensor:
    """The baseline's ranking loss; the page model's symmetric InfoNCE plus its auxiliary heads."""
    if model.kind == "baseline":
        return ranking_loss(out["sheet"].float(), out["audio"].float())
    loss = info_nce(out["sheet"].float(), out["audio"].float())
    aux = [torch.nn.functional.cross_entropy(out[f"{name}_{view}"].float(), batch[name].to(device))
           for name in HEADS for view in ("sheet", "audio")]
    return loss + AUX_WEIGHT * torch.stack(aux).mean()


def loader(dataset, cfg: TrainConfig, batches: int):
    """A DataLoader over ``dataset`` in :class:`RowBatches` (seeded by ``cfg.seed`` and the sampler's
    ``epoch``), its workers kept across epochs (set ``loader.batch_sampler.epoch`` and ``.start``).

    Batches take one pair from each of ``batch_size`` rows, like MSMD's uniform draw, when every
    row stays prepared in memory (``cfg.cache_rows``); else 2 pairs from each of 50 rows, a group
    of rows serving 2 batches, so that a page is decoded for 4 pairs. Page batches: distinct pages.
    """
    fits = cfg.cache_rows is None or len(dataset.rows) <= cfg.cache_rows
    rows_per_batch, reuse = (50, 2) if isinstance(dataset, SnippetPairs) and not fits else (cfg.batch_size, 1)
    sampler = RowBatches(dataset, cfg.batch_size, batches, rows_per_batch=rows_per_batch, reuse=reuse, seed=cfg.seed)
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.workers,
                                       pin_memory=False, persistent_workers=cfg.workers > 0)


@torch.no_grad()
def embed_pairs(model, dataset, indices: list[int], cfg: TrainConfig, device: torch.device, progress: bool = False,
                desc: str = "embedding") -> dict:
    """Both views' embeddings (eval mode, numpy) and labels of ``dataset[indices]``, in order."""
    model.eval()
    subset = torch.utils.data.Subset(dataset, indices)
    batches = torch.utils.data.DataLoader(subset, batch_size=cfg.batch_size, num_workers=cfg.workers)
    out: dict = {"sheet": [], "audio": [], "row": [], "meter": [], "polyphony": [], "piece": [], "page": []}
    for batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
        sheet, audio = to_device(batch, device, cfg.channels_last)
        with autocast(device, cfg.precision):
            found = model(sheet, audio)
        for view in ("sheet", "audio"):
            out[view].append(found[view].float().cpu().numpy())
        for name in ("row", "meter", "polyphony", "page"):
            out[name].append(np.asarray(batch[name]))
        out["piece"].extend(batch["piece"])
    return {k: (np.concatenate(v) if k != "piece" else v) for k, v in out.items()}


@torch.no_grad()
def gather_features(model, dataset, indices: list[int], cfg: TrainConfig, device: torch.device, progress: bool, desc: str,
                    batch_statistics: bool = False):
    """The models' pre-projection features of both views for ``dataset[indices]``; batch norm with
    its running estimates, or with each batch's statistics (``batch_statistics``, also updating them)."""
    model.train(batch_statistics)
    xs, ys = [], []
    batches = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=cfg.batch_size, num_workers=cfg.workers)
    for batch in tqdm(batches, desc=desc, disable=not progress, leave=False):
        sheet, audio = to_device(batch, device, cfg.channels_last)
        with autocast(device, cfg.precision):
            x, y = model.features(sheet, audio)
        xs.append(x.float().cpu())
        ys.append(y.float().cpu())
    return torch.cat(xs), torch.cat(ys)


def _save(path: Path, model, optimizer, state: TrainState, cfg: TrainConfig, extra: dict | None = None) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"kind": model.kind, "config": dataclasses.asdict(cfg), "state": dataclasses.asdict(state),
                "model": model.state_dict(), "optimizer": optimizer.state_dict() if optimizer else None,
                **(extra or {})}, tmp)
    tmp.replace(path)


def _plot(out: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    epochs = [h for h in history if "validation_loss" in h]
    figure, axes = pyplot.subplots(1, 2, figsize=(10, 4))
    axes[0].plot([h["epoch"] for h in epochs], [h["train_loss"] for h in epochs], label="train")
    axes[0].plot([h["epoch"] for h in epochs], [h["validation_loss"] for h in epochs], label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[0].legend()
    axes[1].plot([h["epoch"] for h in epochs], [h["validation_mrr"] for h in epochs])
    axes[1].set(xlabel="epoch", ylabel="MRR", title="validation audio-to-sheet MRR")
    figure.tight_layout()
    figure.savefig(out / "curves.png", dpi=100)
    pyplot.close(figure)


@torch.no_grad()
def validate(model, dataset, indices: list[int], cfg: TrainConfig, device: torch.device) -> tuple[float, float]:
    """(loss, audio-to-sheet MRR) of the validation pairs in eval mode, in batches of ``cfg.batch_size``."""
    found = embed_pairs(model, dataset, indices, cfg, device)
    sheet, audio = torch.from_numpy(found["sheet"]), torch.from_numpy(found["audio"])
    size = min(cfg.batch_size, len(indices))
    chunks = range(0, len(indices) - size + 1, size)
    losses = [(ranking_loss if model.kind == "baseline" else info_nce)(sheet[i:i + size], audio[i:i + size]).item() for i in chunks]
    return float(np.mean(losses)), cross_modal(found["sheet"], found["audio"])["audio_to_sheet"]["MRR"]


def _log(out: Path, record: dict) -> None:
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")


def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True, patience: int | None = None) -> Path:
    """Train (or resume) the run ``cfg.out``; returns the path of its ``model.pt``.

    Resuming keeps the run's options (``config.json``) but for the data folders, the epochs, the
    device, workers, threads, ``max_steps``, ``refit_pairs`` and ``cache_rows`` of this call, and
    ``patience`` where given (a shorter wait before the learning rate halves, from now on).
    """
    out = Path(cfg.out)
    saved = None
    if resume and (out / "last.pt").is_file():
        # the run's own options hold; only where and how long to run now come from this call
        saved = torch.load(out / "last.pt", map_location="cpu", weights_only=False)
        now = {k: getattr(cfg, k) for k in ("data", "epochs", "device", "workers", "max_steps", "threads", "refit_pairs", "cache_rows")}
        cfg = dataclasses.replace(TrainConfig(**{**BEFORE, **saved["config"]}), **now)
    if patience is not None:
        cfg = dataclasses.replace(cfg, patience=patience)
    if cfg.model not in MODELS:
        raise TrainError(f"--model {cfg.model}: choose one of {', '.join(MODELS)}")
    if cfg.model == "baseline" and cfg.embedding == "cca" and cfg.batch_size <= EMBEDDING:
        raise TrainError(f"--batch-size {cfg.batch_size}: the baseline's CCA layer needs batches larger than its "
                         f"{EMBEDDING} dimensions (a smaller batch is fitted exactly); use 100, as Dorfer et al.")
    if resume and not (out / "last.pt").is_file():
        raise TrainError(f"{out}: nothing to resume (no last.pt); start without --resume")
    if not resume and (out / "last.pt").is_file():
        raise TrainError(f"{out}: a run is already there; continue it with --resume or choose another --out")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = device_of(cfg.device)
    data_class = MODELS[cfg.model]
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, cfg.embedding).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.init and not saved:
        _initialise(model, cfg, device)  # a wrong checkpoint fails before any data is read or file written
    train_set = data_class(cfg.data, "train", train=True, seed=cfg.seed, cache_rows=cfg.cache_rows, timbre_db=cfg.timbre_db)
    validation_set = data_class(cfg.data, "validation", cache_rows=cfg.cache_rows)
    validation = evenly_spaced(len(validation_set), cfg.validation_pairs)
    in_process = dataclasses.replace(cfg, workers=0)  # validation in this process, its rows prepared once a run
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = TrainState(lr=cfg.lr)
    out.mkdir(parents=True, exist_ok=True)
    if saved:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = TrainState(**saved["state"])
        torch.set_rng_state(saved["torch_rng"])
    else:
        (out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n", encoding="utf-8")
        if cfg.init:
            _log(out, {"event": "init", "from": str(cfg.init)})
        elif cfg.model == "fusa":
            indices = evenly_spaced(len(train_set), 2048)
            features = gather_features(model, train_set, indices, cfg, device, progress, "CCA init", batch_statistics=True)
            correlations = model.init_projections(*features)
            _log(out, {"event": "cca_init", "pairs": len(indices), "top_correlations": correlations[:5].tolist()})
    per_epoch = max(1, cfg.pairs_per_epoch // cfg.batch_size) if cfg.model == "baseline" else max(1, len(train_set) // cfg.batch_size)
    steps_now = 0
    batches = loader(train_set, cfg, per_epoch)
    while not state.done and state.epoch < cfg.epochs and (cfg.max_steps is None or steps_now < cfg.max_steps):
        batches.batch_sampler.epoch, batches.batch_sampler.start = state.epoch, state.step_in_epoch
        model.train()
        losses, started, pairs = [], time.perf_counter(), 0
        bar = tqdm(batches, desc=f"epoch {state.epoch + 1}/{cfg.epochs}", disable=not progress, leave=False)
        for batch in bar:
            sheet, audio = to_device(batch, device, cfg.channels_last)
            with autocast(device, cfg.precision):
                found = model(sheet, audio)
            loss = loss_of(model, found, batch, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            pairs += len(sheet)
            state.step_in_epoch += 1
            state.steps += 1
            steps_now += 1
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
            if cfg.max_steps is not None and steps_now >= cfg.max_steps:
                break
        record = {"epoch": state.epoch + 1, "steps": state.steps, "lr": state.lr, "train_loss": float(np.mean(losses)) if losses else None,
                  "first_losses": losses[:5], "pairs_per_s": pairs / max(time.perf_counter() - started, 1e-9)}
        if state.step_in_epoch < per_epoch:  # stopped by --max-steps inside the epoch
            _log(out, {**record, "event": "stopped"})
            _save(out / "last.pt", model, optimizer, state, cfg, {"torch_rng": torch.get_rng_state()})
            break
        val_loss, val_mrr = validate(model, validation_set, validation, in_process, device)
        record |= {"validation_loss": val_loss, "validation_mrr": val_mrr}
        _schedule(state, val_loss, optimizer, cfg, model, out)
        state.epoch += 1
        state.step_in_epoch = 0
        state.history.append(record)
        _log(out, record)
        name = f"epoch-{state.epoch:03d}"
        _save(out / f"{name}.pt", model, optimizer, state, cfg, {"torch_rng": torch.get_rng_state()})
        (out / f"{name}.json").write_text(json.dumps({"config": dataclasses.asdict(cfg), "state": dataclasses.asdict(state)}, indent=2) + "\n", encoding="utf-8")
        _save(out / "last.pt", model, optimizer, state, cfg, {"torch_rng": torch.get_rng_state()})
        _plot(out, state.history)
        if cfg.max_steps is not None and steps_now >= cfg.max_steps:
            break
    return finish(model, state, cfg, device, train_set, out, progress)


def _initialise(model, cfg: TrainConfig, device: torch.device) -> None:
    """Load the weights of checkpoint ``cfg.init`` (of the same model and embedding) into ``model``."""
    start = load_model(cfg.init, device)
    if start.kind != model.kind or getattr(start, "embedding", None) != getattr(model, "embedding", None):
        made = f"baseline with the {start.embedding} embedding" if start.kind == "baseline" else f"{start.kind} model"
        raise TrainError(f"--init {cfg.init}: holds a {made}, and this run trains --model {cfg.model}"
                         + (f" --embedding {cfg.embedding}" if cfg.model == "baseline" else ""))
    model.load_state_dict(start.state_dict())


def _schedule(state: TrainState, val_loss: float, optimizer, cfg: TrainConfig, model, out: Path) -> None:
    """Keep the best weights; halve the learning rate after ``patience`` epochs without improvement."""
    if val_loss < state.best:
        state.best, state.best_epoch, state.waited = val_loss, state.epoch + 1, 0
        torch.save(model.state_dict(), out / "best.pt")
        return
    state.waited += 1
    if state.waited >= cfg.patience:
        if state.halved >= cfg.halvings:
            state.done = True
            return
        state.halved, state.waited, state.lr = state.halved + 1, 0, state.lr / 2
        for group in optimizer.param_groups:
            group["lr"] = state.lr


def finish(model, state: TrainState, cfg: TrainConfig, device: torch.device, train_set, out: Path, progress: bool) -> Path:
    """Write ``model.pt``: the best weights so far (else the current), the baseline's CCA refit."""
    if (out / "best.pt").is_file():
        model.load_state_dict(torch.load(out / "best.pt", map_location=device, weights_only=True))
    extra = {}
    if model.kind == "baseline" and model.embedding == "cca":
        train_set.train = False  # the refit sees the pairs as evaluation does
        indices = evenly_spaced(len(train_set), cfg.refit_pairs)
        correlations = model.refit(*gather_features(model, train_set, indices, cfg, device, progress, "CCA refit"))
        extra = {"refit_pairs": len(indices), "canonical_correlations": correlations.tolist()}
    _save(out / "model.pt", model, None, state, cfg, extra)
    _log(out, {"event": "model", "steps": state.steps, "best_epoch": state.best_epoch, **extra})
    return out / "model.pt"


def load_model(path: str | Path, device: torch.device | str = "cpu") -> torch.nn.Module:
    """The model of a checkpoint written by :func:`train` (``model.pt`` or any ``*.pt`` of a run), in eval mode."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise TrainError(f"{path}: no checkpoint (train one with `pdmx-fusa train`, or name a .pt file)")
    saved = torch.load(path, map_location=device, weights_only=False)
    model = build_model(saved["kind"], saved["config"].get("embedding", "cca"))  # checkpoints older than the option hold a CCA layer
    model.load_state_dict(saved["model"])
    return model.to(device).eval()

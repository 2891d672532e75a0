"""Measure the training data loader and the baseline's training step (pairs per second).

    python -m pdmx_fusa.model.speed --data build/pdmx_fusa [--device cpu] [--steps 5]

Prints one JSON line per measurement: the loader with 0, 1 and 2 workers when rows must be decoded
(a 64-row cache, batches of 2 pairs from 50 rows), the cost of preparing one row (decoding its
page and audio, scaling the page, the visit's spectrogram), pairs per second cut from prepared
rows (what a run that holds every row in memory does after its first pass), and a training step
of the baseline on a batch of 100 in fp32, with bf16 autocast, and each with channels-last, at
the thread count torch chose (and at 1).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from .baseline import Baseline
from .data import RowBatches, SnippetPairs
from .losses import ranking_loss
from .train import autocast, device_of


def loader_speed(data: list[str], workers: int, batches: int = 6, batch_size: int = 100) -> float:
    """Pairs per second of a loader that decodes rows as it goes (the first batch, with the workers'
    start, excluded)."""
    dataset = SnippetPairs(data, "train", train=True)
    sampler = RowBatches(dataset, batch_size, batches + 1, rows_per_batch=50, reuse=2)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=workers)
    iterator = iter(loader)
    next(iterator)
    started = time.perf_counter()
    pairs = sum(len(batch["sheet"]) for batch in iterator)
    return pairs / (time.perf_counter() - started)


def prepared_speed(data: list[str], rows: int = 20, pairs: int = 2000) -> tuple[float, float]:
    """(ms to prepare a row, pairs per second cut from prepared rows), in this process."""
    dataset = SnippetPairs(data, "train", train=True, cache_rows=None)
    rows = min(rows, len(dataset.rows))
    started = time.perf_counter()
    for row in range(rows):
        dataset.prepared(row)
    per_row = (time.perf_counter() - started) / rows
    within = int(dataset.starts[rows])
    started = time.perf_counter()
    for index in range(pairs):
        dataset[index % within]
    return 1000 * per_row, pairs / (time.perf_counter() - started)


def step_speed(batch: dict, device: torch.device, precision: str, channels_last: bool, steps: int) -> float:
    """Pairs per second of the baseline's forward, loss, backward and Adam step (after one warm-up step)."""
    torch.manual_seed(0)
    form = torch.channels_last if channels_last else torch.contiguous_format
    model = Baseline().to(device).to(memory_format=form).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
    sheet, audio = (batch[k].to(device, memory_format=form) for k in ("sheet", "audio"))
    for step in range(steps + 1):
        if step == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        with autocast(device, precision):
            out = model(sheet, audio)
        loss = ranking_loss(out["sheet"].float(), out["audio"].float())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * len(sheet) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", required=True, help="a built dataset folder")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per setting")
    parser.add_argument("--no-loader", action="store_true", help="skip the loader measurements")
    args = parser.parse_args(argv)
    device = device_of(args.device)
    if not args.no_loader:
        for workers in (0, 1, 2):
            print(json.dumps({"loader_workers": workers, "pairs_per_s": round(loader_speed(args.data, workers), 1)}), flush=True)
        per_row, pairs_per_s = prepared_speed(args.data)
        print(json.dumps({"prepare_row_ms": round(per_row, 1), "prepared_pairs_per_s": round(pairs_per_s, 1)}), flush=True)
    dataset = SnippetPairs(args.data, "train", train=True)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_sampler=RowBatches(dataset, 100, 1))))
    threads = torch.get_num_threads()
    for count in sorted({threads, 1}, reverse=True):
        torch.set_num_threads(count)
        for precision in ("fp32", "bf16"):
            for channels_last in (False, True):
                speed = step_speed(batch, device, precision, channels_last, args.steps)
                print(json.dumps({"device": str(device), "threads": count, "precision": precision,
                                  "channels_last": channels_last, "pairs_per_s": round(speed, 1)}), flush=True)


if __name__ == "__main__":
    main()

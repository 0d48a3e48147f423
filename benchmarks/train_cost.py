"""Training cost per epoch of each MNIST recipe (ELBO, IWAE K = 5, IWAE K = 50), measured, not asserted.

    python -m benchmarks.train_cost [--batches 50] [--threads 1]

Times ``--batches`` optimiser steps of each preset's recipe on the binarized MNIST training images
(after 5 warm-up steps), and reports seconds per step and per epoch (500 steps of 100 images),
with the IWAE recipes as ratios to the ELBO one measured in the same run. Check ``uptime`` first:
another busy process makes torch many times slower on a 2-core machine. Writes
``benchmarks/results/train_cost.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from vaebench.data import load
from vaebench.models.vae import VAE
from vaebench.training.presets import preset_config
from vaebench.training.trainer import training_objective

RECIPES = ("mnist-vae", "mnist-iwae5", "mnist-iwae50")


def seconds_per_step(preset: str, train_x: torch.Tensor, batches: int) -> float:
    config = preset_config(preset)
    torch.manual_seed(config.seed)
    model = VAE(config.architecture)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    g = torch.Generator().manual_seed(1)
    times = []
    for step in range(batches + 5):
        idx = torch.randint(train_x.shape[0], (config.batch_size,), generator=g)
        start = time.perf_counter()
        loss = -training_objective(model, train_x[idx], config, g)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 5:
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]  # the median step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train_cost.md"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_x = load("binarized-mnist", "train", path=args.data)
    steps_per_epoch = train_x.shape[0] // 100
    rows = [(p, seconds_per_step(p, train_x, args.batches)) for p in RECIPES]
    anchor = rows[0][1]
    load_avg = os.getloadavg()[0]
    lines = [f"# Training cost per epoch ({args.threads} torch thread(s), median of {args.batches} steps, "
             f"load average {load_avg:.2f} at the end)", "",
             "| preset | objective | s / step | s / epoch | × the ELBO recipe |", "|---|---|---|---|---|"]
    for preset, sec in rows:
        config = preset_config(preset)
        objective = "ELBO" if config.objective == "elbo" else f"IWAE, K = {config.num_samples}"
        lines.append(f"| {preset} | {objective} | {sec:.4f} | {sec * steps_per_epoch:.1f} | {sec / anchor:.1f} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

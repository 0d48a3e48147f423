"""vaebench's importance sampling on a pythae VAE against pythae's own ``get_nll``, side by side.

The model is pythae's default MLP VAE (784-512-16, BCE), trained for a few epochs with pythae's
own training pipeline on binarized MNIST (random binary data where the files are absent: the cost
per sample is the same). Both estimate log p(x) of the same test points with K = 1000 samples from
the encoder: pythae with ``get_nll(n_samples=1000, batch_size=1000)`` point by point, vaebench
through ``vaebench.adapters.from_pythae`` and the ladder rung ``evaluate`` runs. The two are timed
alternately, ``--repeats`` times each, after a warm-up, in one process; the ratio of medians is
reported, with the per-point agreement (pythae − vaebench, mean ± SE).

    python -m benchmarks.evaluate_vs_pythae            # writes benchmarks/results/evaluate_vs_pythae.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def _data(points: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    from vaebench.data import load, missing

    if missing("binarized-mnist") is None:
        return load("binarized-mnist", "train"), load("binarized-mnist", "test")[:points], "binarized MNIST"
    g = torch.Generator().manual_seed(0)
    return (torch.rand(5000, 784, generator=g) < 0.15).float(), (torch.rand(points, 784, generator=g) < 0.15).float(), \
        "random binary data (binarized MNIST absent)"


def _train(train: torch.Tensor, epochs: int):
    from pythae.models import VAE, VAEConfig
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    torch.manual_seed(0)
    model = VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce"))
    config = BaseTrainerConfig(output_dir=os.environ.get("TMPDIR", "/tmp") + "/pythae-bench", num_epochs=epochs,
                               learning_rate=1e-3, per_device_train_batch_size=100, no_cuda=True)
    images = train.reshape(-1, 1, 28, 28)
    TrainingPipeline(model=model, training_config=config)(train_data=images[:45000], eval_data=images[45000:50000])
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/evaluate_vs_pythae.md"))
    args = parser.parse_args()

    import vaebench as vb
    from vaebench.evaluation.ladder import Rung, run_rung

    train, x, source = _data(args.points)
    pythae_model = _train(train, args.epochs)
    model = vb.adapters.from_pythae(pythae_model)
    images = x.reshape(-1, 1, 28, 28)
    prepared = model.prepare(images)
    rung = Rung("importance K=1000", "importance", 1000)

    def ours() -> np.ndarray:
        table, _ = run_rung(model, prepared, rung, torch.Generator().manual_seed(1), batch_size=100)
        return table["log_px"].to_numpy()

    def theirs() -> np.ndarray:
        with torch.no_grad():
            return np.array([pythae_model.get_nll(images[i : i + 1], n_samples=1000, batch_size=1000)
                             for i in range(images.shape[0])])

    ours(), theirs()  # warm-up
    times: dict[str, list[float]] = {"vaebench": [], "pythae": []}
    values = {}
    for _ in range(args.repeats):
        for name, fn in (("vaebench", ours), ("pythae", theirs)):
            start = time.perf_counter()
            values[name] = fn()
            times[name].append(time.perf_counter() - start)
    diff = values["pythae"] - values["vaebench"]
    ratio = statistics.median(times["pythae"]) / statistics.median(times["vaebench"])
    load = os.getloadavg()[0]
    text = (f"# vaebench importance (K = 1000) against pythae's get_nll on the same pythae VAE\n\n"
            f"Model: pythae VAE, default MLP 784-512-16, BCE, trained {args.epochs} epochs with pythae's pipeline on "
            f"{source}; {args.points} test points; torch {torch.__version__}, {torch.get_num_threads()} threads, load "
            f"average {load:.2f} at the end.\n\n"
            "| | median seconds | runs |\n|---|---|---|\n"
            f"| pythae `get_nll(n_samples=1000, batch_size=1000)` | {statistics.median(times['pythae']):.2f} | "
            f"{', '.join(f'{t:.2f}' for t in times['pythae'])} |\n"
            f"| vaebench `from_pythae` + importance (evaluate's rung) | {statistics.median(times['vaebench']):.2f} | "
            f"{', '.join(f'{t:.2f}' for t in times['vaebench'])} |\n\n"
            f"**vaebench is {ratio:.2f}× faster** (ratio of medians; target ≥ 1.5×).\n\n"
            f"Agreement (pythae − vaebench, per point, last run): {diff.mean():+.3f} ± "
            f"{diff.std(ddof=1) / np.sqrt(len(diff)):.3f} nats (mean ± SE over points; both are Monte Carlo "
            f"estimates with K = 1000, mean log p(x) {values['vaebench'].mean():.2f}).\n")
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()

"""Time of the quadrature truth on trained 2-D VAEs, and how the per-point grids are spread.

Each point refines its own grid (`vaebench.models.quadrature`), so a hard point costs only
itself. Target (issue 13): ``log_marginal`` of the first 100 mnist-2d test points in at most 60 s
on 2 CPU cores, with the stated error bound unchanged (1e-4 nats). Before per-point refinement
this took about 600 s: the slowest point set the grid of every point in the batch.

    python -m benchmarks.quadrature_time --out benchmarks/results [--points 100] [--preset mnist-2d]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vaebench.data import load
from vaebench.models.integrator import integrate
from vaebench.runtime import Contention
from vaebench.training.presets import preset_config
from vaebench.training.trainer import load_or_train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for quadrature_time.{json,md}")
    parser.add_argument("--points", type=int, default=100, help="the first N test points (default 100)")
    parser.add_argument("--preset", default="mnist-2d", help="a 2-D latent preset (default mnist-2d)")
    parser.add_argument("--data", help="data directory (default: $VAEBENCH_DATA, then ../shared/data)")
    args = parser.parse_args()
    config = preset_config(args.preset)
    model, checkpoint, _ = load_or_train(config, data_path=args.data, progress=False)
    model.requires_grad_(False)
    x = load(config.data, "test", path=args.data)[: args.points]
    with Contention() as busy:
        start = time.perf_counter()
        result = integrate(model, x, tol=1e-4, progress=True)
        seconds = time.perf_counter() - start
    grids, counts = torch.unique(result.points_per_dim, return_counts=True)
    row = {"preset": args.preset, "checkpoint": checkpoint.name, "points": args.points, "seconds": seconds,
           "max_error": float(result.error.max()), "grids": {int(g): int(c) for g, c in zip(grids, counts)},
           "threads": torch.get_num_threads(), "others_cores": busy.others}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quadrature_time.json").write_text(json.dumps(row, indent=2))
    spread = ", ".join(f"{c} at {g}²" for g, c in row["grids"].items())
    text = (f"# Quadrature truth: {args.points} {args.preset} test points\n\n"
            f"{seconds:.1f} s on {row['threads']} threads (other processes used {busy.others or 0:.2f} cores); "
            f"largest stated error {row['max_error']:.2g} nats (target 1e-4); final grids per point: {spread}.\n")
    (args.out / "quadrature_time.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

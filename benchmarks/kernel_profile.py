"""Where the GPU time of `importance` goes, beside the hand-fused loop: torch.profiler's kernel table.

    python -m benchmarks.kernel_profile --out DIR [--k 100000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.anchors import models
from vaebench import get_estimator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--k", type=int, default=100_000)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    importance = get_estimator("importance")
    lines = []
    for name, (model, x, hand) in models(device).items():
        g = torch.Generator(device=device).manual_seed(0)
        runs = {"importance": lambda: importance(model, x, args.k, generator=g, keep_log_weights=False),
                "hand": lambda: hand(model, x, args.k, g, chunk=4096)}
        for label, fn in runs.items():
            fn()
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
            with profile(activities=activities) as prof:
                fn()
                if device == "cuda":
                    torch.cuda.synchronize()
            key = "cuda_time_total" if device == "cuda" else "cpu_time_total"
            try:
                table = prof.key_averages().table(sort_by=key, row_limit=14, max_name_column_width=60)
            except (AttributeError, KeyError):
                table = prof.key_averages().table(sort_by="self_" + key.replace("_total", "") + "_total", row_limit=14)
            lines += [f"## {name}: {label} (K = {args.k})", table]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "kernel_profile.txt").write_text("\n".join(lines))
    print("\n".join(lines)[-6000:])


if __name__ == "__main__":
    main()

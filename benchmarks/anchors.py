"""`importance` against the hand-fused loops (benchmarks/hand_loop.py), in the same run, on every device.

For each device, model and K: the median time of `importance` (default settings, and with a
few explicit chunk sizes) and of the hand-fused loop, after a warm-up, device-synchronised, with
the CPU time other processes took while each ran. On CUDA also the measured dense fp32 and TF32
matrix-product rates, to state the decoder work as a share of the GPU's peak. Writes JSON and a
Markdown table.

    python -m benchmarks.anchors --out DIR [--devices cpu cuda] [--ks 1000 10000 ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from benchmarks.hand_loop import factor_analysis_is, vae_bernoulli_is
from vaebench import get_estimator
from vaebench.models import VAE, LinearGaussian
from vaebench.runtime import Contention, keep_freed_memory

HAND_CHUNK = {"cpu": 32, "cuda": 4096}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, device: str, repeats: int) -> tuple[float, float | None]:
    fn()
    _sync(device)
    times = []
    with Contention() as c:
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times), c.others


def gemm_tflops(device: str, tf32: bool, n: int = 8192) -> float:
    """Dense n×n×n float32 product rate (TF32 tensor cores when ``tf32``)."""
    saved = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        a = torch.randn(n, n, device=device)
        b = torch.randn(n, n, device=device)
        seconds, _ = _time(lambda: a @ b, device, 10)
        return 2 * n**3 / seconds / 1e12
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved


def models(device: str) -> dict[str, tuple]:
    torch.manual_seed(0)
    vae = VAE("iwae").to(device).eval().requires_grad_(False)
    g = torch.Generator(device=device).manual_seed(0)
    x_vae = (torch.rand(100, 784, generator=g, device=device) < 0.3).float()
    fa = LinearGaussian.random(100, 10, seed=0).to(torch.float32, device)
    x_fa = fa.sample(64, generator=torch.Generator(device=device).manual_seed(0))
    return {"iwae-784-200-200-50 (B=100)": (vae, x_vae, vae_bernoulli_is),
            "fa-100x10 mean-field (B=64)": (fa, x_fa, factor_analysis_is)}


def run(devices: list[str], ks: list[int], repeats: int, chunks: list[int]) -> list[dict]:
    importance = get_estimator("importance")
    rows = []
    for device in devices:
        for name, (model, x, hand) in models(device).items():
            for k in ks:
                g = torch.Generator(device=device).manual_seed(1)
                row = {"device": device, "device_name": torch.cuda.get_device_name() if device == "cuda"
                       else platform.processor() or platform.machine(), "model": name, "K": k, "B": x.shape[0],
                       "threads": torch.get_num_threads()}
                t, o = _time(lambda: hand(model, x, k, g, chunk=HAND_CHUNK[device]), device, repeats)
                row.update(hand_s=t, hand_others=o)
                t, o = _time(lambda: importance(model, x, k, generator=g, keep_log_weights=False), device, repeats)
                row.update(importance_s=t, importance_others=o)
                for c in chunks:
                    t, _ = _time(lambda: importance(model, x, k, generator=g, keep_log_weights=False, chunk_size=c),
                                 device, repeats)
                    row[f"importance_chunk{c}_s"] = t
                row["importance_over_hand_speed"] = row["hand_s"] / row["importance_s"]
                row["samples_per_s_importance"] = k * x.shape[0] / row["importance_s"]
                row["samples_per_s_hand"] = k * x.shape[0] / row["hand_s"]
                if "iwae" in name:  # decoder MACs per sample: 50·200 + 200·200 + 200·784
                    row["decoder_tflops_importance"] = row["samples_per_s_importance"] * 2 * (
                        50 * 200 + 200 * 200 + 200 * 784) / 1e12
                rows.append(row)
                print(json.dumps({k2: (round(v, 5) if isinstance(v, float) else v) for k2, v in row.items()}),
                      flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--devices", nargs="+", default=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    parser.add_argument("--ks", nargs="+", type=int, default=[1000, 10000, 100000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--chunks", nargs="+", type=int, default=[])
    args = parser.parse_args()
    keep_freed_memory()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"torch": torch.__version__, "rows": run(args.devices, args.ks, args.repeats, args.chunks)}
    if "cuda" in args.devices:
        result["gemm_tflops_fp32"] = gemm_tflops("cuda", tf32=False)
        result["gemm_tflops_tf32"] = gemm_tflops("cuda", tf32=True)
    (out / "anchors.json").write_text(json.dumps(result, indent=2))
    import pandas as pd

    table = pd.DataFrame(result["rows"])
    cols = ["device", "model", "K", "samples_per_s_importance", "samples_per_s_hand", "importance_over_hand_speed",
            *[c for c in table.columns if c.startswith("importance_chunk")], "importance_others", "hand_others"]
    lines = [table[[c for c in cols if c in table]].to_markdown(index=False, floatfmt=".4g")]
    for key in ("gemm_tflops_fp32", "gemm_tflops_tf32"):
        if key in result:
            lines.append(f"\n{key}: {result[key]:.1f}")
    (out / "anchors.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

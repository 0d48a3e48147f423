"""Peak tensor memory of a call: torch's own allocation record, not the process's resident set.

On a CPU the resident-set peak of a short call varies by several MB between identical runs
(page mapping, allocator arenas), which swamps a chunked estimator's few MB of temporaries.
The profiler's memory events list every tensor allocation and free in order; their running sum
is the live tensor memory, and its maximum is exact and repeatable. On CUDA the caching
allocator's ``max_memory_allocated`` gives the same quantity.

Usage: ``python benchmarks/peak_memory.py K [--keep-log-weights]`` prints the peak in MiB.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["peak_tensor_bytes"]


def peak_tensor_bytes(fn: Callable[[], Any], device: torch.device | str = "cpu") -> int:
    """Maximum live tensor memory allocated during ``fn()``, in bytes, over what was live before."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # kineto_results is not documented API, but it is what key_averages() is built from.
    events = sorted(
        (e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns()
    )
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.conftest import BATCH, DATA_DIM, LATENT_DIM
    from vaebench import get_estimator
    from vaebench.models import LinearGaussian

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("num_samples", type=int)
    parser.add_argument("--keep-log-weights", action="store_true")
    args = parser.parse_args()
    model = LinearGaussian.random(DATA_DIM, LATENT_DIM, seed=0).to(torch.float32)
    x = model.sample(BATCH, generator=torch.Generator().manual_seed(0))
    run = lambda: get_estimator("importance")(model, x, args.num_samples, keep_log_weights=args.keep_log_weights)  # noqa: E731
    print(f"{peak_tensor_bytes(run) / 2**20:.3f} MiB")

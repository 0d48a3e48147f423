"""Peak tensor memory of a call: torch's own allocation record, not the process's resident set.

On a CPU the resident-set peak of a short call varies by several MB between identical runs
(page mapping, allocator arenas), which swamps a chunked estimator's few MB of temporaries.
The profiler's memory events list every tensor allocation and free in order; their running sum
is the live tensor memory, and its maximum is exact and repeatable. On CUDA the caching
allocator's ``max_memory_allocated`` gives the same quantity.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import Any, Callable

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["peak_tensor_bytes", "tensor_memory_profile"]


def peak_tensor_bytes(fn: Callable[[], Any], device: torch.device | str = "cpu") -> int:
    """Maximum live tensor memory allocated during ``fn()``, in bytes, over what was live before.

    Raises
    ------
    NotImplementedError
        The installed torch's profiler does not expose its memory events.
    """
    return tensor_memory_profile(fn, device)[0]


def tensor_memory_profile(fn: Callable[[], Any], device: torch.device | str = "cpu") -> tuple[int, int]:
    """(peak live tensor bytes of ``fn()``, allocation events recorded to find it).

    On a CPU the profiler keeps every event until the call ends (a few hundred bytes each), so the
    count says what measuring a larger call would cost: callers scale their calls by it. On CUDA
    the count is 0 (the allocator keeps the peak itself).
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before, 0
    with _without_profiler_banner(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # kineto_results is not documented API, but it is what key_averages() is built from.
    try:
        raw = prof.profiler.kineto_results.events()
        events = sorted((e for e in raw if e.name() == "[memory]"), key=lambda e: e.start_ns())
    except AttributeError as exc:
        raise NotImplementedError(f"this torch's profiler does not expose memory events ({exc})") from None
    live = peak = 0
    for event in events:
        live += event.nbytes()
        peak = max(peak, live)
    return peak, len(raw)


@contextlib.contextmanager
def _without_profiler_banner() -> Iterator[None]:
    """Drop the ``USDT: ... profiler_start/stop`` lines kineto writes to file descriptor 2.

    Everything else written to stderr meanwhile (the estimator's own warnings) is passed on.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced by an object without a descriptor
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(keepends=True) if not line.startswith(b"USDT:")]
            if kept:
                os.write(fd, b"".join(kept))

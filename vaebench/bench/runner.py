"""Running a sweep: pending cells through an executor, each result stored as it arrives."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vaebench.bench.cells import run_cell
from vaebench.bench.config import Cell, SweepConfig
from vaebench.results.store import ResultStore

__all__ = ["run_sweep", "make_executor", "SerialExecutor", "unavailable_models"]


class SerialExecutor(cf.Executor):
    """Runs each submitted call at once in the calling thread (the default: no pickling)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, as other executors do
            future.set_exception(exc)
        return future


def _one_thread() -> None:
    torch.set_num_threads(1)


def make_executor(workers: int = 1, scheduler: str | None = None) -> tuple[cf.Executor, Callable[[], None], int]:
    """An executor, its shutdown, and how many cells to keep in flight on it: serial, a local
    process pool (``workers`` > 1), or a dask.distributed cluster (``scheduler`` address)."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ValueError("--scheduler needs dask.distributed: pip install 'vaebench[distributed]'") from None
        client = Client(scheduler)
        return client.get_executor(), client.close, 2 * max(1, sum(client.nthreads().values()))
    if workers > 1:
        pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread)
        return pool, pool.shutdown, 2 * workers
    executor = SerialExecutor()
    return executor, executor.shutdown, 1


class _Progress:
    """A tqdm bar on a terminal; plain periodic lines otherwise (CI logs); nothing when quiet."""

    def __init__(self, total: int, done: int, quiet: bool) -> None:
        self.total, self.count, self.quiet = total, done, quiet
        self.start = self.last = time.monotonic()
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="cell", desc="bench")
        elif not quiet:
            print(f"[bench] {done}/{total} cells already done", file=sys.stderr, flush=True)

    def update(self, cell: Cell) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.monotonic()
        if not self.quiet and (now - self.last >= 10 or self.count == self.total):
            self.last = now
            print(f"[bench] {self.count}/{self.total} cells ({100 * self.count / self.total:.0f}%), "
                  f"{now - self.start:.0f} s; last {cell.key}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def unavailable_models(config: SweepConfig) -> dict[str, str]:
    """Models of the sweep that cannot be built here (their data set is absent), with the reason."""
    from vaebench.data import missing
    from vaebench.models import required_data

    reasons = {}
    for entry in config.models:
        dataset = required_data(entry.model)
        reason = missing(dataset) if dataset is not None else None
        if reason is not None:
            reasons[entry.name] = reason
    return reasons


def open_store(config: SweepConfig, out: str | Path) -> ResultStore:
    """The results directory of ``config`` (created, or reopened if it holds the same sweep)."""
    return ResultStore(out, config.fingerprint(), config.to_dict(), [c.key for c in config.cells()])


def run_sweep(
    config: SweepConfig,
    out: str | Path,
    *,
    executor: cf.Executor | None = None,
    in_flight: int = 1,
    quiet: bool = False,
) -> ResultStore:
    """Run the cells of ``config`` that ``out`` does not hold yet; return the store.

    Every finished cell is written at once (atomically), so an interrupted sweep resumes where it
    stopped when run again with the same config and directory. At most ``in_flight`` cells are
    submitted ahead of the ones written, so a kill loses at most that many. CUDA cells where no GPU
    is present, and models whose data set is absent, are skipped with a warning (they stay pending
    and the report lists them).
    """
    store = open_store(config, out)
    done = store.done()
    pending = [c for c in config.cells() if c.key not in done]
    if not torch.cuda.is_available() and any(c.device.startswith("cuda") for c in pending):
        warnings.warn("no CUDA device: the sweep's cuda cells are skipped", stacklevel=2)
        pending = [c for c in pending if not c.device.startswith("cuda")]
    if any(c.dtype == "tf32" and not c.device.startswith("cuda") for c in pending):
        warnings.warn("tf32 (TF32 matrix products) exists on CUDA only: the sweep's CPU tf32 cells are skipped",
                      stacklevel=2)
        pending = [c for c in pending if not (c.dtype == "tf32" and not c.device.startswith("cuda"))]
    for name, reason in unavailable_models(config).items():
        warnings.warn(f"model {name!r} is skipped: {reason}", stacklevel=2)
        pending = [c for c in pending if c.model != name]
    executor = executor or SerialExecutor()
    progress = _Progress(len(config.cells()), len(config.cells()) - len(pending), quiet)
    queue = iter(pending)
    running: dict[cf.Future, Cell] = {}
    try:
        while True:
            while len(running) < max(1, in_flight) and (cell := next(queue, None)) is not None:
                running[executor.submit(run_cell, config, cell)] = cell
            if not running:
                break
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                cell = running.pop(future)
                store.write(cell.key, future.result())
                progress.update(cell)
    finally:
        for future in running:
            future.cancel()
        progress.close()
    return store

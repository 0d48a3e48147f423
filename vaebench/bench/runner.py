"""Running a sweep: pending cells through an executor, each result stored as it arrives."""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
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
        from vaebench.bench.workers import worker_pool

        pool, shutdown = worker_pool(workers)
        return pool, shutdown, 2 * workers
    executor = SerialExecutor()
    return executor, executor.shutdown, 1


class _Progress:
    """A tqdm bar on a terminal; plain periodic lines otherwise (CI logs); nothing when quiet.

    The ETA comes from measured cell costs: a pending cell is expected to take what finished cells
    of the same model, estimator and K took; else the same model and estimator at the nearest K
    measured (scaled up by K where K is larger: cost grows at most linearly in K); else the same
    estimator and K on another model; else the median of all cells measured so far.
    """

    #: A cell running longer than this is named on stderr, and again each time this much more has passed.
    HEARTBEAT_SECONDS = 60.0

    def __init__(self, total: int, done: int, quiet: bool, pending: list[Cell] | None = None) -> None:
        import threading

        self.total, self.count, self.quiet = total, done, quiet
        self.start = self.last = time.monotonic()
        self.pending = {c.key: c for c in (pending or [])}
        self.costs: dict[tuple[str, str, int], list[float]] = {}
        self.running: dict[str, float] = {}  # key -> when it was submitted
        self._stop = threading.Event()
        self._watch = None
        if not quiet:
            self._watch = threading.Thread(target=self._heartbeat, daemon=True, name="vaebench-heartbeat")
            self._watch.start()
        self.bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="cell", desc="bench")
        elif not quiet:
            print(f"[bench] {done}/{total} cells already done", file=sys.stderr, flush=True)

    def _expected(self, cell: Cell, overall: float) -> float:
        import statistics

        own = self.costs.get((cell.model, cell.estimator, cell.num_samples))
        if own:
            return statistics.fmean(own)
        near = [(k, statistics.fmean(v)) for (m, e, k), v in self.costs.items()
                if m == cell.model and e == cell.estimator]
        if near:
            k, cost = min(near, key=lambda kv: abs(math.log(kv[0] / cell.num_samples)))
            return cost * max(1.0, cell.num_samples / k)
        other = [c for (m, e, k), v in self.costs.items() if e == cell.estimator and k == cell.num_samples for c in v]
        return statistics.fmean(other) if other else overall

    def eta(self) -> float | None:
        """Seconds the pending cells should take, from the costs measured so far (None before any)."""
        import statistics

        if not self.costs:
            return None
        overall = statistics.median(c for v in self.costs.values() for c in v)
        return sum(self._expected(c, overall) for c in self.pending.values())

    def submitted(self, cell: Cell) -> None:
        self.running[cell.key] = time.monotonic()

    def _heartbeat(self) -> None:
        """Name each long cell once per `HEARTBEAT_SECONDS`: a long cell is not a hung sweep."""
        told: dict[str, int] = {}
        while not self._stop.wait(min(5.0, self.HEARTBEAT_SECONDS / 4)):
            now = time.monotonic()
            for key, since in list(self.running.items()):
                periods = int((now - since) // self.HEARTBEAT_SECONDS)
                if periods > told.get(key, 0):
                    told[key] = periods
                    text = f"[bench] {key} has been running (or queued) for {now - since:.0f} s"
                    if self.bar is not None:
                        self.bar.write(text, file=sys.stderr)
                    else:
                        print(text, file=sys.stderr, flush=True)

    def update(self, cell: Cell, seconds: float | None = None) -> None:
        self.running.pop(cell.key, None)
        self.count += 1
        self.pending.pop(cell.key, None)
        if seconds is not None:
            self.costs.setdefault((cell.model, cell.estimator, cell.num_samples), []).append(seconds)
        eta = self.eta()
        if self.bar is not None:
            self.bar.update(1)
            if eta is not None:
                self.bar.set_postfix_str(f"ETA {eta:.0f} s (from measured cell costs)", refresh=False)
            return
        now = time.monotonic()
        if not self.quiet and (now - self.last >= 10 or self.count == self.total):
            self.last = now
            left = f", about {eta:.0f} s left" if eta is not None and self.count < self.total else ""
            print(f"[bench] {self.count}/{self.total} cells ({100 * self.count / self.total:.0f}%), "
                  f"{now - self.start:.0f} s{left}; last {cell.key}", file=sys.stderr, flush=True)

    def close(self) -> None:
        self._stop.set()
        if self.bar is not None:
            self.bar.close()


def unavailable_models(config: SweepConfig) -> dict[str, str]:
    """Models of the sweep that cannot be built here (their data set is absent), with the reason."""
    from vaebench.data import missing
    from vaebench.registry import get_model_spec

    reasons = {}
    for entry in config.models:
        dataset = get_model_spec(entry.model).data
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
    force: bool = False,
) -> ResultStore:
    """Run the cells of ``config`` that ``out`` does not hold yet; return the store.

    Before any work the sweep's size (cells, likelihood evaluations: `vaebench.bench.cost`) is
    printed and checked against the budget; beyond it the sweep is refused unless ``force``.

    Every finished cell is written at once (atomically), so an interrupted sweep resumes where it
    stopped when run again with the same config and directory. At most ``in_flight`` cells are
    submitted ahead of the ones written, so a kill loses at most that many. CUDA cells where no GPU
    is present, and models whose data set is absent, are skipped with a warning (they stay pending
    and the report lists them).
    """
    from vaebench.bench.cost import check_budget, sweep_cost

    cells, rows = sweep_cost(config)
    check_budget(rows, f"sweep {config.name!r}", force, cells=cells)
    if not quiet:
        print(f"[bench] {cells} cells, about {rows:.3g} likelihood evaluations in all", file=sys.stderr, flush=True)
    with SweepLock(Path(out)):
        return _run_locked(config, out, executor, in_flight, quiet)


class SweepLock:
    """A lock file on a results directory naming the owning PID: a second sweep refuses at once.

    A lock whose process is gone (a killed sweep) is stale: it is replaced, with a warning.
    """

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / ".lock"

    def __enter__(self) -> "SweepLock":
        from vaebench.results.store import make_folder

        make_folder(self.path.parent, "the results folder")
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and owner != os.getpid() and _alive(owner):
                    raise RuntimeError(f"another sweep (PID {owner}) is writing to {self.path.parent}; wait for it, "
                                       f"or remove {self.path} if that process is not a vaebench sweep") from None
                warnings.warn(f"removing the stale lock {self.path} of process {owner}, which is gone", stacklevel=3)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise RuntimeError(f"could not take the lock {self.path}")

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or "0") or None
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc: object) -> None:
        if self._owner() == os.getpid():
            self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    from vaebench.results.store import process_alive

    return process_alive(pid)


def _run_locked(config: SweepConfig, out: str | Path, executor: cf.Executor | None, in_flight: int,
                quiet: bool) -> ResultStore:
    store = open_store(config, out)
    _retry_timed_out(store, config.timeout, quiet)
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
    progress = _Progress(len(config.cells()), len(config.cells()) - len(pending), quiet, pending)
    queue = iter(pending)
    running: dict[cf.Future, Cell] = {}
    try:
        while True:
            while len(running) < max(1, in_flight) and (cell := next(queue, None)) is not None:
                progress.submitted(cell)
                running[executor.submit(run_cell, config, cell)] = cell
            if not running:
                break
            finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                cell = running.pop(future)
                record = future.result()
                store.write(cell.key, record)
                timing = record.get("timing") or {}
                progress.update(cell, record.get("seconds", 0.0) + sum(timing.get("repeats") or []))
    finally:
        for future in running:
            future.cancel()
        progress.close()
    if config.bdmc is not None:
        _run_bdmc(config, store, set(unavailable_models(config)), quiet)
    from vaebench.bench.config import GROUND_TRUTH_DIR
    from vaebench.results.references import store_references

    store_references(GROUND_TRUTH_DIR, store.root)  # the report reads only the run: shipped inputs go into it
    return store


def _retry_timed_out(store: ResultStore, timeout: float | None, quiet: bool) -> None:
    """Cells that ran past a shorter timeout than this run's run again (their records are kept
    under ``retried/``); with the same or a shorter timeout they stay failed."""
    for record in store.records(failed=True):
        limit = record.get("timed_out")
        if isinstance(limit, (int, float)) and (timeout is None or timeout > limit):
            key = Cell(**record["cell"]).key
            store.retire(key)
            if not quiet:
                print(f"[bench] {key} ran past the timeout of {limit:g} s before: it runs again "
                      f"({'no limit' if timeout is None else f'timeout {timeout:g} s'})", file=sys.stderr, flush=True)


def _run_bdmc(config: SweepConfig, store: ResultStore, unavailable: set[str], quiet: bool) -> None:
    """The sweep's BDMC runs (after its cells; each model's file is skipped when already done)."""
    from dataclasses import replace

    from vaebench.bench.bdmc import run_bdmc

    settings = replace(config.bdmc, models=tuple(m for m in config.bdmc.models if m not in unavailable))
    entries = {m.name: {"model": m.model, "options": m.options} for m in config.models}
    report = None if quiet else (lambda text: print(f"[bench] BDMC {text}", file=sys.stderr, flush=True))
    run_bdmc(settings, entries, store.root, config.seed, progress=report)

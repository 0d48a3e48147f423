"""A local pool of sweep workers that die with the sweep, from their first instant.

A spawned worker spends its first seconds importing torch (3.6 s here on a quiet machine, over
10 s under load) before any code of ours runs in it. A parent-death signal armed only then left
a window: a ``--workers 2`` sweep killed during it left its workers (and the resource tracker that
they keep alive) running after the sweep was gone. So on Linux each worker starts through a small
launcher: ``/bin/sh`` runs a bare interpreter (no site, no torch) that arms ``PR_SET_PDEATHSIG``,
checks that its parent is still the sweep, and only then ``exec``\\s the real worker interpreter;
the signal survives the ``exec``. Elsewhere a worker polls its parent between cells.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import multiprocessing.context
import multiprocessing.spawn
import os
import shlex
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

__all__ = ["worker_pool"]

# The launcher's Python: arm the parent-death signal, refuse to run if the sweep is already gone,
# then become the interpreter that multiprocessing meant to start (argv: ppid, python, its args).
_ARM = ("import ctypes, os, signal, sys\n"
        "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"  # PR_SET_PDEATHSIG
        "os.getppid() == int(sys.argv[1]) or os._exit(1)\n"
        "os.execv(sys.argv[2], sys.argv[2:])\n")

_spawn_lock = threading.Lock()


def _launcher(folder: Path) -> Path:
    """Write the launcher script into ``folder``: ``/bin/sh`` so that its ``$PPID`` is the sweep."""
    python = shlex.quote(sys.executable)
    path = folder / "vaebench-worker"
    path.write_text(f"#!/bin/sh\nexec {python} -I -S -c {shlex.quote(_ARM)} \"$PPID\" {python} \"$@\"\n")
    path.chmod(0o700)
    return path


class _LaunchedProcess(multiprocessing.context.SpawnProcess):
    """A spawned process started through ``launcher`` (multiprocessing reads its executable from a
    module global, so it is swapped for the duration of the start, under a lock)."""

    launcher: str | None = None

    def start(self) -> None:
        if self.launcher is None:
            super().start()
            return
        with _spawn_lock:
            saved = multiprocessing.spawn.get_executable()
            multiprocessing.spawn.set_executable(self.launcher)
            try:
                super().start()
            finally:
                multiprocessing.spawn.set_executable(saved)


class _LaunchedContext(multiprocessing.context.SpawnContext):
    """The spawn context, its processes started through one pool's launcher."""

    def __init__(self, launcher: str | None) -> None:
        super().__init__()
        self.launcher = launcher

    def Process(self, *args, **kwargs) -> _LaunchedProcess:  # noqa: N802 - multiprocessing's name
        process = _LaunchedProcess(*args, **kwargs)
        process.launcher = self.launcher
        return process


def _watch_parent(parent: int) -> None:
    """Without a parent-death signal: a daemon thread that ends the worker once its parent is gone."""
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="vaebench-parent-watch").start()


def _worker_init(parent: int, armed: bool) -> None:
    """Each worker: one torch thread (the pool is the parallelism), and it dies with the sweep."""
    import torch

    torch.set_num_threads(1)
    if os.getppid() != parent:  # the sweep died while this worker started
        os._exit(1)
    if not armed:
        _watch_parent(parent)


def _can_launch() -> bool:
    return sys.platform.startswith("linux") and Path("/bin/sh").exists() and not getattr(sys, "frozen", False)


def worker_pool(workers: int) -> tuple[cf.ProcessPoolExecutor, Callable[[], None]]:
    """A process pool of ``workers`` spawned workers that cannot outlive this process, and its shutdown."""
    folder = Path(tempfile.mkdtemp(prefix="vaebench-workers-")) if _can_launch() else None
    launcher = str(_launcher(folder)) if folder is not None else None
    pool = cf.ProcessPoolExecutor(workers, mp_context=_LaunchedContext(launcher), initializer=_worker_init,
                                  initargs=(os.getpid(), folder is not None))

    def shutdown() -> None:
        try:
            pool.shutdown(cancel_futures=True)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    return pool, shutdown

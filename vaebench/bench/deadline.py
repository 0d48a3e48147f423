"""A wall-clock limit on a block of code: a sweep cell that runs past its ``timeout`` is stopped.

In the main thread (the serial sweep, each worker process of a local pool) the limit is an
interval timer whose SIGALRM raises `CellTimeout`: it interrupts Python code and blocking calls
such as ``time.sleep``. A long single torch kernel is not interruptible; the exception arrives as
soon as it returns. Elsewhere (a dask worker thread) the exception is delivered asynchronously to
the thread at its next Python instruction, which does not interrupt a blocking call.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import threading
from collections.abc import Iterator

__all__ = ["CellTimeout", "time_limit"]


class CellTimeout(BaseException):
    """Raised in a block that ran past its limit. A `BaseException`, like `KeyboardInterrupt`, so
    that an estimator's own ``except Exception`` cannot swallow it."""

    def __init__(self, seconds: float | None = None) -> None:
        super().__init__("ran past the cell timeout" + (f" of {seconds:g} s" if seconds is not None else ""))
        self.seconds = seconds


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise `CellTimeout` in the block once it has run ``seconds`` (no limit when None)."""
    if seconds is None:
        yield
        return
    if not seconds > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {seconds!r}")
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        with _alarm(seconds):
            yield
    else:
        with _async_raise(seconds):
            yield


@contextlib.contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise CellTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _async_raise(seconds: float) -> Iterator[None]:
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"left": False, "fired": False}

    def expire() -> None:
        with lock:
            if not state["left"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(CellTimeout))

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except CellTimeout:  # the asynchronous exception is raised without arguments: give it its limit
        raise CellTimeout(seconds) from None
    finally:
        timer.cancel()
        with lock:
            state["left"] = True
            fired = state["fired"]
        if fired:  # fired but not yet delivered: withdraw it, and say so here instead
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)
    if fired:
        raise CellTimeout(seconds)

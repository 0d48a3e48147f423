"""Process-level settings for vaebench's own entry points (CLI, benchmarks, sweeps).

Chunked estimators allocate and free ~1 MiB tensors for every chunk. glibc's malloc returns such
blocks to the kernel (mmap / heap trimming) and page-faults them back in on the next chunk:
measured here, 197 000 minor faults and 2-2.5x the time for one K = 10^4 importance estimate on
a D = 100 model. Raising the mmap and trim thresholds keeps the memory in the process. This is a
process-wide choice, so the library never makes it on import; the ``vaebench`` command and the
benchmark suites call `keep_freed_memory`, and so may a user's script.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["Contention", "choose_threads", "keep_freed_memory"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def keep_freed_memory(mmap_threshold: int = 64 * 2**20, trim_threshold: int = 512 * 2**20) -> bool:
    """Ask glibc malloc to keep freed blocks below these sizes; True where it applied (glibc only)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))


# ----------------------------------------------------------------------------- contention
def _busy_jiffies() -> int | None:
    """CPU time (in clock ticks) all processes have spent busy since boot, from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values[:8]) - idle


def _run_delay_seconds() -> float | None:
    """Time this process's threads have spent runnable but waiting for a core (``/proc/self/task/*/schedstat``,
    nanosecond resolution): the direct cost of contention, measurable over regions of any length."""
    import glob

    paths = glob.glob("/proc/self/task/*/schedstat")
    if not paths:
        return None
    total = 0
    try:
        for path in paths:
            with open(path) as f:
                total += int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def _own_cpu_seconds() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Contention:
    """Measures how much CPU other processes used while a timed region ran.

    ``others`` is in cores (1.0: one core was fully taken by someone else on average), read from
    /proc/stat minus this process's own CPU time; None where /proc/stat is not readable or the
    region lasted under `MIN_SECONDS` (the kernel counts CPU time in 10 ms ticks). ``load`` is the
    1-minute load average minus this process's one runnable thread, recorded always. ``waited`` is
    the time this process's threads spent runnable but without a core, in cores, from the kernel's
    per-thread scheduler statistics: precise for regions of any length. On a 2-core machine a
    torch parallel region waits for its slowest thread, so even 0.2 cores of contention can make
    a timing many times slower: `CONTAMINATED_CORES` marks a timing as untrustworthy.
    """

    CONTAMINATED_CORES = 0.1
    MIN_SECONDS = 0.1

    def __enter__(self) -> "Contention":
        import os
        import time

        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._delay = _run_delay_seconds()
        self._busy, self._own, self._wall = _busy_jiffies(), _own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        import os
        import time

        wall = time.perf_counter() - self._wall
        busy = _busy_jiffies()
        self.others: float | None = None
        if busy is not None and self._busy is not None and wall >= self.MIN_SECONDS:
            others = (busy - self._busy) / self._ticks - (_own_cpu_seconds() - self._own)
            self.others = max(0.0, others / wall)
        self.load = max(0.0, os.getloadavg()[0] - 1) if hasattr(os, "getloadavg") else None
        delay = _run_delay_seconds()
        self.waited: float | None = None
        if delay is not None and self._delay is not None and wall > 0:
            self.waited = max(0.0, delay - self._delay) / wall

    @property
    def contaminated(self) -> bool:
        """Other processes took more than `CONTAMINATED_CORES` of CPU while the region ran, or this
        process's threads waited that long for a core (the load average is not used: it also counts
        this process's own threads)."""
        return any(v is not None and v > self.CONTAMINATED_CORES for v in (self.others, self.waited))


def choose_threads(probe_seconds: float = 0.3) -> tuple[int, float | None]:
    """Set torch's CPU thread count so that a busy machine cannot stall vaebench; returns (threads, others).

    With torch's default of one thread per core, every parallel region waits for its slowest
    thread: on a 2-core machine a competing process that wants a core made torch up to 200x
    slower (a 1 MiB fill-and-multiply went from 0.065 ms to 14 ms). This measures, over
    ``probe_seconds``, how many cores other processes use, and keeps only the free ones (at least
    one). ``VAEBENCH_THREADS`` overrides the choice.
    """
    import os
    import time

    import torch

    if os.environ.get("VAEBENCH_THREADS"):
        text = os.environ["VAEBENCH_THREADS"].strip()
        if not text.isdigit() or int(text) < 1:
            raise ValueError(f"VAEBENCH_THREADS must be a whole number of threads >= 1, got {text!r}")
        torch.set_num_threads(int(text))
        return torch.get_num_threads(), None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    with Contention() as contention:
        time.sleep(probe_seconds)
    others = contention.others
    threads = cores if others is None else max(1, min(cores, round(cores - others)))
    torch.set_num_threads(threads)
    return threads, others

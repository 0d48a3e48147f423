"""What every measurement records about where and how it ran: versions, device, threads, commit, time."""

from __future__ import annotations

import functools
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

__all__ = ["run_metadata"]


@functools.cache
def _commit() -> str | None:
    """The source commit, with ``+dirty`` when the package's own files have uncommitted changes
    (not the rest of the tree: a report being rewritten in place must not mark itself dirty)."""
    where = Path(__file__).resolve().parents[1]  # the vaebench package
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=where)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], capture_output=True,
                               text=True, timeout=10, cwd=where).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_metadata(device: str) -> dict[str, Any]:
    """Versions, device, thread count, commit and time of a measurement."""
    from vaebench.version import __version__

    return {
        "vaebench": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device_name": _device_name(device),
        "threads": torch.get_num_threads(),
        "commit": _commit(),
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
    }

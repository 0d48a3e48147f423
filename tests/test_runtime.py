"""Process-level measurements: contention of a timed region by other processes, and the thread choice."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from vaebench.runtime import Contention, choose_threads


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs /proc (Linux)")
def test_a_busy_competitor_is_measured_and_flags_the_timing():
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 5\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        with Contention() as contention:
            end = time.perf_counter() + 0.5
            while time.perf_counter() < end:  # our own work: one busy thread
                pass
    finally:
        busy.kill()
        busy.wait()
    assert contention.others is not None and contention.others > 0.5, contention.others
    assert contention.contaminated


def test_short_regions_do_not_guess_from_ticks():
    with Contention() as contention:
        pass
    assert contention.others is None  # under 0.1 s the kernel's 10 ms ticks say nothing
    assert contention.waited is None or contention.waited >= 0


def test_thread_choice_can_be_forced(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("VAEBENCH_THREADS", "1")
    try:
        assert choose_threads() == (1, None) and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("value", ["abc", "-4", "0", "2.5"])
def test_a_bad_thread_count_is_refused_with_a_sentence(monkeypatch, value):
    monkeypatch.setenv("VAEBENCH_THREADS", value)
    with pytest.raises(ValueError, match="VAEBENCH_THREADS must be a whole number of threads >= 1"):
        choose_threads()

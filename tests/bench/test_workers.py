"""The local worker pool: workers die with a killed sweep, even during their start on a loaded machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.bench.test_sweep import tiny_config

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc (Linux)")


def _marked(mark: str) -> list[int]:
    """Live processes (not zombies) whose environment carries ``mark``: the sweep and all it started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"VAEBENCH_TEST_MARK={mark}".encode() not in (entry / "environ").read_bytes():
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow  # 30 s under deliberate load: runs in `nox -s kit` (CI's second step)
def test_a_sweep_killed_while_its_workers_start_under_load_leaves_no_process(tmp_path):
    """SIGKILL the sweep the moment its workers exist, while two busy loops load both cores: a worker
    then is still starting (importing torch takes seconds under load), the window in which a
    parent-death signal armed by the pool's initializer is not yet armed. Nothing may be alive 3 s later."""
    mark = uuid.uuid4().hex
    env = {**os.environ, "VAEBENCH_TEST_MARK": mark}
    config = tiny_config(tmp_path, replicates=50)
    load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        sweep = subprocess.Popen([sys.executable, "-m", "vaebench", "bench", "--config", str(config), "--out",
                                  str(tmp_path / "run"), "--quiet", "--workers", "2"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(_marked(mark)) < 3:  # the sweep and two of its children
            time.sleep(0.01)
        assert len(_marked(mark)) >= 3, "the sweep started its workers"
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait()
        time.sleep(3)
        assert _marked(mark) == [], "processes of the killed sweep are still alive"
    finally:
        for p in load:
            p.kill()
            p.wait()
        for pid in _marked(mark):
            os.kill(pid, signal.SIGKILL)


def test_worker_pool_runs_work_and_cleans_its_launcher():
    from vaebench.bench.workers import worker_pool

    pool, shutdown = worker_pool(2)
    launcher = Path(pool._mp_context.launcher)
    try:
        assert launcher.exists()
        parents = {pool.submit(os.getppid).result() for _ in range(4)}
    finally:
        shutdown()
    assert parents == {os.getpid()}, "workers are this process's own children, started through the launcher"
    assert not launcher.parent.exists(), "the launcher's folder is removed at shutdown"

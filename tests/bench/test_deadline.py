"""Cell time limits: `time_limit` stops a block in the main thread and in other threads, leaves no
stray exception behind, and a sweep records an overrunning cell as failed and reruns it later."""

from __future__ import annotations

import threading
import time

import pytest

from vaebench.bench import load_config, run_sweep
from vaebench.bench.config import check_timeout
from vaebench.bench.deadline import CellTimeout, time_limit


def test_main_thread_limit_interrupts_a_sleep():
    start = time.monotonic()
    with pytest.raises(CellTimeout, match="timeout of 0.2 s"):
        with time_limit(0.2):
            time.sleep(30)
    assert time.monotonic() - start < 5


def test_an_estimator_catching_exception_cannot_swallow_the_limit():
    with pytest.raises(CellTimeout):
        with time_limit(0.2):
            try:
                time.sleep(30)
            except Exception:  # noqa: BLE001 - what a careless plug-in does
                pass
            time.sleep(30)


def test_worker_thread_limit_interrupts_python_code():
    """A dask worker runs cells in threads: there the exception is delivered asynchronously."""
    outcome = {}

    def work():
        start = time.monotonic()
        try:
            with time_limit(0.2):
                while time.monotonic() - start < 30:
                    sum(range(1000))
            outcome["result"] = "finished"
        except CellTimeout as exc:
            outcome["result"] = str(exc)
        outcome["seconds"] = time.monotonic() - start

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(60)
    assert outcome["result"] == "ran past the cell timeout of 0.2 s"
    assert outcome["seconds"] < 5


@pytest.mark.parametrize("in_thread", [False, True])
def test_a_block_within_its_limit_leaves_nothing_behind(in_thread):
    """Many short blocks with limits just above their run time: none raises late, outside its block."""
    errors = []

    def blocks():
        try:
            for _ in range(50):
                with time_limit(0.05):
                    time.sleep(0.001)
            time.sleep(0.2)  # a late exception would arrive here
        except BaseException as exc:  # noqa: BLE001 - what the test looks for
            errors.append(exc)

    if in_thread:
        thread = threading.Thread(target=blocks)
        thread.start()
        thread.join(60)
    else:
        blocks()
    assert errors == []


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "10", True])
def test_bad_timeouts_are_refused_by_name(value):
    with pytest.raises(ValueError, match="timeout must be a number of seconds > 0"):
        check_timeout(value)


SLEEPY = """
name = "sleepy"
seed = 1
num_points = 4
num_samples = [1, 10]
replicates = 1
estimators = ["sleepy", "importance"]
dtypes = ["float64"]
timing_repeats = 1
{timeout}

[[models]]
name = "ppca-4x2"
model = "ppca"
options = {{ data_dim = 4, latent_dim = 2, seed = 1 }}
"""


def _sleepy_spec(seconds):
    from vaebench import EstimatorSpec, get_estimator

    importance = get_estimator("importance")

    def estimate(model, x, k, *, generator=None):
        if k == 10:
            time.sleep(seconds)
        return importance.estimate(model, x, k, generator=generator)

    return EstimatorSpec("sleepy", estimate, importance.tags)


def test_a_cell_past_its_timeout_fails_alone_and_reruns_with_a_longer_one(tmp_path, capsys):
    from vaebench import register, unregister
    from vaebench.bench.runner import _Progress

    register(_sleepy_spec(1.5))
    try:
        path = tmp_path / "s.toml"
        path.write_text(SLEEPY.format(timeout="timeout = 0.5"))
        store = run_sweep(load_config(path), tmp_path / "r", quiet=True)
        finished, failed = store.records_and_failures()
        assert [(r["cell"]["estimator"], r["cell"]["num_samples"]) for r in failed] == [("sleepy", 10)]
        assert "a call of the estimator ran past the cell timeout of 0.5 s during the estimate" in failed[0]["error"]
        assert failed[0]["timed_out"] == 0.5 and failed[0]["seconds"] < 1.4
        assert len(finished) == 3
        # The same timeout: the cell stays failed (nothing reruns).
        run_sweep(load_config(path), tmp_path / "r", quiet=True)
        assert len(store.records_and_failures()[1]) == 1
        # A longer one, with a heartbeat short enough to name the long cell: it runs again and finishes.
        path.write_text(SLEEPY.format(timeout="timeout = 30"))
        _Progress.HEARTBEAT_SECONDS, saved = 0.4, _Progress.HEARTBEAT_SECONDS
        try:
            run_sweep(load_config(path), tmp_path / "r")
        finally:
            _Progress.HEARTBEAT_SECONDS = saved
    finally:
        unregister("sleepy")
    finished, failed = store.records_and_failures()
    assert failed == [] and len(finished) == 4
    assert len(list((tmp_path / "r" / "retried").glob("*.json"))) == 1, "the timed-out record is kept"
    err = capsys.readouterr().err
    assert "ran past the timeout of 0.5 s before: it runs again (timeout 30 s)" in err
    assert "sleepy__K10__r0__cpu__float64 has been running (or queued) for" in err


def test_timeout_is_not_part_of_the_fingerprint(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SLEEPY.format(timeout="").replace('"sleepy", ', ""))
    plain = load_config(path)
    path.write_text(SLEEPY.format(timeout="timeout = 7").replace('"sleepy", ', ""))
    limited = load_config(path)
    assert limited.timeout == 7.0 and plain.timeout is None
    assert limited.fingerprint() == plain.fingerprint()


def test_estimate_stops_at_its_timeout_with_one_sentence(capsys):
    from vaebench.cli import main

    start = time.monotonic()
    rc = main(["estimate", "--estimator", "ais", "-K", "4", "-B", "4", "--option", "num_steps=200000",
               "--timeout", "0.5"])
    assert rc == 2 and time.monotonic() - start < 20
    err = capsys.readouterr().err
    assert "ais with K = 4 on B = 4 points ran past the timeout of 0.5 s (--timeout)" in err
    assert main(["estimate", "--estimator", "elbo", "-K", "4", "--timeout", "-1"]) == 2
    assert "timeout (--timeout) must be a number of seconds > 0" in capsys.readouterr().err

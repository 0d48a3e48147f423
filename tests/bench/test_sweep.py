"""Sweeps: end to end, crash-safe resume after SIGKILL, executors agree, config guard, metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vaebench.bench import ResultsMismatchError, ResultStore, load_config, make_executor, profile_path, run_sweep
from vaebench.results.metrics import cells_table, points_table, summarize
from vaebench.cli import main
from vaebench.report import render_report

TINY = """
name = "tiny"
seed = 3
num_points = 8
num_samples = [1, 10, 100]
replicates = {replicates}
estimators = ["prior", "importance", "elbo"]
dtypes = ["float64"]
timing_repeats = 1

[[models]]
name = "ppca-4x2"
model = "ppca"
options = {{ data_dim = 4, latent_dim = 2, seed = 1, encoder = "exact", encoder_scale = 1.4 }}
"""


def tiny_config(tmp_path: Path, replicates: int = 3) -> Path:
    text = TINY.format(replicates=replicates)
    path = tmp_path / "tiny.toml"
    path.write_text(text)
    return path


def test_quick_profile_end_to_end(tmp_path, capsys):
    """The CI-sized profile writes a report whose numbers are sane."""
    assert main(["bench", "--profile", "quick", "--out", str(tmp_path), "--quiet"]) == 0
    for name in ("index.html", "report.md", "summary.csv", "points.csv.gz", "verdicts.csv"):
        assert (tmp_path / name).stat().st_size > 0
    for png in ("error_vs_k.png", "elbo_gap_vs_kl.png", "cost_vs_k.png", "diagnostics.png", "bdmc_gap_vs_t.png"):
        data = (tmp_path / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    summary = pd.read_csv(tmp_path / "summary.csv")
    config = load_config(Path("benchmarks/profiles/quick.toml"))
    assert len(summary) == len({(c.model, c.estimator, c.num_samples) for c in config.cells()})
    assert set(summary.loc[summary["estimator"] == "ais-T4", "num_samples"]) == {1, 10}
    assert np.isfinite(summary[["bias", "std", "rmse"]]).all().all()
    assert (summary["samples_per_s"] > 0).all() and (summary["peak_mib"] > 0).all()
    html = (tmp_path / "index.html").read_text()
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert {"k_variance_vs_k.png", "rmse_vs_time.png", "point_errors.png"} <= set(pngs)
    assert html.count("data:image/png;base64,") == len(pngs) and "Bidirectional Monte Carlo (AIS sandwich)" in html
    bdmc = pd.read_csv(tmp_path / "bdmc.csv")
    assert list(bdmc["num_steps"]) == [2, 8] and bdmc["sandwich"].all()
    assert "<td>importance</td>" in html and "claims: unbiased in p, lower bound, consistent (tested: see Claims) · RMSE" in html
    for section in ("Models", "Which estimator, which K", "Claims and what this run verified"):
        assert f">{section}</h2>" in html
    verdicts = pd.read_csv(tmp_path / "verdicts.csv").set_index("estimator")
    assert "matches theory" in verdicts.loc["importance", "verdict"]
    # The importance estimator is accurate at K = 1000 on this model, the ELBO is off by the KL.
    top = summary[summary["num_samples"] == 1000].set_index("estimator")
    assert top.loc["importance", "rmse"] < 0.05 < top.loc["elbo", "rmse"]


def test_report_rerenders_from_saved_results(tmp_path):
    run_sweep(load_config(tiny_config(tmp_path)), tmp_path / "run" / "results", quiet=True)
    render_report(tmp_path / "run")
    first = (tmp_path / "run" / "summary.csv").read_text()
    (tmp_path / "run" / "summary.csv").unlink()
    assert main(["report", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "summary.csv").read_text() == first


@pytest.mark.slow  # 25-60 s: runs in `nox -s kit` (CI's second step)
def test_sigkill_mid_sweep_then_resume(tmp_path):
    """Kill the sweep process with SIGKILL while it writes cells; re-running finishes the grid
    without redoing finished cells, and a damaged cell file is detected and redone."""
    config_path = tiny_config(tmp_path, replicates=150)
    config = load_config(config_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "vaebench", "bench", "--config", str(config_path), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = out / "results" / "cells"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not cells.exists() or len(list(cells.glob("*.json"))) < 30):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = sorted(cells.glob("*.json"))
    total = len(config.cells())
    assert 30 <= len(finished) < total, "the sweep must be killed mid-run for this test to mean anything"
    damaged, kept = finished[0], finished[1:]
    damaged.write_text(damaged.read_text()[:50])  # a truncated record
    (cells / ".leftover.json.abc.tmp").write_text("{")  # a temporary file from an interrupted write
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in kept}

    with pytest.warns(UserWarning, match="stale lock"), \
            pytest.warns(UserWarning, match="is damaged .*its cell will be redone"):
        store = run_sweep(config, out / "results", quiet=True)
    after = sorted(cells.glob("*.json"))
    assert len(after) == total and not list(cells.glob(".*.tmp"))
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in kept if p.exists()} == before
    records = list(store.records())
    assert sorted(f"{r['cell']['model']}__{r['cell']['estimator']}__K{r['cell']['num_samples']}__r{r['cell']['replicate']}"
                  f"__{r['cell']['device']}__{r['cell']['dtype']}" for r in records) == sorted(p.stem for p in after)
    assert json.loads(damaged.read_text())["log_px"]  # redone and complete


def test_results_of_another_config_are_refused(tmp_path):
    run_sweep(load_config(tiny_config(tmp_path)), tmp_path / "r", quiet=True)
    other = load_config(tiny_config(tmp_path, replicates=4))
    with pytest.raises(ResultsMismatchError, match="holds results of another sweep"):
        run_sweep(other, tmp_path / "r", quiet=True)
    cli_out = str(tmp_path / "cli")
    assert main(["bench", "--config", str(tiny_config(tmp_path, replicates=3)), "--out", cli_out, "--quiet"]) == 0
    assert main(["bench", "--config", str(tiny_config(tmp_path, replicates=4)), "--out", cli_out, "--quiet"]) == 2


def test_rerunning_a_finished_sweep_does_nothing(tmp_path):
    config = load_config(tiny_config(tmp_path))
    run_sweep(config, tmp_path / "r", quiet=True)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "r" / "cells").glob("*.json")}
    run_sweep(config, tmp_path / "r", quiet=True)
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "r" / "cells").glob("*.json")} == stamps


def _by_cell(store: ResultStore) -> dict[str, list[float]]:
    return {json.dumps(r["cell"], sort_keys=True): r["log_px"] for r in store.records()}


@pytest.mark.slow  # 25-60 s: runs in `nox -s kit` (CI's second step)
def test_process_pool_gives_identical_results(tmp_path):
    config = load_config(tiny_config(tmp_path))
    serial = run_sweep(config, tmp_path / "serial", quiet=True)
    executor, shutdown, in_flight = make_executor(workers=2)
    try:
        pooled = run_sweep(config, tmp_path / "pool", executor=executor, in_flight=in_flight, quiet=True)
    finally:
        shutdown()
    assert _by_cell(pooled) == _by_cell(serial)


@pytest.mark.slow  # 40 s: runs in `nox -s kit` (CI's second step)
def test_dask_local_cluster_gives_identical_results(tmp_path):
    distributed = pytest.importorskip("dask.distributed", reason="needs vaebench[distributed]")
    config = load_config(tiny_config(tmp_path))
    serial = run_sweep(config, tmp_path / "serial", quiet=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        executor, shutdown, in_flight = make_executor(scheduler=cluster.scheduler_address)
        try:
            remote = run_sweep(config, tmp_path / "dask", executor=executor, in_flight=in_flight, quiet=True)
        finally:
            shutdown()
    assert _by_cell(remote) == _by_cell(serial)


def test_summary_matches_direct_computation(tmp_path):
    """bias, std and RMSE against numpy on the raw per-point estimates."""
    store = run_sweep(load_config(tiny_config(tmp_path, replicates=5)), tmp_path / "r", quiet=True)
    records = list(store.records())
    summary = summarize(points_table(records), cells_table(records)).set_index(["estimator", "num_samples"])
    for est in ("prior", "importance", "elbo"):
        rows = [r for r in records if r["cell"]["estimator"] == est and r["cell"]["num_samples"] == 10]
        err = np.array([np.array(r["log_px"]) - np.array(r["theory"]["truth"]) for r in
                        sorted(rows, key=lambda r: r["cell"]["replicate"])])  # [R, P]
        row = summary.loc[(est, 10)]
        assert row["bias"] == pytest.approx(err.mean())
        assert row["rmse"] == pytest.approx(np.sqrt((err**2).mean()))
        assert row["std"] == pytest.approx(np.sqrt(err.var(axis=0, ddof=1).mean()))
        assert row["rmse_lo"] <= row["rmse"] <= row["rmse_hi"]
        if est == "elbo":  # bias theory is −KL exactly
            kl = np.array(rows[0]["theory"]["kl"])
            assert row["theory_bias"] == pytest.approx(-kl.mean())


@pytest.mark.parametrize(
    "edit, match",
    [
        (("num_samples = [1, 10, 100]", "num_samples = [0, 10]"), "num_samples must be"),
        (("estimators = [", "estimators = [\"nope\", "), "unknown estimator 'nope'"),
        (('model = "ppca"', 'model = "ppcaa"'), "unknown model 'ppcaa'. Did you mean 'ppca'"),
        (("replicates = 3", "replicates = 3\nbogus = 1"), "unknown key 'bogus'"),
        (('dtypes = ["float64"]', 'dtypes = ["float16"]'), "unknown dtype 'float16'"),
        (('model = "ppca"', 'model = "ppca"\nnum_samples = []'), "num_samples must be a non-empty list"),
        (('model = "ppca"', 'model = "ppca"\nepochs = 3'), "unknown key 'epochs'"),
    ],
)
def test_bad_configs_are_rejected(tmp_path, edit, match):
    path = tiny_config(tmp_path)
    path.write_text(path.read_text().replace(*edit, 1))
    with pytest.raises(ValueError, match=match):
        load_config(path)


def test_unknown_profile_and_missing_file():
    with pytest.raises(ValueError, match=r"unknown profile 'nope'; shipped profiles: \['default', 'full', 'gpu', 'quick'\]"):
        profile_path("nope")
    with pytest.raises(ValueError, match="does not exist"):
        load_config("/nonexistent/sweep.toml")


def test_models_can_have_their_own_k_values(tmp_path):
    path = tiny_config(tmp_path)
    path.write_text(path.read_text().replace('model = "ppca"', 'model = "ppca"\nnum_samples = [2, 5]'))
    config = load_config(path)
    assert sorted({c.num_samples for c in config.cells()}) == [2, 5]
    assert len(config.cells()) == 2 * 3 * 3


def test_models_whose_data_is_absent_are_skipped_and_reported(tmp_path, monkeypatch):
    from vaebench.data import ENV_VAR

    monkeypatch.setattr("vaebench.data.paths._CHECKOUT_FALLBACK", tmp_path / "no-data")
    monkeypatch.delenv(ENV_VAR, raising=False)
    path = tiny_config(tmp_path)
    path.write_text(path.read_text() + '\n[[models]]\nname = "vae-mnist-2d"\nmodel = "mnist-2d"\nnum_samples = [1]\n')
    config = load_config(path)
    with pytest.warns(UserWarning, match="model 'vae-mnist-2d' is skipped: no data directory found"):
        store = run_sweep(config, tmp_path / "run" / "results", quiet=True)
    assert {key.split("__")[0] for key in store.pending_keys()} == {"vae-mnist-2d"}
    render_report(tmp_path / "run")
    assert "not run: vae-mnist-2d (9 cells)" in (tmp_path / "run" / "report.md").read_text()


def _children(pid: int) -> set[int]:
    kids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.add(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.slow  # 40 s: runs in `nox -s kit` (CI's second step)
def test_sigkill_of_a_two_worker_sweep_leaves_no_orphans_and_a_second_sweep_is_refused(tmp_path):
    import os
    import signal
    import time

    from vaebench.bench.runner import SweepLock

    config_path = tiny_config(tmp_path, replicates=100)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "vaebench", "bench", "--config", str(config_path), "--out", str(out), "--quiet",
           "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cells = out / "results" / "cells"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cells.glob("*.json"))) < 5:
        time.sleep(0.2)
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the pool's workers are running"
    with pytest.raises(RuntimeError, match=f"another sweep \\(PID {proc.pid}\\) is writing"):
        SweepLock(out / "results").__enter__()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if Path(f"/proc/{w}").exists() and "Z" not in Path(f"/proc/{w}/stat").read_text().split()[2]]
    assert not alive, f"workers {alive} outlived the killed sweep"
    with pytest.warns(UserWarning, match="stale lock"):
        run_sweep(load_config(config_path), out / "results", quiet=True)
    assert not (out / "results" / ".lock").exists()


MUTATING = """
name = "mutating"
seed = 3
num_points = 6
num_samples = [10, 100]
replicates = 2
estimators = ["{name}", "importance"]
dtypes = ["float64"]
timing_repeats = 2

[[models]]
name = "ppca-4x2"
model = "ppca"
options = {{ data_dim = 4, latent_dim = 2, seed = 1, encoder = "exact", encoder_scale = 1.4 }}
"""


def _second_call_spec(name, action):
    """An estimator that behaves on its first call and does ``action(model)`` on every later one."""
    from vaebench import EstimatorSpec, get_estimator

    importance = get_estimator("importance")
    seen = set()

    def estimate(model, x, k, *, generator=None):
        call = (k, generator.initial_seed())  # a cell's calls share K and its seed
        if call in seen:  # the cell's timing repeats and memory pass
            action(model)
        seen.add(call)
        return importance.estimate(model, x, k, generator=generator)

    return EstimatorSpec(name, estimate, importance.tags)


def _mutate_prior(model):
    model.prior.base_dist.loc.add_(30.0)  # in place, through the contract: the cached model must not keep it


def _raise(model):
    raise RuntimeError("the decoder ran out of memory on a repeat")


@pytest.mark.parametrize("name, action, reason", [("mutates_later", _mutate_prior, "modified the model"),
                                                  ("raises_later", _raise, "on a repeat call")])
def test_a_failure_on_a_later_call_fails_that_cell_only(tmp_path, name, action, reason):
    """Issue 21, cases 1 and 2: a mutation or an exception on a cell's repeat calls corrupted later cells or
    stopped the sweep; now that cell fails with its reason, and every other cell equals a clean sweep's."""
    from vaebench import register, unregister

    register(_second_call_spec(name, action))
    try:
        path = tmp_path / "s.toml"
        path.write_text(MUTATING.format(name=name))
        store = run_sweep(load_config(path), tmp_path / "r", quiet=True)
        finished, failed = store.records_and_failures()
    finally:
        unregister(name)
    bad = {(r["cell"]["num_samples"], r["cell"]["replicate"]) for r in failed}
    assert bad == {(10, 0), (100, 0)}, bad
    assert all(reason in r["error"] for r in failed), [r["error"] for r in failed]
    clean = tmp_path / "clean.toml"
    clean.write_text(MUTATING.format(name="elbo"))
    reference = {(r["cell"]["estimator"], r["cell"]["num_samples"], r["cell"]["replicate"]): r["log_px"]
                 for r in run_sweep(load_config(clean), tmp_path / "c", quiet=True).records()}
    for r in finished:
        if r["cell"]["estimator"] == "importance":
            key = ("importance", r["cell"]["num_samples"], r["cell"]["replicate"])
            assert r["log_px"] == reference[key]

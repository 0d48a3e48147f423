"""The work budget: sizes are counted and refused up front, before any cell runs (issue 21, item 5)."""

from __future__ import annotations

import time

import pytest

from tests.bench.test_sweep import TINY
from vaebench.bench import load_config, run_sweep
from vaebench.bench.cost import ROW_BUDGET, estimator_rows, sweep_cost
from vaebench.cli import main


def _config(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return load_config(path)


def test_the_count_matches_the_cells(tmp_path):
    config = _config(tmp_path, TINY.format(replicates=2))
    cells, rows = sweep_cost(config)
    assert cells == len(config.cells())
    # prior, importance, elbo at K = 1, 10, 100 on 8 points, 2 replicates, each estimate + 1 timed repeat + fingerprint
    assert rows == 2 * 3 * 3 * 8 * (1 + 10 + 100)


def test_ais_counts_its_steps_and_leapfrog_gradients():
    assert estimator_rows("ais", 16, 10, {"num_steps": 100, "leapfrog_steps": 5}) == 16 * 10 * 100 * 11
    assert estimator_rows("importance", 1000, 10) == 10_000


@pytest.mark.parametrize("change", ["replicates = 1000000000000", "timing_repeats = 1000000000000",
                                    "num_samples = [1000000000000000]"])
def test_huge_sweeps_are_refused_at_once(tmp_path, change):
    key = change.split(" =")[0]
    text = "\n".join(change if line.startswith(key + " =") else line
                     for line in TINY.format(replicates=2).splitlines())
    config = _config(tmp_path, text)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="pass --force"):
        run_sweep(config, tmp_path / "results", quiet=True)
    assert time.perf_counter() - start < 10  # a refusal, not the start of the work
    assert not (tmp_path / "results").exists()


def test_estimate_refuses_beyond_the_budget(capsys):
    assert main(["estimate", "--estimator", "importance", "-K", str(10**12), "-B", "4"]) == 2
    err = capsys.readouterr().err
    assert "4e+12 likelihood evaluations" in err and f"{ROW_BUDGET:.0e}" in err and "--force" in err

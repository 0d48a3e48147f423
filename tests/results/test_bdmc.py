"""Stored BDMC results: checksummed round trip, tampering refused, the summary table's arithmetic."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vaebench.results.bdmc import bdmc_path, bdmc_table, load_bdmc_dir, read_bdmc, write_bdmc
from vaebench.results.schema import RecordError


def payload(truth=True):
    run = {"num_steps": 8, "lower": [-3.0, -2.5, -4.0], "upper": [-2.8, -2.4, -3.9],
           "truth": [-2.9, -2.45, -3.95] if truth else None, "truth_error": [0.0, 0.0, 0.0] if truth else None,
           "seconds_forward": 0.1, "seconds_reverse": 0.2}
    return {"model": "m", "settings": {"num_chains": 4}, "runs": [run]}


def test_round_trip_and_tamper(tmp_path):
    path = write_bdmc(bdmc_path(tmp_path, "m"), payload())
    assert read_bdmc(path)["runs"][0]["lower"] == [-3.0, -2.5, -4.0]
    assert [b["model"] for b in load_bdmc_dir(tmp_path)] == ["m"]
    body = json.loads(path.read_text())
    body["runs"][0]["lower"][0] = -1.0
    path.write_text(json.dumps(body))
    with pytest.raises(RecordError, match="checksum mismatch"):
        read_bdmc(path)


def test_unsafe_model_names_never_become_paths(tmp_path):
    with pytest.raises(ValueError, match="model name must be letters"):
        bdmc_path(tmp_path, "../evil")


def test_table_states_gap_and_sandwich():
    row = bdmc_table([payload()]).iloc[0]
    gaps = np.array([0.2, 0.1, 0.1])
    assert row["gap"] == pytest.approx(gaps.mean()) and row["gap_se"] == pytest.approx(gaps.std(ddof=1) / 3**0.5)
    assert row["forward_bias"] == pytest.approx(np.mean([-0.1, -0.05, -0.05])) and bool(row["sandwich"])
    flipped = payload()
    run = flipped["runs"][0]
    run["lower"], run["upper"] = [t + 1 for t in run["truth"]], [t - 1 for t in run["truth"]]
    assert not bool(bdmc_table([flipped]).iloc[0]["sandwich"])
    assert "forward_bias" not in bdmc_table([payload(truth=False)])

"""The command line: list, estimate (text and JSON), and errors that exit with status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vaebench.cli import main


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("prior", "importance", "elbo", "linear-gaussian"):
        assert name in out
    assert main(["list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {e["name"] for e in data["estimators"]} >= {"prior", "importance", "elbo"}
    assert data["estimators"][1]["tags"]["unbiased_in_p"] is True


def test_estimate_text(capsys):
    assert main(["estimate", "--estimator", "importance", "--num-samples", "200", "-B", "8"]) == 0
    out = capsys.readouterr().out
    assert "importance on LinearGaussian(D=20, d=5" in out
    for row in ("estimate", "exact", "error", "stderr", "ess", "RMSE"):
        assert row in out


def test_estimate_json_is_consistent(capsys):
    args = ["estimate", "--estimator", "importance", "-K", "300", "-B", "6", "--json", "--encoder", "exact",
            "--model-arg", "data_dim=7", "--model-arg", "latent_dim=2"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    pp = data["per_point"]
    assert len(pp["estimate"]) == len(pp["exact"]) == 6
    assert all(abs(e) < 1e-9 for e in pp["error"])  # exact posterior proposal: zero variance
    assert data["num_samples"] == 300 and data["samples_per_second"] > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["estimate", "--estimator", "importanse", "-K", "10"], "Did you mean 'importance'"),
        (["estimate", "--estimator", "elbo", "-K", "0"], "num_samples must be an integer >= 1"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--model", "linear"], "unknown model 'linear'"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--model-arg", "data_dim=-1"], "data_dim and latent_dim"),
    ],
)
def test_errors_exit_2_with_a_message(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "vaebench", "list"], capture_output=True, text=True, check=True)
    assert "importance" in out.stdout

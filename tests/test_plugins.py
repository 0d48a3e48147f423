"""The example plug-in end to end: installed, discovered, listed, checked from the shell."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution

import pytest

from tests.zoo import ZOO
from vaebench import get_estimator, list_estimators, register, unregister
from vaebench.cli import main

try:
    distribution("vaebench-defensive-is")
    PLUGIN_INSTALLED = True
except PackageNotFoundError:
    PLUGIN_INSTALLED = False

needs_plugin = pytest.mark.skipif(
    not PLUGIN_INSTALLED, reason="examples/vaebench-defensive-is is not installed (nox -s tests installs it)"
)


@needs_plugin
def test_example_plugin_is_discovered_through_its_entry_point():
    spec = get_estimator("defensive")
    assert spec.estimate.__module__ == "vaebench_defensive.estimators"
    from vaebench.estimators import BUILTINS

    assert list(list_estimators()) == [spec.name for spec in BUILTINS] + ["defensive"]


@needs_plugin
def test_example_plugin_is_listed_by_the_cli():
    out = subprocess.run([sys.executable, "-m", "vaebench", "list", "--json"], capture_output=True, text=True, check=True)
    rows = {row["name"]: row for row in json.loads(out.stdout)["estimators"]}
    assert rows["defensive"]["package"] == "vaebench_defensive"


def test_check_command_exits_0_on_a_conforming_estimator(capsys):
    # The CLI's path (exit code, verdict line) on two checks; the whole kit on elbo is test_builtins_conform's.
    assert main(["check", "elbo", "--only", "check_elbo_gap_is_kl", "--only", "check_log_weights"]) == 0
    assert "elbo: PASSED" in capsys.readouterr().out


def test_check_command_exits_1_and_names_the_problem(capsys):
    bug = next(b for b in ZOO if b.spec.name == "missing_log_k")
    register(bug.spec)
    try:
        assert main(["check", "missing_log_k"]) == 1
    finally:
        unregister("missing_log_k")
    out = capsys.readouterr().out
    assert "FAIL  check_log_weights" in out and "is the −log K of the mean missing?" in out
    assert "missing_log_k: FAILED" in out


def test_check_command_strict_fails_on_warnings(capsys):
    from tests.zoo import unchunked
    from vaebench import EstimatorSpec, EstimatorTags

    register(EstimatorSpec("grows_with_k", unchunked, EstimatorTags(unbiased_in_p=True, needs_proposal=True)))
    try:
        assert main(["check", "grows_with_k", "--only", "check_bounded_memory"]) == 0
        assert main(["check", "grows_with_k", "--only", "check_bounded_memory", "--strict"]) == 1
    finally:
        unregister("grows_with_k")
    out = capsys.readouterr().out
    assert "WARN  check_bounded_memory" in out and "1 warn" in out


def test_check_command_json(capsys):
    assert main(["check", "prior", "--json", "--only", "check_unbiased_in_p", "--only", "check_log_weights"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is True and {c["check"] for c in data["checks"]} >= {"check_unbiased_in_p"}


def test_check_command_unknown_name(capsys):
    assert main(["check", "defensiv" if not PLUGIN_INSTALLED else "importanse"]) == 2
    assert "unknown estimator" in capsys.readouterr().err

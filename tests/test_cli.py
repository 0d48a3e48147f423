"""The command line: list, estimate (text and JSON), and errors that exit with status 2."""

from __future__ import annotations

import json
import os
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
            "--model-arg", "data_dim=7", "--model-arg", "latent_dim=2", "--dtype", "float64"]
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
        (["estimate", "--estimator", "elbo", "-K", "10", "--model-arg", "data_dim=-1"], "data_dim must be an integer >= 1"),
        (["estimate", "--estimator", "elbo", "-K", "10", "-B", "-3"], "batch_size (-B) must be an integer >= 1"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--device", "tpu"], "device must be 'cpu', 'cuda' or 'cuda:N'"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--device", "cuda:7"], "cuda:7"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--model-arg", "dtype=float32"], "has no option 'dtype'"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--model-arg", "condition_number=1e300"],
         "condition_number must be a number >= 1 <= 1e+08"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--model-arg", "noise_min=0"], "noise_min must be a number"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--model-arg", "encoder_scal=2"],
         "Did you mean 'encoder_scale'"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--model-arg", "encoder=exact", "--encoder", "prior"],
         "both set encoder"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--chunk-size", "0"], "chunk_size must be an integer >= 1"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--option", "analytic_k=true"], "Did you mean 'analytic_kl'"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--option", "analytic_kl=maybe"], "must be true or false"),
        (["estimate", "--estimator", "elbo", "-K", "10", "--option", "proposal=x"], "cannot be given on the command line"),
        (["estimate", "--estimator", "prior", "-K", "10", "--model", "synthetic-2d", "--model-arg", "seed=1"],
         "has no option 'seed'"),
        (["bench", "--config", "/nonexistent.toml"], "does not exist"),
        (["check", "nope"], "unknown estimator 'nope'"),
    ],
)
def test_errors_exit_2_with_a_message(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "vaebench", "list"], capture_output=True, text=True, check=True)
    assert "importance" in out.stdout


def test_estimate_runs_a_trained_preset_and_a_plugin_without_options(capsys, tmp_path, monkeypatch):
    # Issue 10: `--model synthetic-2d` failed with "unexpected keyword argument 'seed'", and a plug-in
    # without keep_log_weights failed because the CLI passed it to every estimator.
    from vaebench import EstimatorSpec, register, unregister
    from vaebench.estimators import importance

    def minimal(model, x, num_samples, *, generator=None):
        return importance.estimate(model, x, num_samples, generator=generator)

    register(EstimatorSpec("minimal_is", minimal))
    try:
        assert main(["estimate", "--estimator", "minimal_is", "-K", "20", "-B", "3"]) == 0
    finally:
        unregister("minimal_is")
    monkeypatch.setenv("VAEBENCH_CACHE", str(tmp_path))
    assert main(["estimate", "--model", "synthetic-2d", "--model-arg", "epochs=1", "--estimator", "importance",
                 "-K", "20", "-B", "3"]) == 0
    assert "RMSE against the exact log p(x)" in capsys.readouterr().out


def test_debug_shows_the_traceback():
    bad = subprocess.run([sys.executable, "-m", "vaebench", "estimate", "--estimator", "elbo", "-K", "0"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.count("\n") == 1
    debug = subprocess.run([sys.executable, "-m", "vaebench", "--debug", "estimate", "--estimator", "elbo", "-K", "0"],
                           capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_version_and_models():
    out = subprocess.run([sys.executable, "-m", "vaebench", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("vaebench ")
    out = subprocess.run([sys.executable, "-m", "vaebench", "models"], capture_output=True, text=True, check=True)
    assert "encoder_scale (float, default 1.0)" in out.stdout and "[truth: quadrature" in out.stdout


def test_every_option_of_every_command_has_help():
    import argparse

    from vaebench.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {action.option_strings or action.dest}"
               for name, sub in commands.choices.items() for action in sub._actions
               if not isinstance(action, argparse._HelpAction) and not action.help]
    assert not missing, f"options without help text: {missing}"


def test_bdmc_prints_the_sandwich_and_writes_a_report_section(tmp_path, capsys):
    """`vaebench bdmc` on an exact-truth model: one row per T, the file it writes renders as the
    BDMC section of a report."""
    out = tmp_path / "results" / "bdmc" / "ppca.json"
    args = ["bdmc", "ppca", "--model-arg", "data_dim=6", "--model-arg", "latent_dim=2", "--points", "8", "-K", "2",
            "--steps", "2", "6", "--option", "leapfrog_steps=2", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "lower−true" in text and text.count("\n      6 ") == 1 or "      6" in text
    from vaebench.report import render_report

    index = render_report(tmp_path)
    page = index.read_text()
    assert "Bidirectional Monte Carlo" in page and "bdmc_gap_vs_t" in page
    assert main(["bdmc", "ppca", "--steps", "0"]) == 2
    assert "--steps must be a non-empty list of integers >= 1" in capsys.readouterr().err
    assert main(["bdmc", "ppca", "--option", "num_steps=3"]) == 2
    assert "--option num_steps is set by the BDMC run itself (use --steps for T)" in capsys.readouterr().err
    # The reverse chains' start is the simulated latents: refused (by ais, which has no such option).
    assert main(["bdmc", "ppca", "--option", "posterior_samples=3"]) == 2
    assert "no option 'posterior_samples'" in capsys.readouterr().err


def test_raw_library_messages_become_sentences(tmp_path, capsys, monkeypatch):
    """Issue 21, item 8: a meta-device tensor, --also naming the same folder, an unwritable cache."""
    import torch

    import vaebench as vb
    from vaebench.training.trainer import check_cache_writable

    model = vb.get_model_spec("linear-gaussian").build()
    with pytest.raises(ValueError, match="meta device"):
        vb.get_estimator("importance")(model, torch.zeros(2, 20, dtype=torch.float64, device="meta"), 3)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root can write anywhere: nothing to refuse
            with pytest.raises(PermissionError, match="not writable.*--cache"):
                check_cache_writable(locked / "cache")
    finally:
        locked.chmod(0o700)


def test_report_refuses_the_same_results_twice(tmp_path, capsys):
    from tests.bench.test_sweep import tiny_config
    from vaebench.bench import load_config, run_sweep

    run_sweep(load_config(tiny_config(tmp_path, replicates=1)), tmp_path / "results", quiet=True)
    assert main(["report", str(tmp_path), "--also", str(tmp_path)]) == 2
    assert "already in the report" in capsys.readouterr().err


def test_a_full_disk_while_saving_a_checkpoint_is_said_plainly(tmp_path, monkeypatch):
    import errno

    import vaebench.results.store as store
    from vaebench.training import trainer

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store, "atomic_write_bytes", full)
    with pytest.raises(OSError) as info:
        trainer._save(tmp_path / "c.pt", {"state_dict": {}})
    assert info.value.errno == errno.ENOSPC  # what the CLI turns into "no space left on the device ..."

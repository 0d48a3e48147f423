"""vaebench evaluate: the headline, the advice and the files, checked on models whose log p(x) is exact."""

from __future__ import annotations

import hashlib
import json
import math
import sys
import textwrap

import numpy as np
import pytest
import torch

import vaebench as vb
from vaebench.cli import main
from vaebench.evaluation import EvaluationSettings, evaluate

SMALL = EvaluationSettings(importance_k=(1, 10, 100, 1000), elbo_k=50, ais_steps=(5, 40), ais_chains=8,
                           bdmc_points=20, check_points=60, replicates=2, accuracy=0.1, batch_size=50, seed=3)


def _model_and_data(encoder_scale: float = 1.0, encoder: str = "mean-field", points: int = 120):
    model = vb.get_model_spec("linear-gaussian").build(data_dim=8, latent_dim=3, encoder=encoder,
                                                       encoder_scale=encoder_scale)
    return model, model.sample(points, generator=torch.Generator().manual_seed(11))


def _mean_error(result, rung: str) -> tuple[float, float]:
    rows = result.points[result.points["rung"] == rung]
    err = rows["log_px"].to_numpy() - rows["truth"].to_numpy()
    return float(err.mean()), float(err.std(ddof=1) / math.sqrt(len(err)))


def test_headline_and_advice_are_right_where_the_truth_is_known(tmp_path):
    model, x = _model_and_data()
    result = evaluate(model, x, settings=SMALL, out=tmp_path)
    advice = result.advice
    assert advice.headline_rung == "ais T=40 K=8"
    # The headline: a lower bound within its BDMC gap, so within gap + 5 SE of the truth (mean over points).
    err, se = _mean_error(result, advice.headline_rung)
    assert -(max(advice.bdmc_gap, 0) + 5 * se + 5 * advice.bdmc_gap_se) <= err <= 5 * se, (err, se, advice.bdmc_gap)
    # The advice's first accurate importance K is accurate against the truth (accuracy + 5 SE of the paired error).
    first = advice.first_accurate["importance"]
    assert first is not None
    err, se = _mean_error(result, first)
    assert err >= -(SMALL.accuracy + 5 * se)
    # The ELBO and small K are below the truth by more than the accuracy: the advice must not stop at them.
    assert _mean_error(result, "elbo K=50")[0] < -SMALL.accuracy
    assert "log p(x) = " in advice.headline and "bits/dim" in advice.headline and "BDMC gap" in advice.headline


@pytest.mark.slow  # 25-60 s: runs in `nox -s kit` (CI's second step)
def test_stderr_trust_follows_the_weights():
    """A narrow encoder (heavy-tailed weights) makes importance's stderr untrustworthy; the exact posterior does not."""
    narrow, x = _model_and_data(encoder_scale=0.45)
    bad = evaluate(narrow, x, settings=SMALL)
    assert not bad.advice.stderr_trusted["importance K=1000"]
    exact, x = _model_and_data(encoder="exact")
    good = evaluate(exact, x, settings=SMALL)
    assert good.advice.stderr_trusted["importance K=1000"]
    check = good.checks.set_index("rung").loc["importance K=1000"]
    assert check["ratio"] <= 1.5 and check["spread"] < 1e-9  # every run gives log p(x) to rounding


def test_files_are_complete_and_checksummed(tmp_path):
    model, x = _model_and_data(points=40)
    settings = EvaluationSettings(importance_k=(1, 50), elbo_k=10, ais_steps=(3,), ais_chains=4, bdmc_points=5,
                                  check_points=10, replicates=1, batch_size=16)
    evaluate(model, x, settings=settings, out=tmp_path, provenance={"data": "simulated"})
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() == digest
    assert {"points.csv", "summary.csv", "stderr_checks.csv", "bdmc.csv", "report.md", "index.html"} <= set(
        manifest["files"])
    conventions = manifest["conventions"]
    for key in ("sign and units", "model_sha256", "data_sha256", "seed", "data", "settings"):
        assert key in conventions
    points = (tmp_path / "points.csv").read_text().splitlines()
    assert points[0].startswith("rung,estimator,K,T,point,log_px,stderr,ess,khat")
    assert len(points) == 1 + 40 * 4  # elbo, two importance K, one AIS T
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Headline", "## Advice for this model", "## Conventions", "## Caveat",
                    "## BDMC on data simulated from the model"):
        assert heading in report


def test_settings_are_validated():
    with pytest.raises(ValueError, match="importance_k"):
        EvaluationSettings(importance_k=(0,))
    with pytest.raises(ValueError, match="accuracy"):
        EvaluationSettings(accuracy=-1)
    with pytest.raises(ValueError, match="bdmc_points"):
        EvaluationSettings(bdmc_points=-2)


def test_cli_evaluates_a_catalogue_model_on_simulated_data(tmp_path, capsys):
    rc = main(["evaluate", "linear-gaussian", "--model-arg", "data_dim=6", "--model-arg", "latent_dim=2",
               "--data", "simulated", "--points", "30", "--importance-k", "1,30", "--elbo-k", "5",
               "--ais-steps", "3", "--ais-chains", "4", "--bdmc-points", "4", "--check-points", "8",
               "--out", str(tmp_path / "ev"), "--quiet"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.startswith("log p(x) = ") and (tmp_path / "ev" / "index.html").is_file()


def test_cli_imports_only_the_named_factory(tmp_path, capsys, monkeypatch):
    """A user's own torch modules through --import module:attribute, with image-shaped uint8 data in a file."""
    package = tmp_path / "my_models.py"
    package.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        import vaebench as vb

        def load():
            torch.manual_seed(0)
            encoder = nn.Sequential(nn.Flatten(), nn.Linear(6, 4))
            decoder = nn.Linear(2, 6)
            return vb.adapters.from_modules(encoder, decoder, likelihood="bernoulli-logits", latent_dim=2,
                                            data_shape=(1, 2, 3))
    """))
    np.save(tmp_path / "x.npy", (np.random.default_rng(0).random((12, 1, 2, 3)) < 0.5).astype(np.uint8))
    monkeypatch.syspath_prepend(str(tmp_path))
    rc = main(["evaluate", "--import", "my_models:load", "--data", str(tmp_path / "x.npy"), "--importance-k",
               "1,20", "--elbo-k", "4", "--ais-steps", "2", "--ais-chains", "2", "--bdmc-points", "3",
               "--check-points", "4", "--out", str(tmp_path / "ev"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "ev" / "manifest.json").read_text())
    assert manifest["conventions"]["model"] == "my_models:load"
    assert manifest["conventions"]["model_class"] == "AdaptedModel"
    assert "file_sha256" in manifest["conventions"] and "bernoulli" in manifest["conventions"]["likelihood"].lower()
    sys.modules.pop("my_models", None)


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "--data", "simulated"], "give a model"),
    (["evaluate", "linear-gaussian", "--import", "a:b", "--data", "simulated"], "one of them"),
    (["evaluate", "--import", "os;rm:x", "--data", "simulated"], "module:attribute"),
    (["evaluate", "--import", "no_such_module_here:x", "--data", "simulated"], "cannot import"),
    (["evaluate", "linear-gaussian", "--data", "no-such-set"], "unknown data set"),
    (["evaluate", "no-such-model", "--data", "simulated"], "unknown model"),
    (["evaluate", "linear-gaussian", "--data", "simulated", "--points", "0"], "--points"),
])
def test_cli_refuses_bad_input_clearly(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_an_interrupted_evaluation_resumes_and_gives_the_same_numbers(tmp_path, monkeypatch):
    import vaebench.evaluation as evaluation

    model, x = _model_and_data(points=30)
    settings = EvaluationSettings(importance_k=(1, 20, 200), elbo_k=10, ais_steps=(3,), ais_chains=4, bdmc_points=0,
                                  check_points=10, replicates=1, batch_size=16)
    whole = evaluate(model, x, settings=settings)
    real = evaluation.run_rung
    calls = []
    killed = []

    def dies_on_the_third(*args, **kwargs):
        calls.append(args[2].label)
        if len(calls) == 3 and not killed:
            killed.append(True)
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "run_rung", dies_on_the_third)
    with pytest.raises(RuntimeError, match="killed"):
        evaluate(model, x, settings=settings, out=tmp_path)
    assert len(list((tmp_path / ".partial").glob("*.csv"))) == 2
    calls.clear()
    resumed = evaluate(model, x, settings=settings, out=tmp_path)
    assert calls[0] == "importance K=20"  # the two finished rungs were kept
    np.testing.assert_allclose(resumed.points["log_px"], whole.points["log_px"])
    assert not (tmp_path / ".partial").exists()

"""Sweep configs are validated strictly at load: every bad input gets a message naming the key and the form."""

from __future__ import annotations

import pytest

from tests.bench.test_sweep import TINY
from vaebench.bench import load_config

BAD = [
    # (replace this, with that, the message must contain)
    ("replicates = 3", "replicates = 2.7", "replicates must be an integer >= 1, got 2.7"),
    ("replicates = 3", "replicates = true", "replicates must be an integer"),
    ("num_samples = [1, 10, 100]", "num_samples = [1, 10.9]", "must be an integer >= 1, got 10.9"),
    ("num_samples = [1, 10, 100]", "num_samples = [1, 10, 10]", "lists a value twice"),
    ('estimators = ["prior", "importance", "elbo"]', 'estimators = "importance"', 'estimators must be "all" or a non-empty list'),
    ('estimators = ["prior", "importance", "elbo"]', 'estimators = ["prior", "prior"]', "listed twice"),
    ("seed = 3", "seed = -1", "seed must be an integer >= 0"),
    ('dtypes = ["float64"]', 'dtypes = ["float64", "float64"]', "dtypes are listed twice"),
    ('dtypes = ["float64"]', 'dtypes = ["float63"]', "unknown dtype 'float63'. Did you mean 'float64'"),
    ('dtypes = ["float64"]', 'dtypes = ["float64"]\ndevices = ["tpu"]', "device must be 'cpu', 'cuda' or 'cuda:N'"),
    ('dtypes = ["float64"]', 'dtypes = ["float64"]\ndevices = "cpu"', "devices must be a non-empty list of strings"),
    ("encoder_scale = 1.4", "encoder_scal = 1.4", "no option 'encoder_scal'. Did you mean 'encoder_scale'"),
    ("data_dim = 4", "data_dim = 4.0", "data_dim must be an integer >= 1, got 4.0"),
    ('encoder = "exact"', 'encoder = "exakt"', "encoder must be one of"),
    ('name = "ppca-4x2"', 'name = "../../../escaped"', "to be used as a file name"),
    ('name = "tiny"', 'name = "a/b"', "sweep name must be"),
    ("timing_repeats = 1", "timing_repeat = 1", "unknown key 'timing_repeat'. Did you mean 'timing_repeats'"),
    ("timing_repeats = 1", "timing_repeats = 1\n[estimator_options]\nelbo = { analytic_k = true }",
     "no option 'analytic_k'. Did you mean 'analytic_kl'"),
    ("timing_repeats = 1", "timing_repeats = 1\n[estimator_options]\nelbo = { analytic_kl = \"yes\" }",
     "analytic_kl must be a bool"),
    ("timing_repeats = 1", "timing_repeats = 1\n[estimator_options]\nprior = { proposal = 1 }",
     "has no option 'proposal'"),
    ("timing_repeats = 1", "timing_repeats = 1\n[estimator_options]\nimportance = { keep_log_weights = false }",
     "keep_log_weights is set by the sweep itself"),
    ("timing_repeats = 1", "timing_repeats = 1\n[estimator_options]\ndefensiv = { mixture_weight = 0.5 }",
     "is not among this sweep's estimators"),
    # variants: an estimator under a name of its own
    ("timing_repeats = 1", 'timing_repeats = 1\n[[variants]]\nname = "ais-T2"\nestimator = "ais"\n'
     'options = { num_steps = 2 }', "variants ['ais-T2'] are defined but not listed in estimators"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[[variants]]\nname = "v"\nestimator = "ais"\noptions = { num_step = 2 }',
     "no option 'num_step'. Did you mean 'num_steps'"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[[variants]]\nname = "v"\nestimator = "aiss"', "unknown estimator 'aiss'"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[[variants]]\nname = "importance"\nestimator = "ais"',
     "'importance' is an installed estimator"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[[variants]]\nname = "a/b"\nestimator = "ais"', "variant name must be"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[[variants]]\nname = "v"\nestimator = "ais"\nnum_samples = [0]',
     "num_samples must be an integer >= 1"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[[variants]]\nname = "v"\nestimator = "ais"\nmodels = "ppca-4x2"',
     "models must be a non-empty list of model names"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[[variants]]\nname = "v"\nestimator = "eubo"\nmodels = ["ppca-4x3"]',
     "lists models ['ppca-4x3'] that the sweep does not define"),
    # bdmc: forward and reverse AIS on simulated data
    ("timing_repeats = 1", 'timing_repeats = 1\n[bdmc]\nmodels = ["nope"]\nsteps = [2]', "'nope' is not a model of this"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[bdmc]\nmodels = ["ppca-4x2"]\nsteps = [0]', "steps must be"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[bdmc]\nmodels = ["ppca-4x2"]\nsteps = [2]\noptions = { num_steps = 3 }',
     "num_steps is set by the BDMC run itself"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[bdmc]\nmodels = ["ppca-4x2"]\nsteps = [2]\nchains = 3',
     "unknown key 'chains'"),
    ("timing_repeats = 1", 'timing_repeats = 1\n[bdmc]\nmodels = ["ppca-4x2"]\nsteps = [2]\ndtype = "bfloat16"',
     "bdmc.dtype must be one of ['float32', 'float64']"),
]


@pytest.mark.parametrize("old, new, message", BAD, ids=[b[2][:40] for b in BAD])
def test_bad_config_gets_a_clear_error_at_load(tmp_path, old, new, message):
    text = TINY.format(replicates=3)
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert message in str(info.value), str(info.value)
    assert str(path) in str(info.value)  # every message names the file


def test_duplicate_model_names_are_refused(tmp_path):
    text = TINY.format(replicates=3)
    model = text[text.index("[[models]]"):]
    path = tmp_path / "dup.toml"
    path.write_text(text + "\n" + model)
    with pytest.raises(ValueError, match="model names must be unique"):
        load_config(path)


def test_estimator_options_reach_the_estimator(tmp_path):
    from vaebench.bench import run_sweep

    text = TINY.format(replicates=1).replace("timing_repeats = 1", "timing_repeats = 1\n[estimator_options]\n"
                                             "elbo = { analytic_kl = true }").replace('"exact"', '"mean-field"')
    path = tmp_path / "opt.toml"
    path.write_text(text)
    config = load_config(path)
    assert config.estimator_options == {"elbo": {"analytic_kl": True}}
    store = run_sweep(config, tmp_path / "r", quiet=True)
    elbo = [r for r in store.records() if r["cell"]["estimator"] == "elbo"]
    assert elbo and all(r["ess"] is None for r in elbo)  # the analytic form keeps no weights


def test_a_failing_estimator_is_recorded_and_reported_and_the_sweep_goes_on(tmp_path):
    # The exact (full-covariance) encoder has no closed-form KL to the prior in torch: every
    # analytic-KL ELBO cell fails; the other estimators' cells and the report are unaffected.
    from vaebench.bench import run_sweep
    from vaebench.report import render_report

    text = TINY.format(replicates=1).replace("timing_repeats = 1", "timing_repeats = 1\n[estimator_options]\n"
                                             "elbo = { analytic_kl = true }")
    path = tmp_path / "fail.toml"
    path.write_text(text)
    store = run_sweep(load_config(path), tmp_path / "run" / "results", quiet=True)
    failed = list(store.records(failed=True))
    assert {r["cell"]["estimator"] for r in failed} == {"elbo"} and len(failed) == 3
    assert {r["cell"]["estimator"] for r in store.records()} == {"prior", "importance"}
    render_report(tmp_path / "run")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Failed cells" in report and "needs KL(MultivariateNormal" in report


@pytest.mark.parametrize("name", ["../../../etc/passwd", "a/b", ".hidden"])
def test_profile_names_never_become_paths(name):
    from vaebench.bench import profile_path

    with pytest.raises(ValueError, match="profile name must be"):
        profile_path(name)


def test_every_shipped_profile_loads():
    from vaebench.bench import load_config, profile_path

    for name in ("quick", "default", "full", "gpu"):
        assert load_config(profile_path(name)).cells()


VARIANTS = """
[[variants]]
name = "ais-T3"
estimator = "ais"
options = { num_steps = 3, leapfrog_steps = 2 }
num_samples = [1, 10]

[bdmc]
models = ["ppca-4x2"]
steps = [2, 6]
num_chains = 2
num_points = 4
options = { leapfrog_steps = 2 }
"""


def test_variants_run_with_their_options_at_their_k_and_bdmc_resumes(tmp_path):
    """A variant's cells exist only at its K values and record its options; the sweep's BDMC file is
    written once, and a second run keeps it (same settings) rather than running it again."""
    from vaebench.bench import run_sweep
    from vaebench.results.bdmc import bdmc_path, read_bdmc

    text = TINY.format(replicates=1).replace('"elbo"]', '"elbo", "ais-T3"]').replace("timing_repeats = 1",
                                                                                    "timing_repeats = 1\n" + VARIANTS)
    path = tmp_path / "v.toml"
    path.write_text(text)
    config = load_config(path)
    ais_cells = [c for c in config.cells() if c.estimator == "ais-T3"]
    assert sorted({c.num_samples for c in ais_cells}) == [1, 10]
    store = run_sweep(config, tmp_path / "r", quiet=True)
    records = [r for r in store.records() if r["cell"]["estimator"] == "ais-T3"]
    assert records and all(r["estimator"] == {"name": "ais", "options": {"num_steps": 3, "leapfrog_steps": 2}, "caution": ""}
                           for r in records)
    bdmc = bdmc_path(tmp_path / "r", "ppca-4x2")
    body = read_bdmc(bdmc)
    assert [r["num_steps"] for r in body["runs"]] == [2, 6] and len(body["runs"][0]["truth"]) == 4
    stamp = bdmc.stat().st_mtime_ns
    run_sweep(config, tmp_path / "r", quiet=True)
    assert bdmc.stat().st_mtime_ns == stamp


POSTERIOR_VARIANT = """
[[models]]
name = "lg-5x2"
model = "linear-gaussian"
options = { data_dim = 5, latent_dim = 2, seed = 2, encoder = "mean-field" }

[[variants]]
name = "hm"
estimator = "harmonic_mean"
models = ["ppca-4x2"]
"""


def test_a_variant_runs_only_on_its_models_with_exact_posterior_draws_and_the_report_flags_its_caution(tmp_path):
    """The harmonic mean runs on the one model listed, gets exact posterior draws from the sweep (finite
    estimates above the truth on average), and the report prints its caution and the wall-time winners."""
    from vaebench.bench import run_sweep
    from vaebench.report import render_report

    text = (TINY.format(replicates=2).replace('estimators = ["prior", "importance", "elbo"]',
                                              'estimators = ["importance", "elbo", "hm"]') + POSTERIOR_VARIANT)
    path = tmp_path / "hm.toml"
    path.write_text(text)
    config = load_config(path)
    assert {c.model for c in config.cells() if c.estimator == "hm"} == {"ppca-4x2"}
    assert {c.model for c in config.cells() if c.estimator == "importance"} == {"ppca-4x2", "lg-5x2"}
    store = run_sweep(config, tmp_path / "run" / "results", quiet=True)
    hm = [r for r in store.records() if r["cell"]["estimator"] == "hm"]
    assert len(hm) == 6 and not list(store.records(failed=True))
    assert all(r["estimator"]["caution"].startswith("infinite variance") for r in hm)
    render_report(tmp_path / "run")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Which estimator wins at a given wall time" in report
    assert "infinite variance in typical models" in report


def test_an_estimator_needing_posterior_draws_fails_its_cell_on_a_model_without_a_closed_form_posterior():
    import torch

    from vaebench.bench.cells import _posterior_draws
    from vaebench.models.vae import VAE, VAEConfig
    from vaebench.registry import get_estimator

    model = VAE(VAEConfig(6, 2, (4,)))
    with pytest.raises(ValueError, match="no closed-form posterior"):
        _posterior_draws(get_estimator("eubo"), model, torch.zeros(3, 6), 4, 0)
    assert _posterior_draws(get_estimator("importance"), model, torch.zeros(3, 6), 4, 0) == {}

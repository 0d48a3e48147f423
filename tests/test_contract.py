"""The contract view: estimators see prior, log_likelihood and proposal only, in sweeps and the CLI too."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from tests.zoo import IS_TAGS, blends_log_marginal, posterior_when_offered
from vaebench import EstimatorSpec, ModelSpec, get_estimator, register, register_model, unregister, unregister_model
from vaebench.bench import load_config, run_sweep
from vaebench.bench.cells import _model_and_data
from vaebench.contract import ContractView, contract_view, model_name
from vaebench.models import LinearGaussian
from vaebench.results.metrics import cells_table, points_table, summarize


def _model():
    return LinearGaussian.random(4, 2, seed=1).with_encoder("exact", scale=1.4)


def test_the_view_exposes_the_contract_and_nothing_of_the_truth():
    model = _model()
    view = contract_view(model)
    assert contract_view(view) is view and model_name(view) == "LinearGaussian"
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    z = torch.randn(5, 3, 2, dtype=torch.float64)
    assert torch.equal(view.log_likelihood(x, z), model.log_likelihood(x, z))
    assert view.prior is model.prior and view.data_dim == 4 and view.proposal(x).batch_shape == (3,)
    for name in ("log_marginal", "posterior", "kl_to_posterior", "chi_square", "elbo", "sample", "W64"):
        assert not hasattr(view, name), name
    with pytest.raises(AttributeError, match="not part of the model contract"):
        view.log_marginal(x)
    with pytest.raises(AttributeError, match="read-only"):
        view.prior = None
    assert isinstance(view.to(torch.float32), ContractView) and view.to(torch.float32).dtype == torch.float32


def test_a_model_without_an_encoder_has_no_proposal_through_the_view():
    class PriorOnly:
        prior = _model().prior

        def log_likelihood(self, x, z):
            return z.sum(-1)

    assert getattr(contract_view(PriorOnly()), "proposal", None) is None


# The model of the sweep test: its truth raises whenever an estimator is running.
RUNNING = {"estimator": False}


class TruthRaisesWhileEstimating(LinearGaussian):
    def _guard(self, name):
        if RUNNING["estimator"]:
            raise RuntimeError(f"an estimator read {name}")

    def log_marginal(self, x):
        self._guard("log_marginal")
        return super().log_marginal(x)

    def posterior(self, x):
        self._guard("posterior")
        return super().posterior(x)

    def to(self, *args, **kwargs):
        moved = super().to(*args, **kwargs)
        moved.__class__ = TruthRaisesWhileEstimating
        return moved


def _guarded_model():
    model = _model().to(torch.float64)  # a copy of its own
    model.__class__ = TruthRaisesWhileEstimating
    return model


def _armed(fn):
    def estimate(model, x, k, *, generator=None):
        RUNNING["estimator"] = True
        try:
            return fn(model, x, k, generator=generator)
        finally:
            RUNNING["estimator"] = False

    return estimate


SWEEP = """
name = "contract"
seed = 5
num_points = 6
num_samples = [10, 100]
replicates = 2
estimators = ["importance", "cheat_posterior", "cheat_blend"]
dtypes = ["float64"]
timing_repeats = 1

[[models]]
name = "guarded"
model = "truth-raises-while-estimating"
"""


@pytest.fixture
def cheats():
    specs = [EstimatorSpec("cheat_posterior", _armed(posterior_when_offered), IS_TAGS),
             EstimatorSpec("cheat_blend", _armed(blends_log_marginal), IS_TAGS)]
    for spec in specs:
        register(spec)
    register_model(ModelSpec("truth-raises-while-estimating", _guarded_model, truth="exact"))
    yield specs
    for spec in specs:
        unregister(spec.name)
    unregister_model("truth-raises-while-estimating")


def test_the_guard_has_power_without_the_view(cheats):
    model = _guarded_model()
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(Exception, match="an estimator read posterior"):
        cheats[0].call_on_model(model, x, 10, generator=torch.Generator().manual_seed(0))


def test_a_sweep_hands_estimators_the_contract_and_computes_errors_itself(tmp_path, cheats):
    path = tmp_path / "contract.toml"
    path.write_text(SWEEP)
    records = list(run_sweep(load_config(path), tmp_path / "results", quiet=True).records())
    assert len(records) == 3 * 2 * 2 and not [r for r in records if r.get("error")]
    summary = summarize(points_table(records), cells_table(records)).set_index(["estimator", "num_samples"])
    assert pd.notna(summary["bias"]).all()
    # The cheats fell back to honest importance sampling: recomputed here with the built-in on the same data and seed
    # (with the truth in reach, the posterior cheat would be exact to 1e-15 and the blend half-way to the truth).
    config = load_config(path)
    entry = json.dumps(config.model_entry("guarded").__dict__, sort_keys=True)
    model, x, _ = _model_and_data(entry, config.num_points, config.seed)
    for r in records:
        k, g = r["cell"]["num_samples"], torch.Generator().manual_seed(r["seed"])
        honest = get_estimator("importance")(model, x, k, generator=g).log_px.tolist()
        assert r["log_px"] == pytest.approx(honest, abs=1e-12), r["cell"]
        if r["cell"]["estimator"] == "cheat_posterior":
            assert max(abs(a - b) for a, b in zip(r["log_px"], r["theory"]["truth"])) > 1e-6


def test_estimate_cli_path_sees_the_contract(cheats):
    from vaebench.bench.single import estimate_on_model

    out = estimate_on_model("truth-raises-while-estimating", "cheat_posterior", 50, batch_size=4, seed=0)
    honest = estimate_on_model("truth-raises-while-estimating", "importance", 50, batch_size=4, seed=0)
    # float32 rounding apart (the cheat reduces its chunks in another order), the honest numbers
    assert out["per_point"]["estimate"] == pytest.approx(honest["per_point"]["estimate"], rel=1e-5)
    assert min(abs(e) for e in out["per_point"]["error"]) > 1e-4  # the exact posterior would give ~1e-7


def test_get_estimator_calls_go_through_the_view():
    model = _model()
    x = model.sample(2, generator=torch.Generator().manual_seed(0))
    seen = []

    def peek(m, x, k, *, generator=None):
        seen.append(m)
        return get_estimator("importance").estimate(m, x, k, generator=generator)

    spec = EstimatorSpec("peek", peek, IS_TAGS)
    spec(model, x, 5)
    assert isinstance(seen[0], ContractView)


class _Frictions:
    """A small correct model whose parts a test replaces with the mistakes users make."""

    def __init__(self, **broken):
        from torch.distributions import Independent, Normal

        self.base = _model()
        self.prior = broken.get("prior", self.base.prior)
        self._ll = broken.get("log_likelihood")
        self._q = broken.get("proposal")
        self.Independent, self.Normal = Independent, Normal

    def log_likelihood(self, x, z):
        return self._ll(self.base, x, z) if self._ll else self.base.log_likelihood(x, z)

    def proposal(self, x):
        return self._q(self.base, x) if self._q else self.base.proposal(x)


@pytest.mark.parametrize("broken, words", [
    (dict(prior=torch.distributions.Independent(torch.distributions.Normal(torch.zeros(1, 2, dtype=torch.float64),
                                                                           torch.ones(1, 2, dtype=torch.float64)), 1)),
     "batch shape \\[1\\].*data plate"),
    (dict(prior="N(0, I)"), "prior must be a torch.distributions.Distribution"),
    (dict(log_likelihood=lambda m, x, z: m.log_likelihood(x, z).T), "transposed: return \\[K, B\\]"),
    (dict(log_likelihood=lambda m, x, z: m.log_likelihood(x, z).numpy()), "got ndarray \\(convert with torch.as_tensor"),
    (dict(log_likelihood=lambda m, x, z: m.log_likelihood(x, z).sum()), "returned shape \\[\\]; expected \\[K, B\\]"),
    (dict(log_likelihood=lambda m, x, z: m.log_likelihood(x, z).float()), "returned torch.float32"),
    (dict(proposal=lambda m, x: m.prior), "proposal\\(x\\) for x \\[2, 4\\] has batch shape \\[\\]"),
])
def test_check_model_names_the_method_and_the_shapes(broken, words):
    from vaebench import check_model

    model = _Frictions(**broken)
    x = model.base.sample(5, generator=torch.Generator().manual_seed(0))
    with pytest.raises((TypeError, ValueError), match=words):
        check_model(model, x)
    with pytest.raises((TypeError, ValueError), match=words):  # every estimator call goes through the front door
        get_estimator("importance")(model, x, 10)


def test_a_function_is_not_a_model():
    def model_fn(x):
        return x

    x = torch.zeros(3, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match="is not a latent-variable model.*vaebench.adapters"):
        get_estimator("elbo")(model_fn, x, 10)


def test_check_model_accepts_a_correct_model_and_touches_no_random_stream():
    from vaebench import check_model

    model = _Frictions()
    x = model.base.sample(5, generator=torch.Generator().manual_seed(0))
    state = torch.random.get_rng_state()
    assert check_model(model, x) is model
    assert torch.equal(state, torch.random.get_rng_state())

"""AIS and reverse AIS: exact reductions, the BDMC sandwich against closed-form truth, bad input.

Every stochastic assertion is a one-sided or two-sided z-test at 5σ under a fixed seed (false-
alarm rate about 3e-7 per test); the standard errors are the replicates' own.
"""

from __future__ import annotations

import math

import pytest
import torch

import vaebench as vb
from vaebench.estimators.annealing import schedule
from vaebench.registry import get_model_spec

ais = vb.get_estimator("ais")
rev = vb.get_estimator("reverse_ais")
N_SIGMA = 5.0

# The three linear-Gaussian models of the default bench profile.
LINEAR_MODELS = {
    "ppca-10x2": ("ppca", dict(data_dim=10, latent_dim=2, seed=0, encoder="exact", encoder_scale=1.3)),
    "fa-20x5-mean-field": ("linear-gaussian", dict(data_dim=20, latent_dim=5, seed=0, encoder="mean-field")),
    "fa-50x10-shifted": ("linear-gaussian", dict(data_dim=50, latent_dim=10, seed=1, encoder="exact",
                                                 encoder_scale=1.2, encoder_shift=0.3)),
}


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linear(name: str):
    family, options = LINEAR_MODELS[name]
    return get_model_spec(family).build(**options)


# ----------------------------------------------------------------------------- schedule
@pytest.mark.parametrize("kind", ["sigmoid", "linear"])
@pytest.mark.parametrize("steps", [1, 2, 7, 1000])
def test_schedule_runs_from_zero_to_one_increasing(kind, steps):
    beta = schedule(steps, kind)
    assert beta.shape == (steps + 1,) and beta[0] == 0 and beta[-1] == 1
    assert bool((beta[1:] > beta[:-1]).all())


def test_sigmoid_schedule_matches_its_formula():
    t = torch.arange(11, dtype=torch.float64) / 10
    s = 1 / (1 + torch.exp(-4 * (2 * t - 1)))
    torch.testing.assert_close(schedule(10, "sigmoid"), (s - s[0]) / (s[-1] - s[0]), rtol=0, atol=1e-15)


# ----------------------------------------------------------------------------- exact reductions
def test_one_step_from_the_proposal_is_importance_sampling_bit_for_bit(small_model):
    model = small_model.with_encoder("exact", scale=1.4)
    x = model.sample(5, generator=seeded(1))
    a = ais(model, x, 64, generator=seeded(2), num_steps=1)
    b = vb.get_estimator("importance")(model, x, 64, generator=seeded(2))
    assert torch.equal(a.log_px, b.log_px) and torch.equal(a.log_weights, b.log_weights)


def test_one_step_from_the_prior_is_prior_sampling_bit_for_bit(small_model):
    x = small_model.sample(5, generator=seeded(1))
    a = ais(small_model, x, 64, generator=seeded(2), num_steps=1, init="prior")
    b = vb.get_estimator("prior")(small_model, x, 64, generator=seeded(2))
    assert torch.equal(a.log_px, b.log_px) and torch.equal(a.log_weights, b.log_weights)


@pytest.mark.parametrize("name", list(LINEAR_MODELS))
def test_exact_posterior_start_gives_log_p_to_rounding(name):
    """With q0 = p(z|x), H(z) = log p(x) for every z: each weight is exactly p(x) whatever the moves."""
    model = linear(name)
    x, z = model.sample(6, generator=seeded(3), return_latents=True)
    post = model.posterior(x)
    exact = model.log_marginal(x)
    forward = ais(model, x, 8, generator=seeded(4), num_steps=20, leapfrog_steps=3, proposal=post)
    backward = rev(model, x, 8, generator=seeded(4), num_steps=20, leapfrog_steps=3, proposal=post,
                   posterior_samples=z)
    for est in (forward, backward):
        assert (est.log_px - exact).abs().max() < 1e-10 * (1 + exact.abs().max())


# ----------------------------------------------------------------------------- sandwich
def _replicated_errors(model, x, replicates: int, num_steps: int, seed: int):
    """log p̂ − log p for forward and reverse AIS, ``[R, B]`` each; every replicate of the reverse
    chains starts from its own exact posterior draw (the bound holds in expectation over them)."""
    rows = x.repeat(replicates, 1)
    starts = model.posterior(rows).sample().to(rows.dtype)
    exact = model.log_marginal(x)
    options = dict(num_steps=num_steps, leapfrog_steps=5)
    lower = ais(model, rows, 4, generator=seeded(seed), **options).log_px.reshape(replicates, -1) - exact
    upper = rev(model, rows, 4, generator=seeded(seed + 1), posterior_samples=starts,
                **options).log_px.reshape(replicates, -1) - exact
    return lower, upper


def _mean_se(err: torch.Tensor):
    return err.mean(0), err.std(0) / math.sqrt(err.shape[0])


@pytest.mark.parametrize("name", list(LINEAR_MODELS))
def test_sandwich_holds_and_tightens_with_t_on_linear_models(name):
    """E[lower] ≤ log p(x) ≤ E[upper] per point (one-sided, 5σ; 8 points x 2 bounds x 2 T), and the
    gap E[upper − lower] at T = 60 is below that at T = 3 (one-sided, 5σ)."""
    model = linear(name)
    x = model.sample(8, generator=seeded(5))
    gaps = {}
    for steps in (3, 60):
        lower, upper = _replicated_errors(model, x, 100, steps, seed=10 + steps)
        (ml, sl), (mu, su) = _mean_se(lower), _mean_se(upper)
        assert bool((ml <= N_SIGMA * sl + 1e-12).all()), f"T={steps}: lower bound above log p: {ml / sl}"
        assert bool((mu >= -N_SIGMA * su - 1e-12).all()), f"T={steps}: upper bound below log p: {mu / su}"
        gaps[steps] = _mean_se((upper - lower).mean(1, keepdim=True))
    (g_small, s_small), (g_large, s_large) = gaps[3], gaps[60]
    z = (g_small - g_large) / torch.sqrt(s_small**2 + s_large**2)
    assert float(z) > N_SIGMA, f"gap {float(g_small):.3g} at T=3 vs {float(g_large):.3g} at T=60 (z={float(z):.2f})"


@pytest.fixture(scope="module")
def trained_2d(tmp_path_factory):
    """A 2-D-latent VAE trained briefly on synthetic-2d (a few seconds), with quadrature truth."""
    from vaebench.models.quadrature import QuadratureGroundTruth
    from vaebench.models.vae import VAEConfig
    from vaebench.training.trainer import TrainConfig, load_or_train

    config = TrainConfig("synthetic-2d", VAEConfig(64, 2, (32, 32)), epochs=5, batch_size=100)
    vae, _, _ = load_or_train(config, cache=tmp_path_factory.mktemp("ckpt"), progress=False)
    return QuadratureGroundTruth(vae.requires_grad_(False).double(), tol=1e-6)


def test_sandwich_on_a_trained_vae_against_quadrature(trained_2d):
    """On 300 points simulated from the VAE with their latents (exact posterior samples),
    mean(lower − log p) ≤ 0 ≤ mean(upper − log p) over points, one-sided 5σ with the SE across
    points plus the quadrature's stated error bound; the gap is positive (it is a sandwich)."""
    model = trained_2d
    x, z = model.sample(300, generator=seeded(6), return_latents=True)
    exact = model.log_marginal(x)
    error = vb.truth_of(model).log_marginal_error(x)
    slack = float(error.max()) if error is not None else 0.0
    options = dict(num_steps=30, leapfrog_steps=5)
    lower = ais(model, x, 4, generator=seeded(7), **options).log_px - exact
    upper = rev(model, x, 4, generator=seeded(8), posterior_samples=z, **options).log_px - exact
    (ml, sl), (mu, su) = _mean_se(lower), _mean_se(upper)
    assert float(ml) <= N_SIGMA * float(sl) + slack, f"lower bound above log p: {float(ml):.4g} ± {float(sl):.2g}"
    assert float(mu) >= -N_SIGMA * float(su) - slack, f"upper bound below log p: {float(mu):.4g} ± {float(su):.2g}"
    assert float((upper - lower).mean()) > 0


# ----------------------------------------------------------------------------- bad input
class NoEncoder:
    """Prior and likelihood only (no proposal): a model AIS must start from the prior."""

    data_dim = 3

    def __init__(self, base):
        self.base = base

    @property
    def prior(self):
        return self.base.prior

    def log_likelihood(self, x, z):
        return self.base.log_likelihood(x, z)


class Detached(NoEncoder):
    """A likelihood computed outside autograd."""

    def log_likelihood(self, x, z):
        return self.base.log_likelihood(x, z.detach()).detach()


def test_init_proposal_without_an_encoder_names_init(small_model):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match="init='proposal' needs an encoder"):
        ais(NoEncoder(small_model), x, 4, generator=seeded(1), init="proposal", num_steps=3)
    est = ais(NoEncoder(small_model), x, 4, generator=seeded(1), num_steps=3)  # default: the prior
    assert torch.isfinite(est.log_px).all()


def test_non_differentiable_likelihood_names_the_model(small_model):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match="Detached.log_likelihood.*not differentiable in z"):
        ais(Detached(small_model), x, 4, generator=seeded(1), num_steps=3)


@pytest.mark.parametrize("steps", [0, -3])
def test_num_steps_below_one_is_refused(small_model, steps):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match="num_steps"):
        ais(small_model, x, 4, generator=seeded(1), num_steps=steps)
    with pytest.raises(ValueError, match="num_steps must be an integer >= 1"):
        ais.estimate(small_model, x, 4, generator=seeded(1), num_steps=steps)


@pytest.mark.parametrize("shape", [(3, 2), (2, 3), (5, 2, 2), (4, 2, 2, 1), (2,)])
def test_posterior_samples_of_the_wrong_shape_are_refused(small_model, shape):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match=r"posterior_samples must have shape \[B, d\] = \[2, 2\] or \[K, B, d\]"):
        rev(small_model, x, 4, generator=seeded(1), posterior_samples=torch.zeros(shape, dtype=x.dtype), num_steps=3)


def test_reverse_without_posterior_samples_says_how_to_get_them(small_model):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match="return_latents=True"):
        rev(small_model, x, 4, generator=seeded(1), num_steps=3)


@pytest.mark.parametrize("option, value, message", [
    ("schedule", "cosine", "schedule"), ("leapfrog_steps", 0, "leapfrog_steps"), ("step_size", -0.1, "step_size"),
    ("init", "posterior", "init"),
])
def test_bad_options_name_themselves(small_model, option, value, message):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match=message):
        ais(small_model, x, 4, generator=seeded(1), num_steps=3, **{option: value})


def test_fixed_step_size_skips_the_pilot_and_is_reproducible(small_model):
    x = small_model.sample(3, generator=seeded(1))
    a = ais(small_model, x, 16, generator=seeded(2), num_steps=10, step_size=0.2)
    b = ais(small_model, x, 16, generator=seeded(2), num_steps=10, step_size=0.2)
    c = ais(small_model, x, 16, generator=seeded(2), num_steps=10)
    assert torch.equal(a.log_px, b.log_px) and not torch.equal(a.log_px, c.log_px)

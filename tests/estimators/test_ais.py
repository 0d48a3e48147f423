"""AIS: its exact reductions to importance and prior sampling, and the BDMC sandwich with reverse AIS against
closed-form and quadrature truth.

Every stochastic assertion is a one-sided or two-sided z-test at 5σ under a fixed seed (false-
alarm rate about 3e-7 per test); the standard errors are the replicates' own."""

from __future__ import annotations

import math

import pytest
import torch

import vaebench as vb
from tests.estimators.annealing_cases import LINEAR_MODELS, N_SIGMA, linear, seeded

ais = vb.get_estimator("ais")
rev = vb.get_estimator("reverse_ais")

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


@pytest.mark.slow  # 25-60 s: runs in `nox -s kit` (CI's second step)
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

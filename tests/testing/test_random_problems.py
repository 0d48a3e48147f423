"""The kit's random problems: their truth checked against independent references (quadrature, scipy, sampling)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from vaebench.testing.random_problems import ENCODERS, PRIORS, ProblemConfig, build_problem, draw_problem
from vaebench.testing.ztests import assert_z


def _log_joint(prob, z):
    """log p(x, z) of the model the estimator sees, float64, z [K, B, d]."""
    m = prob.model
    return m.log_likelihood(prob.x, z) + m.prior.log_prob(z)


@pytest.mark.parametrize("index", range(6))
def test_log_marginal_matches_quadrature_of_the_reparameterised_model(index):
    """For random 1-D and 2-D problems (every prior), log p(x) from the closed form equals a brute-force
    integral of prior × likelihood of the model the estimator sees (independent of the closed form)."""
    rng = np.random.default_rng(100 + index)
    config = draw_problem(rng, max_data_dim=12, max_latent_dim=2, max_points=3, priors=PRIORS)
    prob = build_problem(config)
    d = config.latent_dim
    post = prob.proposals["posterior"][0](prob.x)
    mean, sd = post.mean, post.stddev  # [B, d]
    grid = torch.linspace(-12, 12, 1201 if d == 1 else 481, dtype=torch.float64)
    if d == 1:
        z = mean[None] + sd[None] * grid[:, None, None]
        cell = (grid[1] - grid[0]) * sd[:, 0]
    else:
        u1, u2 = torch.meshgrid(grid, grid, indexing="ij")
        u = torch.stack([u1.flatten(), u2.flatten()], -1)[:, None, :]
        z = mean[None] + sd[None] * u
        cell = (grid[1] - grid[0]) ** 2 * sd.prod(-1)
    numeric = torch.logsumexp(_log_joint(prob, z), 0) + torch.log(cell)
    assert torch.allclose(numeric, prob.log_px, atol=1e-6, rtol=0), (config.describe(), numeric, prob.log_px)


@pytest.mark.parametrize("index", range(4))
def test_bernoulli_truth_matches_scipy_quadrature(index):
    rng = np.random.default_rng(200 + index)
    config = draw_problem(rng, max_data_dim=20, max_latent_dim=3, max_points=3, bernoulli=1.0)
    prob = build_problem(config)
    m = prob.model
    for i in range(prob.x.shape[0]):
        def density(z: float, i=i) -> float:
            zt = torch.tensor([[[z]]], dtype=torch.float64)
            return math.exp(float(m.log_likelihood(prob.x[i:i + 1], zt) + m.prior.log_prob(zt)) - float(prob.log_px[i]))

        value, _ = integrate.quad(density, -40, 40, points=[float(m.proposal(prob.x[i:i + 1]).mean)], limit=400)
        assert value == pytest.approx(1.0, abs=1e-6), config.describe()


@pytest.mark.parametrize("index", range(5))
def test_encoder_elbo_and_chi_square_match_sampling(index):
    """ELBO (closed form, also for Student-t encoders) and χ² (closed form or quadrature) against 2·10⁵ draws
    from the encoder: z-tests at 5σ with the samples' own standard errors."""
    rng = np.random.default_rng(300 + index)
    config = draw_problem(rng, max_data_dim=10, max_latent_dim=3, max_points=2,
                          encoders=("mean-field", "full", "student-t"), bernoulli=0.3 if index % 2 else 0.0)
    prob = build_problem(config)
    q = prob.model.proposal(prob.x)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(index)
        z = q.sample((200_000,))
    log_w = _log_joint(prob, z) - q.log_prob(z)
    n = log_w.shape[0]
    assert_z(log_w.mean(0), prob.encoder.elbo, log_w.std(0) / math.sqrt(n), f"ELBO on {config.describe()}")
    ratio = torch.exp(log_w - prob.log_px)
    light = prob.encoder.light
    if bool(light.any()):
        second = ratio**2
        assert_z(second.mean(0)[light] - 1, prob.encoder.chi_square[light], (second.std(0) / math.sqrt(n))[light],
                 f"χ² on {config.describe()}")


def test_priors_are_what_they_say():
    for prior in PRIORS:
        config = ProblemConfig(6, 3, prior, "mean-field", 2, seed=4)
        p = build_problem(config).model.prior
        scale = p.stddev
        if prior == "standard":
            assert torch.equal(p.mean, torch.zeros(3, dtype=torch.float64)) and torch.allclose(scale, torch.ones(3, dtype=torch.float64))
        if prior == "diagonal":
            assert type(p).__name__ == "Independent" and scale.max() / scale.min() >= 3
        if prior == "correlated":
            cov = p.covariance_matrix
            assert type(p).__name__ == "MultivariateNormal" and cov[0, 1].abs() > 0


def test_far_out_rows_are_hundreds_of_nats_less_likely():
    config = ProblemConfig(200, 3, "standard", "mean-field", 6, far_out=3, seed=2)
    lp = build_problem(config).log_px
    assert (lp[:3].min() - lp[3:].max()) > 100


def test_configs_that_are_not_well_defined_are_refused():
    with pytest.raises(ValueError, match="diagonal posterior"):
        ProblemConfig(2, 4, "standard", "exact", 1, diagonal_posterior=True)
    with pytest.raises(ValueError, match="Student-t"):
        ProblemConfig(6, 5, "standard", "student-t", 1)
    with pytest.raises(ValueError):
        ProblemConfig(6, 2, "standard", "nope", 1)


def test_draws_cover_the_declared_space():
    rng = np.random.default_rng(0)
    configs = [draw_problem(rng, max_data_dim=784, max_latent_dim=8, max_points=300) for _ in range(400)]
    assert {c.prior for c in configs} == set(PRIORS) and {c.encoder for c in configs} == set(ENCODERS)
    assert max(c.data_dim for c in configs) > 300 and min(c.data_dim for c in configs) == 1
    assert max(c.points for c in configs) > 100 and any(c.far_out for c in configs)
    assert stats.kstest(np.log([c.data_dim for c in configs]) / math.log(784), "uniform").pvalue > 1e-4

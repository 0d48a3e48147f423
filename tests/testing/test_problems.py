"""The kit's reference problems: their truth against independent algorithms, and truth kept out of reach."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate

from vaebench.testing.problems import MAX_CHI_SQUARE, problem, reference_problems
from vaebench.testing.ztests import assert_z


def test_estimators_see_the_model_contract_only():
    for prob in reference_problems():
        model = prob.model
        for hidden in ("log_marginal", "posterior", "chi_square", "kl_to_posterior", "elbo"):
            assert not hasattr(model, hidden), f"{prob.name} exposes {hidden}"
        assert callable(model.log_likelihood) and callable(model.proposal) and model.prior is not None


def test_logistic_truth_matches_a_trapezoid_grid():
    # quad (adaptive Gauss-Kronrod) against a dense trapezoid rule: two different algorithms.
    prob = problem("1d-logistic")
    z = torch.linspace(-25, 25, 400_001, dtype=torch.float64)[:, None, None]
    log_joint = prob.model.log_likelihood(prob.x, z.expand(-1, 3, 1)) + prob.model.prior.log_prob(z)
    grid = torch.logsumexp(log_joint, 0) + math.log(50 / 400_000)
    assert torch.allclose(grid, prob.log_px, rtol=0, atol=1e-9)


def test_affine_prior_truth_matches_2d_quadrature_of_its_own_likelihood():
    prob = problem("2d-affine-prior")
    x = prob.x[:1]
    mean, cov = prob.model.prior.mean.numpy(), prob.model.prior.covariance_matrix.numpy()
    prec, logdet = np.linalg.inv(cov), np.linalg.slogdet(cov)[1]

    def density(z2, z1):
        z = torch.tensor([[[z1, z2]]], dtype=torch.float64)
        d = np.array([z1, z2]) - mean
        log_prior = -0.5 * d @ prec @ d - 0.5 * logdet - math.log(2 * math.pi)
        return math.exp(prob.model.log_likelihood(x, z).item() + log_prior - prob.log_px[0].item())

    value, _ = integrate.dblquad(density, -12, 12, -12, 12, epsabs=1e-10, epsrel=1e-8)
    assert abs(math.log(value)) < 1e-6


def test_logistic_elbo_and_chi_square_match_monte_carlo():
    # 5σ z-tests against Monte Carlo SEs (sample SD / √n), fixed seed; false alarm ≈ 6 × 5.7e-7.
    prob = problem("1d-logistic")
    q = prob.model.proposal(prob.x)
    torch.manual_seed(0)  # StudentT draws from the global stream
    z = q.sample((400_000,))
    log_w = prob.model.log_likelihood(prob.x, z) + prob.model.prior.log_prob(z) - q.log_prob(z)
    n = log_w.shape[0]
    assert_z(log_w.mean(0), prob.encoder.elbo, log_w.std(0) / math.sqrt(n), "ELBO")
    ratio = torch.exp(log_w - prob.log_px)
    assert_z((ratio**2).mean(0) - 1, prob.encoder.chi_square, (ratio**2).std(0) / math.sqrt(n), "χ²")


def test_heavy_and_light_points_are_what_the_checks_assume():
    narrow = problem("2d-narrow-q")
    assert narrow.heavy and torch.isfinite(narrow.encoder.chi_square).all()
    assert not narrow.encoder.light.any()
    assert problem("2d-exact-q").encoder.chi_square.abs().max() < 1e-9
    for prob in reference_problems():
        light = prob.encoder.light
        assert (prob.encoder.chi_square[light] <= MAX_CHI_SQUARE).all()


@pytest.mark.parametrize("name", ["2d-wide-q", "2d-affine-prior", "1d-logistic"])
def test_contract_model_converts_dtype_and_shifts_exactly(name):
    prob = problem(name)
    z = prob.model.proposal(prob.x).sample((4,))
    base = prob.model.log_likelihood(prob.x, z)
    assert torch.equal(prob.model.shifted(-7.0).log_likelihood(prob.x, z), base - 7.0)
    f32 = prob.model.to(torch.float32)
    assert f32.log_likelihood(prob.x.float(), z.float()).dtype == torch.float32


def _logistic_model(prob):
    """The LogisticModel inside the problem's contract wrapper (the truth the estimators never see)."""
    return prob.model._inner


def _posterior_cdf_on_a_grid(prob):
    """The logistic problem's posterior CDF per point by a dense trapezoid rule (independent of the sampler)."""
    z = torch.linspace(-25, 25, 400_001, dtype=torch.float64)
    log_joint = prob.model.log_likelihood(prob.x, z[:, None, None].expand(-1, 3, 1)) + prob.model.prior.log_prob(
        z[:, None, None])
    density = torch.exp(log_joint - log_joint.max(0).values).numpy()
    cdf = np.concatenate([np.zeros((1, 3)), np.cumsum((density[1:] + density[:-1]) / 2, 0)])
    return z.numpy(), cdf / cdf[-1]


def test_logistic_posterior_draws_follow_the_posterior_by_quadrature(monkeypatch):
    """The kit's exact posterior draws of the logistic problem (rejection from the prior under the
    likelihood's supremum) against the posterior CDF of a trapezoid grid: Kolmogorov-Smirnov on 20000
    draws per point at alpha = 1e-4 each (false alarms 3e-4 per run, seeded). Power: the same test
    rejects draws of the tempered posterior p(z) p(x | z)^0.8, and an envelope below the supremum
    (which would bias every draw towards the prior) raises instead of sampling."""
    from scipy import stats

    from vaebench.testing.problems import LogisticModel, exact_posterior_samples

    prob = problem("1d-logistic")
    grid, cdf = _posterior_cdf_on_a_grid(prob)
    draws = exact_posterior_samples(prob.model, prob.x, 20_000, torch.Generator().manual_seed(11))
    assert draws.shape == (20_000, 3, 1)
    for b in range(3):
        result = stats.kstest(draws[:, b, 0].numpy(), lambda v, b=b: np.interp(v, grid, cdf[:, b]))
        assert result.pvalue > 1e-4, f"point {b}: KS p = {result.pvalue:.2e}"

    inner = _logistic_model(prob)
    g = torch.Generator().manual_seed(12)
    z = inner.prior_mean + inner.prior_sd * torch.randn(400_000, 3, 1, generator=g, dtype=torch.float64)
    log_ratio = 0.8 * (inner.log_likelihood(prob.x, z) - inner.log_likelihood_sup(prob.x))
    tempered = [z[:, b, 0][torch.rand(400_000, generator=g, dtype=torch.float64).log() < log_ratio[:, b]][:20_000]
                for b in range(3)]
    worst = min(stats.kstest(t.numpy(), lambda v, b=b: np.interp(v, grid, cdf[:, b])).pvalue
                for b, t in enumerate(tempered))
    assert worst < 1e-6, f"the tempered posterior passed (worst KS p = {worst:.2e})"

    real_sup = LogisticModel.log_likelihood_sup
    monkeypatch.setattr(LogisticModel, "log_likelihood_sup", lambda self, x: real_sup(self, x) - 1.0)
    with pytest.raises(RuntimeError, match="above the rejection envelope"):
        exact_posterior_samples(prob.model, prob.x, 1000, torch.Generator().manual_seed(13))


def test_the_likelihood_supremum_bounds_the_likelihood_and_is_reached():
    """log_likelihood_sup against a dense grid: above every grid value, and within 1e-6 of the grid's top."""
    prob = problem("1d-logistic")
    inner = _logistic_model(prob)
    z = torch.linspace(-40, 40, 800_001, dtype=torch.float64)[:, None, None].expand(-1, 3, 1)
    on_grid = inner.log_likelihood(prob.x, z).max(0).values
    sup = inner.log_likelihood_sup(prob.x)
    assert bool((sup >= on_grid).all()) and bool((sup - on_grid < 1e-6).all()), (sup, on_grid)
    # where the likelihood rises forever (every a_j z + c_j pushes towards its x_j) the bound is p <= 1
    rising = torch.ones(1, 6, dtype=torch.float64) * (inner.a > 0).double()
    assert inner.log_likelihood_sup(rising).item() == 0.0

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

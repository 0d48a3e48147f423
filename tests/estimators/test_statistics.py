"""Statistical properties of the built-in estimators on linear-Gaussian models with exact truth.

Replicates are independent rows: ``x`` repeated R times is one batch, and every estimator
treats rows independently, so the R estimates per data point are i.i.d. Tolerances are 5σ of a
known or estimated standard error (see vaebench/testing/ztests.py for the false-alarm rates).
"""

from __future__ import annotations

import pytest
import torch

from vaebench.testing.ztests import assert_z, mean_and_se, variance_and_se
from vaebench import get_estimator
from vaebench.models import LinearGaussian

REPLICATES = 4000
NUM_POINTS = 4

# Proposals with finite χ² and finite E_q[w⁴] (4 S_p⁻¹ − 3 S_q⁻¹ positive definite, checked below),
# so that both the mean and the variance of p̂/p have a central limit.
PROPOSALS = [("exact", dict(scale=1.5)), ("exact", dict(scale=1.3, shift=0.6)), ("prior", {})]


def replicated(model: LinearGaussian, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """NUM_POINTS data points and their REPLICATES-fold repetition ``[R * B, D]``."""
    x = model.sample(NUM_POINTS, generator=torch.Generator().manual_seed(seed))
    return x, x.repeat(REPLICATES, 1)


def per_point(values: torch.Tensor) -> torch.Tensor:
    """``[R * B]`` -> ``[R, B]``."""
    return values.reshape(REPLICATES, NUM_POINTS)


def fourth_moment_finite(model: LinearGaussian, x: torch.Tensor) -> bool:
    q = model.encoder64(x)
    S_q = q.covariance_matrix if hasattr(q, "covariance_matrix") else torch.diag_embed(q.variance)
    lam = 4 * model.posterior_precision - 3 * torch.linalg.inv(S_q[0])
    return bool(torch.linalg.eigvalsh(lam).min() > 0)


@pytest.mark.parametrize("family, opts", [("exact", {}), *PROPOSALS])
@pytest.mark.parametrize("num_samples", [1, 10])
def test_importance_and_prior_are_unbiased_in_p(small_model, generator, family, opts, num_samples):
    """mean_r p̂/p = 1 with the exact SE sqrt(χ² / (K R)) (4 z-tests per case)."""
    model = small_model.with_encoder(family, **opts)
    name = "prior" if family == "prior" else "importance"
    x, xr = replicated(model)
    est = get_estimator(name)(model, xr, num_samples, generator=generator, keep_log_weights=False)
    ratio = per_point(torch.exp(est.log_px - model.log_marginal(xr)))
    chi2 = model.chi_square(None, x)
    if family == "exact" and not opts:  # zero variance
        torch.testing.assert_close(ratio, torch.ones_like(ratio), rtol=1e-10, atol=0)
        return
    assert torch.isfinite(chi2).all()
    assert_z(ratio.mean(0), 1.0, torch.sqrt(chi2 / (num_samples * REPLICATES)), f"E[p̂/p] ({name}, {family} {opts})")


@pytest.mark.parametrize("family, opts", PROPOSALS)
def test_variance_of_p_hat_is_chi_square_over_k(small_model, generator, family, opts):
    """K · Var[p̂_K / p] = χ²(p(z|x) ‖ q) exactly (4 z-tests with the SE of a sample variance)."""
    model = small_model.with_encoder(family, **opts)
    x, xr = replicated(model)
    assert fourth_moment_finite(model, x)
    k = 10
    est = get_estimator("importance")(model, xr, k, generator=generator, keep_log_weights=False)
    ratio = per_point(torch.exp(est.log_px - model.log_marginal(xr)))
    var, se = variance_and_se(ratio)
    assert_z(k * var, model.chi_square(None, x), k * se, f"K·Var[p̂/p] ({family} {opts})")


@pytest.mark.parametrize("name", ["prior", "importance", "elbo"])
def test_chunk_size_does_not_change_the_distribution(small_model, name):
    """Independent streams (two seeds), chunk_size=1 vs 7 vs default: two-sample z-tests of the means."""
    model = small_model.with_encoder("exact", scale=1.5)
    _, xr = replicated(model)
    spec = get_estimator(name)
    runs = []
    for seed, chunk in ((1, 1), (2, 7), (3, None)):
        g = torch.Generator().manual_seed(seed)
        runs.append(mean_and_se(per_point(spec(model, xr, 12, generator=g, chunk_size=chunk).log_px)))
    (m0, s0), *others = runs
    for m, s in others:
        assert_z(m, m0, torch.sqrt(s0**2 + s**2), f"{name}: mean over chunk sizes")

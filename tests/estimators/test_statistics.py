"""Statistical properties of the built-in estimators on linear-Gaussian models with exact truth.

Replicates are independent rows: ``x`` repeated R times is one batch, and every estimator
treats rows independently, so the R estimates per data point are i.i.d. Tolerances are 5σ of a
known or estimated standard error (see vaebench/testing/stats.py for the false-alarm rates).
"""

from __future__ import annotations

import pytest
import torch

from vaebench.testing.stats import assert_z, assert_z_below, mean_and_se, variance_and_se
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


@pytest.mark.parametrize("family, opts", PROPOSALS)
def test_log_estimate_follows_the_delta_method(small_model, generator, family, opts):
    """E[log p̂_K] ≈ log p − χ²/(2K) and K·Var[log p̂_K] ≈ χ² at K = 2000.

    The delta method's own error is O(1/K²) ≈ (χ²/K)² < 2.5e-5 here (χ²/K < 5e-3 is asserted),
    against a standard error sqrt(χ² / (K R)) >= 2e-4: the z-test sees only Monte Carlo noise.
    """
    model = small_model.with_encoder(family, **opts)
    x, xr = replicated(model)
    k = 2000
    chi2 = model.chi_square(None, x)
    assert (chi2 / k).max() < 5e-3
    est = get_estimator("importance")(model, xr, k, generator=generator, keep_log_weights=False)
    err = per_point(est.log_px - model.log_marginal(xr))
    mean, se = mean_and_se(err)
    assert_z(mean, -chi2 / (2 * k), se, f"E[log p̂ − log p] ({family} {opts})")
    var, se_var = variance_and_se(err)
    # Var[log p̂] = χ²/K + O(1/K²): the O(1/K²) term, ≈ 2.5 (χ²/K)², is added to the SE budget.
    assert_z(k * var, chi2, k * se_var + 2.5 * chi2**2 / k, f"K·Var[log p̂] ({family} {opts})")


def test_iwae_bound_is_monotone_in_k_and_between_elbo_and_log_px(small_model, generator):
    """ELBO = E[log p̂_1] ≤ E[log p̂_K] ≤ E[log p̂_K'] ≤ log p(x) for K < K' (one-sided z-tests)."""
    model = small_model.with_encoder("mean-field")
    x, xr = replicated(model)
    log_px, elbo = model.log_marginal(x), model.elbo(x)
    means, ses = [], []
    for k in (1, 2, 5, 20, 100):
        est = get_estimator("importance")(model, xr, k, generator=generator, keep_log_weights=False)
        m, se = mean_and_se(per_point(est.log_px))
        means.append(m)
        ses.append(se)
        assert_z_below(m, log_px, se, f"E[log p̂_{k}] <= log p(x)")
        assert_z_below(elbo, m, se, f"ELBO <= E[log p̂_{k}]")
    assert_z(means[0], elbo, ses[0], "E[log p̂_1] = ELBO")
    for (m1, s1), (m2, s2) in zip(zip(means, ses), zip(means[1:], ses[1:])):
        assert_z_below(m1, m2, torch.sqrt(s1**2 + s2**2), "E[log p̂_K] non-decreasing in K")
    # Power: the bound does tighten between K = 1 and K = 100.
    assert torch.all((means[-1] - means[0]) / torch.sqrt(ses[0] ** 2 + ses[-1] ** 2) > 5)


@pytest.mark.parametrize("analytic_kl", [False, True])
def test_elbo_estimator_matches_closed_form_and_its_variance(small_model, generator, analytic_kl):
    """Monte Carlo ELBO: mean = closed-form ELBO; K·Var = Var_q[log w] in the Monte Carlo form."""
    model = small_model.with_encoder("mean-field", scale=1.2, shift=0.3)
    x, xr = replicated(model)
    k = 5
    est = get_estimator("elbo")(model, xr, k, generator=generator, analytic_kl=analytic_kl)
    values = per_point(est.log_px)
    mean, se = mean_and_se(values)
    assert_z(mean, model.elbo(x), se, f"E[ELBO estimate] (analytic_kl={analytic_kl})")
    if not analytic_kl:
        var, se_var = variance_and_se(values)
        assert_z(k * var, model.log_weight_variance(None, x), k * se_var, "K·Var[ELBO estimate]")
        # The per-estimate stderr is a consistent estimate of the same spread.
        assert_z(est.stderr.pow(2).mean() * k, model.log_weight_variance(None, x).mean(),
                 (est.stderr.pow(2) * k).std() / len(est.stderr) ** 0.5 + 1e-12, "reported stderr")


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

"""`importance`: the delta method for log p̂ and the IWAE bound's ordering, against exact truth."""

from __future__ import annotations

import pytest
import torch

from tests.estimators.test_statistics import PROPOSALS, per_point, replicated
from vaebench import get_estimator
from vaebench.testing.ztests import assert_z, assert_z_below, mean_and_se, variance_and_se


@pytest.mark.slow  # 60-90 s per proposal: runs in `nox -s kit`
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

"""`prior` (naive Monte Carlo): the same distribution as importance sampling with the prior as proposal."""

from __future__ import annotations

import torch

from tests.estimators.test_statistics import REPLICATES, per_point, replicated
from vaebench import get_estimator
from vaebench.testing.ztests import assert_z, mean_and_se, variance_and_se


def test_prior_sampling_is_importance_sampling_from_the_prior(small_model, generator):
    """Two independent samplers of one distribution: equal means and variances of p̂/p (z-tests,
    2 per point), and K·Var[p̂/p] = χ²(p(z|x) ‖ p(z)) exactly known."""
    model = small_model.with_encoder("prior")
    x, xr = replicated(model)
    k = 4
    truth = model.log_marginal(xr)
    naive = per_point(torch.exp(get_estimator("prior")(model, xr, k, generator=generator).log_px - truth))
    by_is = per_point(torch.exp(get_estimator("importance")(model, xr, k, generator=generator).log_px - truth))
    (m1, s1), (m2, s2) = mean_and_se(naive), mean_and_se(by_is)
    assert_z(m1 - m2, 0.0, torch.sqrt(s1**2 + s2**2), "E[p̂/p]: prior vs importance(q = prior)")
    (v1, e1), (v2, e2) = variance_and_se(naive), variance_and_se(by_is)
    assert_z(v1 - v2, 0.0, torch.sqrt(e1**2 + e2**2), "Var[p̂/p]: prior vs importance(q = prior)")
    assert_z(k * v1, model.chi_square(None, x), k * e1, "K·Var[p̂/p] = χ²(posterior ‖ prior)")
    assert naive.shape == (REPLICATES, x.shape[0])

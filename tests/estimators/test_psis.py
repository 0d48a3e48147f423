"""`psis`: the Pareto fit and the smoothed tail against scipy, its reductions, and its diagnostic."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
import torch

from vaebench import get_estimator
from vaebench.estimators.psis import smooth_log_weights
from vaebench.ops import generalized_pareto_fit, pareto_k, pareto_tail_size

psis = get_estimator("psis")


@pytest.mark.parametrize("shape", [0.2, 0.6])
def test_the_fit_recovers_a_known_pareto_tail(shape):
    """M = 2000 exceedances drawn by scipy from a generalised Pareto: k̂ within 5 SE ((1 + k)/√M, the MLE's
    asymptotic SE) of the truth, σ̂ within 5 SE (about σ√(2(1 + k))/√M) of it (false-alarm rate ~1e-6)."""
    m = 2000
    x = np.sort(st.genpareto.rvs(c=shape, scale=2.0, size=(m, 1), random_state=np.random.default_rng(7)), axis=0)
    k_hat, sigma = generalized_pareto_fit(torch.from_numpy(x))
    prior_pull = 10 * (0.5 - shape) / (m + 10)  # the weakly informative prior's known shift towards 0.5
    assert abs(float(k_hat) - prior_pull - shape) < 5 * (1 + shape) / np.sqrt(m)
    assert abs(float(sigma) - 2.0) < 5 * 2.0 * np.sqrt(2 * (1 + shape)) / np.sqrt(m)


def test_the_smoothed_tail_is_the_fitted_quantiles_capped_at_the_largest_weight():
    g = torch.Generator().manual_seed(3)
    log_w = torch.randn(400, 2, generator=g, dtype=torch.float64) * 2.0
    smoothed = smooth_log_weights(log_w)
    m = pareto_tail_size(400)
    for b in range(2):
        ranked = torch.sort(log_w[:, b]).values
        top, threshold = ranked[-1], ranked[-m - 1]
        x = torch.exp(ranked[-m:] - top) - torch.exp(threshold - top)
        k_hat, sigma = generalized_pareto_fit(x[:, None])
        quantiles = st.genpareto.ppf((np.arange(1, m + 1) - 0.5) / m, c=float(k_hat), scale=float(sigma))
        expected = np.log(np.minimum(np.exp(float(threshold - top)) + quantiles, 1.0)) + float(top)
        got = np.sort(smoothed[:, b].numpy())[-m:]
        assert np.allclose(got, np.sort(expected), rtol=1e-10, atol=1e-10)
        # the weights below the tail are untouched
        assert torch.equal(torch.sort(smoothed[:, b]).values[: 400 - m], ranked[: 400 - m])


def test_equal_weights_and_too_few_weights_are_left_alone():
    flat = torch.full((500, 3), -7.25, dtype=torch.float64)
    assert torch.equal(smooth_log_weights(flat), flat)
    few = torch.randn(24, 3, dtype=torch.float64)
    assert torch.equal(smooth_log_weights(few), few)


def test_below_25_samples_it_is_importance_sampling_bit_for_bit(small_model):
    x = small_model.sample(4, generator=torch.Generator().manual_seed(1))
    a = psis(small_model, x, 24, generator=torch.Generator().manual_seed(2))
    b = get_estimator("importance")(small_model, x, 24, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(a.log_px, b.log_px, rtol=0, atol=1e-12)


def test_khat_is_that_of_the_raw_weights(small_model):
    model = small_model.with_encoder("exact", scale=0.6)  # too narrow: heavy-tailed weights
    x = model.sample(3, generator=torch.Generator().manual_seed(4))
    est = psis(model, x, 2000, generator=torch.Generator().manual_seed(5))
    raw = get_estimator("importance")(model, x, 2000, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(est.khat, pareto_k(raw.log_weights), atol=1e-9)
    assert bool((est.khat > 0.5).all())  # the diagnostic sees the heavy tail that smoothing works on

"""`smc`: its resampling law against scipy, T = 1 as importance sampling, the exact posterior, and
unbiasedness in p against closed-form truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

from vaebench import get_estimator
from vaebench.estimators.smc import multinomial_resample

smc = get_estimator("smc")


def test_resampling_draws_ancestors_in_proportion_to_the_weights():
    """Counts of 200000 draws per point against the weights: Pearson χ² test, p > 1e-6 (2 tests)."""
    log_w = torch.log(torch.tensor([[0.1, 0.7], [0.2, 0.1], [0.3, 0.1], [0.4, 0.1]], dtype=torch.float64)) + 50.0
    reps = 50_000
    counts = np.zeros((4, 2))
    g = torch.Generator().manual_seed(0)
    for _ in range(reps // 1000):
        anc = multinomial_resample(log_w.repeat(1, 1000), g).reshape(4, 1000, 2)
        for b in range(2):
            counts[:, b] += np.bincount(anc[:, :, b].flatten().numpy(), minlength=4)
    probs = torch.softmax(log_w, 0).numpy()
    for b in range(2):
        assert stats.chisquare(counts[:, b], probs[:, b] * counts[:, b].sum()).pvalue > 1e-6


def test_a_point_draws_the_same_ancestors_whatever_the_other_points_weights():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    log_w = torch.randn(16, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    other = log_w.clone()
    other[:, 2] += torch.randn(16, dtype=torch.float64) * 5
    assert torch.equal(multinomial_resample(log_w, g1)[:, :2], multinomial_resample(other, g2)[:, :2])


def test_exact_posterior_gives_log_p_to_rounding(small_model):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(1))
    est = smc(small_model, x, 16, generator=torch.Generator().manual_seed(2), proposal=small_model.posterior(x),
              num_steps=5, leapfrog_steps=2)
    assert torch.allclose(est.log_px, small_model.log_marginal(x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("steps", [1, 6])
def test_unbiased_in_p_on_a_mean_field_encoder(small_model, steps):
    """R = 4000 replicates at K = 8: E[p̂/p] within 5 SEs of 1 (closed-form log p(x); 2 points)."""
    model = small_model.with_encoder("mean-field")
    x = model.sample(2, generator=torch.Generator().manual_seed(3))
    rows = x.repeat(4000, 1)
    est = smc(model, rows, 8, generator=torch.Generator().manual_seed(4), num_steps=steps, leapfrog_steps=2)
    ratio = torch.exp(est.log_px.double() - model.log_marginal(rows)).reshape(4000, 2)
    m, s = ratio.mean(0), ratio.std(0) / math.sqrt(4000)
    assert bool(((m - 1) / s).abs().max() < 5), (m, s)

"""`harmonic_mean`: its mean of 1/p(x|z) is unbiased for 1/p(x) (where that has a finite variance), its
log is an upper bound, and its reduction matches scipy."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special

from vaebench import get_estimator
from vaebench.models.linear_gaussian import LinearGaussian
from vaebench.sampling import sample

hm = get_estimator("harmonic_mean")


def _wide_noise_model() -> LinearGaussian:
    """1 observed, 1 latent dimension with noise variance 4 against loading 0.5: E_post[1/p(x|z)²] is finite
    (the likelihood is wider than the prior), so the mean of 1/p̂ has a CLT."""
    return LinearGaussian(torch.tensor([[0.5]], dtype=torch.float64), torch.tensor([0.0]), torch.tensor([4.0]))


def test_reduction_matches_scipy(small_model):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(1))
    z = sample(small_model.posterior(x), (300,), torch.Generator().manual_seed(2))
    est = hm(small_model, x, 300, posterior_samples=z)
    log_lik = small_model.log_likelihood(x, z).numpy()
    expected = -(special.logsumexp(-log_lik, axis=0) - math.log(300))
    assert np.allclose(est.log_px.numpy(), expected, rtol=0, atol=1e-10)


def test_unbiased_in_one_over_p_and_an_upper_bound():
    """R = 20000 replicates at K = 4: E[1/p̂] = 1/p(x) within 5 SEs, and E[log p̂] above log p(x) beyond 5 SEs."""
    model = _wide_noise_model()
    x = torch.tensor([[1.5], [-3.0]], dtype=torch.float64)
    rows = x.repeat(20000, 1)
    z = sample(model.posterior(rows), (4,), torch.Generator().manual_seed(3))
    est = hm(model, rows, 4, posterior_samples=z).log_px.double().reshape(20000, 2)
    exact = model.log_marginal(x)
    inverse = torch.exp(exact - est)  # p / p̂: mean 1
    m, s = inverse.mean(0), inverse.std(0) / math.sqrt(20000)
    assert bool(((m - 1) / s).abs().max() < 5), (m, s)
    err = est - exact
    assert bool((err.mean(0) / (err.std(0) / math.sqrt(20000)) > 5).all())

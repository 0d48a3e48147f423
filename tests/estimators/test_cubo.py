"""`cubo`: its reduction against scipy, its limit log p + ½ log(1 + χ²) at n = 2 with χ² integrated by
scipy, and its finite-K estimate below log p(x) (a bound only in the limit)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from tests.estimators.scipy_gaussians import scipy_gaussian
from vaebench import get_estimator
from vaebench.testing.ztests import mean_and_se

cubo = get_estimator("cubo")


def test_reduction_of_the_same_weights_matches_scipy(small_model):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(1))
    lw = get_estimator("importance")(small_model, x, 700, generator=torch.Generator().manual_seed(2)).log_weights
    est = cubo(small_model, x, 700, generator=torch.Generator().manual_seed(2), order=1.7)
    expected = (special.logsumexp(1.7 * lw.numpy(), axis=0) - math.log(700)) / 1.7
    assert np.allclose(est.log_px.numpy(), expected, rtol=0, atol=1e-10)


def _chi_square(model, x) -> np.ndarray:
    """χ²(p(z|x) ‖ q) = ∫ p(z|x)² / q dz − 1 by scipy's dblquad."""
    q, post = model.proposal(x), model.posterior(x)
    out = []
    for i in range(x.shape[0]):
        qi, pi = scipy_gaussian(q, i), scipy_gaussian(post, i)
        c = pi.mean
        val, _ = integrate.dblquad(lambda b, a: pi.pdf([a, b]) ** 2 / qi.pdf([a, b]), c[0] - 8, c[0] + 8,
                                   c[1] - 8, c[1] + 8, epsabs=1e-12, epsrel=1e-10)
        out.append(val - 1)
    return np.asarray(out)


def test_limit_is_above_log_p_and_small_k_is_below(small_model):
    """Wide encoder (finite fourth moment of w): at K = 20000 (40 replicates) the mean is within 5 SEs (plus
    a 1/K allowance) of log p + ½ log(1 + χ²) > log p; at K = 1 it is the ELBO, resolved below log p."""
    model = small_model.with_encoder("exact", scale=1.4)
    x = model.sample(2, generator=torch.Generator().manual_seed(3))
    exact = model.log_marginal(x).numpy()
    limit = exact + 0.5 * np.log1p(_chi_square(model, x))
    est = cubo(model, x.repeat(40, 1), 20000, generator=torch.Generator().manual_seed(4))
    vals = est.log_px.double().reshape(40, 2).numpy()
    m, s = vals.mean(0), vals.std(0, ddof=1) / math.sqrt(40)
    assert np.all(np.abs(m - limit) < 5 * s + 2e-3), (m, s, limit)
    assert np.all(limit > exact)
    small = cubo(model, x.repeat(5000, 1), 1, generator=torch.Generator().manual_seed(5))
    ms, ss = mean_and_se((small.log_px.double() - model.log_marginal(x.repeat(5000, 1))).reshape(5000, 2))
    assert bool((ms / ss < -5).all()), (ms, ss)


def test_order_one_is_the_iwae_bound_bit_for_bit(small_model):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(6))
    a = cubo(small_model, x, 64, generator=torch.Generator().manual_seed(7), order=1.0)
    b = get_estimator("importance")(small_model, x, 64, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(a.log_px, b.log_px, rtol=0, atol=1e-12)


@pytest.mark.parametrize("bad", [0.5, 2.5])
def test_order_outside_its_range_is_refused(small_model, bad):
    x = small_model.sample(2, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match="order"):
        cubo(small_model, x, 4, order=bad)

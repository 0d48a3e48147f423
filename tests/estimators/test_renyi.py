"""`renyi`: its reduction of the importance weights against scipy, and its limit in K against the
Rényi divergence integrated by scipy's quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special

from tests.estimators.scipy_gaussians import scipy_gaussian
from vaebench import get_estimator

renyi = get_estimator("renyi")


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_reduction_of_the_same_weights_matches_scipy(small_model, alpha):
    """The same stream gives the same log weights as importance sampling; (1/(1−α)) log mean w^(1−α) of them by
    scipy's logsumexp."""
    x = small_model.sample(3, generator=torch.Generator().manual_seed(1))
    lw = get_estimator("importance")(small_model, x, 500, generator=torch.Generator().manual_seed(2)).log_weights
    est = renyi(small_model, x, 500, generator=torch.Generator().manual_seed(2), alpha=alpha)
    expected = (special.logsumexp((1 - alpha) * lw.numpy(), axis=0) - math.log(500)) / (1 - alpha)
    assert np.allclose(est.log_px.numpy(), expected, rtol=0, atol=1e-10)


def _renyi_limit(model, x, alpha) -> np.ndarray:
    """log p(x) − D_α(q ‖ p(z|x)) with ∫ q^α p(z|x)^(1−α) dz by scipy's dblquad (2-D latent)."""
    q, post = model.proposal(x), model.posterior(x)
    out = []
    for i in range(x.shape[0]):
        qi, pi = scipy_gaussian(q, i), scipy_gaussian(post, i)
        c = pi.mean
        val, _ = integrate.dblquad(lambda b, a: qi.pdf([a, b]) ** alpha * pi.pdf([a, b]) ** (1 - alpha),
                                   c[0] - 8, c[0] + 8, c[1] - 8, c[1] + 8, epsabs=1e-12, epsrel=1e-10)
        out.append(float(model.log_marginal(x[i:i + 1])) + math.log(val) / (1 - alpha))
    return np.asarray(out)


def test_converges_to_the_renyi_bound_below_log_p(small_model):
    """K = 20000, 40 replicates per point: the mean within 5 SEs (plus the 1/K bias bound) of the quadrature limit,
    which lies below log p(x) and above the ELBO."""
    model = small_model.with_encoder("mean-field")
    x = model.sample(2, generator=torch.Generator().manual_seed(3))
    alpha = 0.5
    limit = _renyi_limit(model, x, alpha)
    est = renyi(model, x.repeat(40, 1), 20000, generator=torch.Generator().manual_seed(4), alpha=alpha)
    vals = est.log_px.double().reshape(40, 2).numpy()
    m, s = vals.mean(0), vals.std(0, ddof=1) / math.sqrt(40)
    assert np.all(np.abs(m - limit) < 5 * s + 1e-3), (m, s, limit)
    exact = model.log_marginal(x).numpy()
    assert np.all(limit < exact)


@pytest.mark.parametrize("bad", [0.0, 1.0])
def test_alpha_outside_the_open_interval_is_refused(small_model, bad):
    x = small_model.sample(2, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match="alpha must be in"):
        renyi(small_model, x, 4, alpha=bad)

"""`eubo`: E = log p(x) + KL(p(z|x) ‖ q) against torch's closed-form KL, exact at the posterior, and its
refusal of one shared draw per point."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import kl_divergence

from vaebench import get_estimator
from vaebench.sampling import sample

eubo = get_estimator("eubo")


def test_mean_is_log_p_plus_the_reverse_kl(small_model):
    """R = 400 replicates at K = 50 of exact posterior draws: within 5 SEs of log p + KL(p ‖ q) (torch's KL)."""
    model = small_model.with_encoder("mean-field")
    x = model.sample(2, generator=torch.Generator().manual_seed(1))
    post, q = model.posterior(x), model.proposal(x)
    target = model.log_marginal(x) + kl_divergence(post, torch.distributions.MultivariateNormal(
        q.mean, torch.diag_embed(q.variance)))
    rows = x.repeat(400, 1)
    z = sample(model.posterior(rows), (50,), torch.Generator().manual_seed(2))
    est = eubo(model, rows, 50, posterior_samples=z).log_px.double().reshape(400, 2)
    m, s = est.mean(0), est.std(0) / math.sqrt(400)
    assert bool(((m - target) / s).abs().max() < 5), (m, s, target)
    assert bool((target > model.log_marginal(x)).all())


def test_exact_at_the_posterior(small_model):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(3))
    z = sample(small_model.posterior(x), (20,), torch.Generator().manual_seed(4))
    est = eubo(small_model, x, 20, posterior_samples=z, proposal=small_model.posterior(x))
    assert torch.allclose(est.log_px, small_model.log_marginal(x), atol=1e-10, rtol=0)


def test_one_draw_per_point_is_the_estimate_of_that_draw(small_model):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(5))
    z = sample(small_model.posterior(x), (), torch.Generator().manual_seed(6))
    one = eubo(small_model, x, 4, posterior_samples=z)
    q = small_model.proposal(x)
    direct = small_model.log_likelihood(x, z[None])[0] + small_model.prior.log_prob(z) - q.log_prob(z)
    assert torch.allclose(one.log_px, direct, atol=1e-12, rtol=0)
    assert one.stderr is None  # K copies of one draw say nothing of its spread
    with pytest.raises(ValueError, match="posterior_samples"):
        eubo(small_model, x, 4)

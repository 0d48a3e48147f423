"""`jackknife` (JVI, first order): its leave-one-out terms against a brute-force computation, its
reductions (K = 1, the exact posterior), and its 1/K² bias against closed-form truth."""

from __future__ import annotations

import math

import pytest
import torch

from vaebench import get_estimator
from vaebench.estimators.jackknife import leave_one_out_drops
from vaebench.testing.ztests import mean_and_se

jvi = get_estimator("jackknife")


def _brute_force_drops(log_w: torch.Tensor) -> torch.Tensor:
    """L_K − L^(−i) by deleting each weight and taking a fresh log-sum-exp (O(K²), independent code path)."""
    k = log_w.shape[0]
    full = torch.logsumexp(log_w, 0) - math.log(k)
    rows = [full - (torch.logsumexp(torch.cat([log_w[:i], log_w[i + 1:]]), 0) - math.log(k - 1)) for i in range(k)]
    return torch.stack(rows)


@pytest.mark.parametrize("seed", range(6))
def test_leave_one_out_terms_match_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    k = int(torch.randint(2, 40, (), generator=g))
    log_w = torch.randn(k, 3, generator=g, dtype=torch.float64) * float(torch.rand((), generator=g) * 30) - 50
    assert torch.allclose(leave_one_out_drops(log_w), _brute_force_drops(log_w), atol=1e-12, rtol=1e-10)


def test_one_dominant_weight_keeps_its_precision():
    """The others 700 nats below the largest: removing the largest leaves a remainder e^-700 times smaller,
    which a subtraction of sums would lose entirely (log of 0)."""
    log_w = torch.tensor([[0.0], [-700.0], [-701.0], [-702.0]], dtype=torch.float64)
    drops = leave_one_out_drops(log_w)
    assert torch.isfinite(drops).all()
    assert torch.allclose(drops, _brute_force_drops(log_w), rtol=1e-12, atol=1e-12)


def test_equal_weights_give_exactly_zero_corrections():
    log_w = torch.full((1000, 2), -12.345, dtype=torch.float64)
    assert torch.equal(leave_one_out_drops(log_w), torch.zeros(1000, 2, dtype=torch.float64))


def test_one_sample_is_importance_sampling_bit_for_bit(small_model):
    x = small_model.sample(4, generator=torch.Generator().manual_seed(1))
    a = jvi(small_model, x, 1, generator=torch.Generator().manual_seed(2))
    b = get_estimator("importance")(small_model, x, 1, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a.log_px, b.log_px)


@pytest.mark.parametrize("k", [2, 1000, 20000])
def test_exact_posterior_gives_log_p_to_rounding(small_model, k):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(3))
    est = jvi(small_model, x, k, generator=torch.Generator().manual_seed(4), proposal=small_model.posterior(x))
    exact = small_model.log_marginal(x)
    assert (est.log_px - exact).abs().max() < 1e-11 * (1 + exact.abs().max())


def test_bias_is_second_order_where_the_iwae_bound_is_first(small_model):
    """On a mean-field encoder: at K = 4 the IWAE bias is resolved below zero, and the jackknife's is
    smaller by more than 5 combined SEs (R = 20000 replicates per point; one-sided z-tests, 2 per point)."""
    model = small_model.with_encoder("mean-field")
    x = model.sample(2, generator=torch.Generator().manual_seed(5))
    rows = x.repeat(20000, 1)
    exact = model.log_marginal(rows)
    errs = {}
    for name in ("importance", "jackknife"):
        est = get_estimator(name)(model, rows, 4, generator=torch.Generator().manual_seed(6))
        errs[name] = mean_and_se((est.log_px - exact).reshape(20000, 2))
    (mi, si), (mj, sj) = errs["importance"], errs["jackknife"]
    assert bool((mi / si < -5).all()), f"IWAE bias not resolved: {mi}, {si}"
    assert bool(((mi.abs() - mj.abs()) / torch.sqrt(si**2 + sj**2) > 5).all()), f"IWAE {mi}, JVI {mj}"

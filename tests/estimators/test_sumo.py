"""`sumo`: the law of its series length against its formula, its reductions (the exact posterior),
its unbiasedness in log p(x) against closed-form truth, and its input checks."""

from __future__ import annotations

import math

import pytest
import torch

from vaebench import get_estimator
from vaebench.estimators.sumo import draw_extra_terms, survival
from vaebench.testing.ztests import mean_and_se

sumo = get_estimator("sumo")


@pytest.mark.parametrize("seed", range(4))
def test_series_length_follows_its_survival_function(seed):
    """P(J >= j) of 200000 draws against (K / (K + j − 1))^α, binomial 5σ, at a K and α drawn under the seed."""
    rng = torch.Generator().manual_seed(seed)
    base = int(torch.randint(1, 50, (), generator=rng))
    alpha = 1.1 + 0.9 * float(torch.rand((), generator=rng))
    n = 200_000
    j = draw_extra_terms(n, base, alpha, torch.Generator().manual_seed(100 + seed), "cpu")
    assert int(j.min()) >= 1
    for at in (1, 2, 3, base, 5 * base, 50 * base):
        p = float(survival(torch.tensor(at), base, alpha))
        freq = float((j >= at).double().mean())
        se = math.sqrt(max(p * (1 - p), 1e-12) / n)
        assert abs(freq - p) <= 5 * se + 1e-12, (at, freq, p, base, alpha)


def test_survival_starts_at_one_and_falls_as_a_power():
    assert float(survival(torch.tensor(1), 7, 1.5)) == 1.0
    ratio = survival(torch.tensor(1_000_001), 1, 1.5) / survival(torch.tensor(1_000), 1, 1.5)
    assert math.isclose(float(ratio), (1000 / 1_000_001) ** 1.5, rel_tol=1e-9)


@pytest.mark.parametrize("k", [1, 7, 300])
def test_exact_posterior_gives_log_p_to_rounding(small_model, k):
    """Every weight is p(x), so every IWAE term is log p(x) and every correction is 0."""
    x = small_model.sample(3, generator=torch.Generator().manual_seed(3))
    est = sumo(small_model, x, k, generator=torch.Generator().manual_seed(4), proposal=small_model.posterior(x))
    exact = small_model.log_marginal(x)
    assert (est.log_px - exact).abs().max() < 1e-10 * (1 + exact.abs().max())


@pytest.mark.parametrize("k, alpha", [(1, 1.5), (3, 1.2), (2, 2.0)])
def test_unbiased_in_log_p_where_the_iwae_bound_is_not(small_model, k, alpha):
    """On a mean-field encoder, R = 20000 replicates per point: SUMO's mean error within 5 SEs of 0 while
    the IWAE bound's is resolved below 0 (two-sided and one-sided z-tests, 2 per point; the closed-form
    log p(x) of the linear-Gaussian model is the reference)."""
    model = small_model.with_encoder("mean-field")
    x = model.sample(2, generator=torch.Generator().manual_seed(5))
    rows = x.repeat(20000, 1)
    exact = model.log_marginal(rows)
    est = sumo(model, rows, k, generator=torch.Generator().manual_seed(6), tail_exponent=alpha)
    m, s = mean_and_se((est.log_px - exact).reshape(20000, 2))
    assert bool(((m / s).abs() < 5).all()), f"SUMO mean error {m} ± {s}"
    iwae = get_estimator("importance")(model, rows, k, generator=torch.Generator().manual_seed(6))
    mi, si = mean_and_se((iwae.log_px - exact).reshape(20000, 2))
    assert bool((mi / si < -5).all()), f"IWAE bias not resolved: {mi} ± {si}"


def test_points_that_finish_early_do_not_change_those_still_running(small_model):
    """One point alone against the same point inside a batch of others: same law (two-sample z-test on the
    mean over 4000 calls each), although in the batch the sampler narrows to the points still running."""
    model = small_model.with_encoder("mean-field")
    x = model.sample(5, generator=torch.Generator().manual_seed(7))
    alone = sumo(model, x[:1].repeat(4000, 1), 2, generator=torch.Generator().manual_seed(8)).log_px.double()
    batch = sumo(model, x.repeat(4000, 1), 2, generator=torch.Generator().manual_seed(9)).log_px.double()
    inside = batch.reshape(4000, 5)[:, 0]
    z = (alone.mean() - inside.mean()) / torch.sqrt(alone.var() / 4000 + inside.var() / 4000)
    assert abs(float(z)) < 5


@pytest.mark.parametrize("bad", [1.0, 0.5])
def test_a_tail_exponent_at_or_below_one_is_refused(small_model, bad):
    x = small_model.sample(2, generator=torch.Generator().manual_seed(1))
    with pytest.raises(ValueError, match="tail_exponent must be (> 1|a number >= 1)"):
        sumo(small_model, x, 4, tail_exponent=bad)  # the option (>= 1), then the estimator (> 1)

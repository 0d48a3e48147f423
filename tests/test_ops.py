"""Shared numerics against scipy/numpy references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp
import torch

from vaebench.ops import (
    StreamingLogMeanExp,
    StreamingMoments,
    chunk_sizes,
    effective_sample_size,
    log_mean_exp,
    normalized_weights,
    pareto_k,
)


@pytest.fixture
def log_w():
    g = torch.Generator().manual_seed(0)
    lw = 30 * torch.randn(257, 5, generator=g, dtype=torch.float64) - 800  # exp underflows without care
    lw[:, 4] = -torch.inf  # a data point whose weights are all zero
    lw[0, 4] = -3.0
    return lw


def test_log_mean_exp_matches_scipy(log_w):
    ref = sp.logsumexp(log_w.numpy(), axis=0) - np.log(257)
    np.testing.assert_allclose(log_mean_exp(log_w).numpy(), ref, rtol=1e-14)


def test_normalized_weights_and_ess_match_numpy(log_w):
    w = np.exp(log_w.numpy() - log_w.numpy().max(0))
    np.testing.assert_allclose(normalized_weights(log_w).numpy(), w / w.sum(0), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(effective_sample_size(log_w).numpy(), w.sum(0) ** 2 / (w**2).sum(0), rtol=1e-12)
    assert effective_sample_size(log_w)[4] == pytest.approx(1.0)
    assert effective_sample_size(torch.zeros(10, 2)).tolist() == pytest.approx([10.0, 10.0])


@pytest.mark.parametrize("splits", [[257], [1] * 257, [100, 100, 57], [3, 254]])
def test_streaming_log_mean_exp_equals_whole(log_w, splits):
    acc = StreamingLogMeanExp()
    for part in torch.split(log_w, splits):
        acc.update(part)
    assert acc.count == 257
    torch.testing.assert_close(acc.log_mean(), log_mean_exp(log_w), rtol=1e-14, atol=0)
    torch.testing.assert_close(acc.ess(), effective_sample_size(log_w), rtol=1e-12, atol=0)
    rel_var = 257 / effective_sample_size(log_w) - 1
    torch.testing.assert_close(acc.stderr(), torch.sqrt(rel_var.clamp_min(0) / 257), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("splits", [[100], [1] * 100, [30, 70], [99, 1]])
def test_streaming_moments_match_numpy(splits):
    values = 1e6 + torch.randn(100, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    acc = StreamingMoments()
    for part in torch.split(values, splits):
        acc.update(part)
    np.testing.assert_allclose(acc.mean().numpy(), values.numpy().mean(0), rtol=1e-15)
    np.testing.assert_allclose(acc.variance().numpy(), values.numpy().var(0, ddof=1), rtol=1e-9)
    np.testing.assert_allclose(acc.stderr().numpy(), values.numpy().std(0, ddof=1) / 10, rtol=1e-9)


def test_accumulators_refuse_empty_streams():
    with pytest.raises(RuntimeError, match="received no samples"):
        StreamingLogMeanExp().log_mean()
    with pytest.raises(RuntimeError, match="received no samples"):
        StreamingMoments().mean()


def test_chunk_sizes():
    assert chunk_sizes(10, 3) == [3, 3, 3, 1]
    assert chunk_sizes(9, 3) == [3, 3, 3]
    assert chunk_sizes(2, 5) == [2]


def test_pareto_k_on_an_exact_generalised_pareto_tail():
    """Lomax(α = 2) weights have exceedances that are exactly GPD with k = 0.5: the mean k̂ over 20
    independent sets of K = 10^5 weights is 0.5 (z-test with the spread of the 20 estimates), and
    agrees with scipy's maximum-likelihood fit of the same exceedances (a different algorithm)."""
    import math

    import scipy.stats as st

    from vaebench.testing.ztests import assert_z

    K = 100_000
    m = min(K // 5, math.ceil(3 * math.sqrt(K)))
    w = st.lomax(2.0).rvs(size=(K, 20), random_state=0)
    k = pareto_k(torch.from_numpy(np.log(w))).numpy()
    assert_z(k.mean(), 0.5, k.std(ddof=1) / np.sqrt(20), "mean Pareto k-hat on a k = 0.5 tail")
    top = np.sort(w, axis=0)[-(m + 1):]
    mle = np.array([st.genpareto.fit(top[1:, j] - top[0, j], floc=0)[0] for j in range(20)])
    assert np.abs(k - mle).max() < 0.5 * k.std(ddof=1)  # same data: the two fits differ far less than their spread


def test_pareto_k_matches_the_gaussian_closed_form():
    """p = N(0, 1), q = N(0, s²): w ∝ exp(z² (1/s² − 1) / 2) has k = 1 − s² (DESIGN §5's
    1 − λ_min(S_p⁻¹ S_q)) for s² < 1 and a bounded tail (k < 0) for s² > 1. The Gaussian tail is
    Pareto only asymptotically; at K = 10^5 the estimator sits up to ~0.05 low (pre-asymptotic
    bias), so the comparison allows 0.1."""
    g = torch.Generator().manual_seed(0)
    for s2 in (0.3, 0.5, 0.7, 0.9, 1.5):
        z = torch.randn(100_000, 10, generator=g, dtype=torch.float64) * s2**0.5
        k = pareto_k(0.5 * z**2 * (1 / s2 - 1))
        if s2 < 1:
            assert (k - (1 - s2)).abs().mean() < 0.1
        else:
            assert (k < 0).all()
    assert torch.isinf(pareto_k(torch.zeros(1000, 3))).all()
    assert torch.isnan(pareto_k(torch.zeros(20, 3))).all()  # too few samples for a tail


def test_streaming_log_mean_exp_does_not_stall_in_float32():
    # 25,000 chunks of 8 equal float32 weights at log w = -3e4: a float32 running sum stops growing
    # after about 1000 chunks (1.4 nats low at the end); the float64 accumulator is exact.
    acc = StreamingLogMeanExp()
    chunk = torch.full((8, 2), -3.0e4, dtype=torch.float32)
    for _ in range(25_000):
        acc.update(chunk)
    assert acc.log_mean().dtype == torch.float64
    assert torch.allclose(acc.log_mean(), torch.full((2,), -3.0e4, dtype=torch.float64), rtol=0, atol=1e-9)
    assert torch.allclose(acc.ess(), torch.full((2,), 200_000.0, dtype=torch.float64), rtol=1e-9)


def test_streaming_moments_do_not_stall_in_float32():
    acc = StreamingMoments()
    for i in range(20_000):
        acc.update(torch.full((8, 1), -3.0e4 + (i % 2), dtype=torch.float32))
    assert abs(acc.mean().item() - (-3.0e4 + 0.5)) < 1e-9


def test_khat_from_the_streamed_tail_equals_khat_from_all_weights(small_model):
    """Over random K and chunk sizes: the tail a streaming estimator keeps gives the k̂ of all K weights."""
    import vaebench as vb

    rng = np.random.default_rng(7)
    x = small_model.sample(5, generator=torch.Generator().manual_seed(0))
    spec = vb.get_estimator("importance")
    for _ in range(12):
        k = int(np.exp(rng.uniform(np.log(20), np.log(5000))))
        chunk = int(rng.integers(1, 600))
        seed = int(rng.integers(1 << 30))
        q = small_model.with_encoder("mean-field", scale=float(rng.uniform(0.4, 1.5)))
        full = spec(q, x, k, generator=torch.Generator().manual_seed(seed), chunk_size=chunk)
        tail = spec(q, x, k, generator=torch.Generator().manual_seed(seed), chunk_size=chunk, keep_log_weights=False)
        assert tail.log_weights is None and tail.log_weight_tail is not None
        torch.testing.assert_close(tail.khat, pareto_k(full.log_weights), equal_nan=True)


def test_khat_of_constant_weights_is_bounded_not_a_fit_to_rounding():
    lw = torch.full((1000, 3), -28.3, dtype=torch.float64) + 1e-15 * torch.randn(1000, 3, dtype=torch.float64)
    assert torch.isinf(pareto_k(lw)).all() and (pareto_k(lw) < 0).all()

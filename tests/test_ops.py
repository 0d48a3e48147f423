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

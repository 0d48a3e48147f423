"""Throughput of the built-in estimators against K, beside the floor: one likelihood pass over the
same samples.

The floor is the work an importance estimate cannot avoid: ``model.log_likelihood`` over K·B
latent samples (pre-drawn, in the estimator's own chunks). The ratio estimator / floor is the
overhead of sampling, the prior and proposal densities and the streaming log-mean-exp.
Run with ``nox -s microbench`` (JSON saved under .benchmarks/).
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.conftest import BATCH, sync
from vaebench.testing.memory import peak_tensor_bytes
from vaebench import get_estimator
from vaebench.estimators import BUILTINS
from vaebench.estimators._streaming import resolve_chunk_size
from vaebench.ops import chunk_sizes

KS = [1, 10, 100, 1000, 10000]


def _info(benchmark, x, k, chunk):
    benchmark.extra_info.update(
        num_samples=k, batch=BATCH, device=str(x.device), dtype=str(x.dtype), chunk_size=chunk,
        threads=torch.get_num_threads(), samples=k * BATCH,
    )


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("name", [spec.name for spec in BUILTINS])
def test_estimator(benchmark, bench_setup, name, k):
    """Every built-in estimator at fixed K (grouped with the floor for the same K)."""
    model, x = bench_setup
    est = get_estimator(name)
    g = torch.Generator().manual_seed(0)

    def run():
        out = est(model, x, k, generator=g, keep_log_weights=False)
        sync(x)
        return out

    benchmark.group = f"K={k}"
    benchmark.extra_info["estimator"] = name
    _info(benchmark, x, k, resolve_chunk_size(None, x, model.latent_dim))
    benchmark(run)
    benchmark.extra_info["samples_per_s"] = k * BATCH / benchmark.stats.stats.median


@pytest.mark.parametrize("k", KS)
def test_likelihood_floor(benchmark, bench_setup, k):
    model, x = bench_setup
    chunk = resolve_chunk_size(None, x, model.latent_dim)
    zs = [model.prior.sample((c, BATCH)) for c in chunk_sizes(k, chunk)]

    def run():
        out = [model.log_likelihood(x, z) for z in zs]
        sync(x)
        return out

    benchmark.group = f"K={k}"
    _info(benchmark, x, k, chunk)
    benchmark(run)
    benchmark.extra_info["samples_per_s"] = k * BATCH / benchmark.stats.stats.median


@pytest.mark.parametrize("keep_log_weights", [False, True])
@pytest.mark.parametrize("k", [1000, 100000])
def test_peak_memory(benchmark, bench_setup, k, keep_log_weights):
    """Peak tensor memory of one estimate; the chunking claim is that it is flat in K when the
    [K, B] weights are not kept (keeping them adds exactly K·B·4 bytes)."""
    model, x = bench_setup
    est = get_estimator("importance")
    run = lambda: est(model, x, k, generator=torch.Generator().manual_seed(0), keep_log_weights=keep_log_weights)  # noqa: E731
    peak = benchmark.pedantic(peak_tensor_bytes, args=(run, x.device), rounds=1, iterations=1)
    benchmark.group = "peak memory"
    _info(benchmark, x, k, resolve_chunk_size(None, x, model.latent_dim))
    benchmark.extra_info.update(peak_bytes=peak, keep_log_weights=keep_log_weights)

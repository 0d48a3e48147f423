"""Throughput of the built-in estimators against K, beside the floor: one likelihood pass over the
same samples, and the other stages of an importance estimate timed on their own.

The floor is the work an importance estimate cannot avoid: ``model.log_likelihood`` over K·B
latent samples (pre-drawn, in the estimator's own chunks). The ratio estimator / floor is the
overhead of sampling, the prior and proposal densities and the streaming log-mean-exp; the
``stage`` benchmarks split it into drawing z ~ q and evaluating log p(z) − log q(z) (both through
torch, in the estimator's own latent blocks), so that what is left is the estimator's own.
Run with ``nox -s microbench``, which saves the JSON under .benchmarks/ and prints the ratios
(benchmarks/ratios.py).
"""

from __future__ import annotations

import pytest
import torch

from benchmarks.conftest import BATCH, sync
from vaebench import get_estimator
from vaebench.estimators import BUILTINS
from vaebench.estimators.streaming import latent_block_size, resolve_chunk_size
from vaebench.ops import chunk_sizes
from vaebench.sampling import sample
from vaebench.testing.memory import peak_tensor_bytes

KS = [1, 10, 100, 1000, 10000]


STAGES = ["floor", "draw", "densities", *(f"estimator:{spec.name}" for spec in BUILTINS)]


def _latent_dim(model) -> int:
    return model.prior.event_shape.numel()


def _record(benchmark, model_name, x, k, stage, latent_dim):
    """Group by model, device and K; record what benchmarks/ratios.py reads."""
    benchmark.group = f"{model_name} {x.device.type} K={k}"
    benchmark.extra_info.update(
        model=model_name,
        stage=stage,
        num_samples=k,
        batch=BATCH,
        device=str(x.device),
        dtype=str(x.dtype),
        chunk_size=resolve_chunk_size(None, x, latent_dim),
        threads=torch.get_num_threads(),
        samples=k * BATCH,
    )


def _workload(stage: str, model, x: torch.Tensor, k: int):
    """The timed callable for one stage; its inputs (pre-drawn z) are prepared outside it."""
    chunk = resolve_chunk_size(None, x, _latent_dim(model))
    g = torch.Generator(device=x.device).manual_seed(0)
    if stage == "floor":  # one likelihood pass over K·B pre-drawn samples, in the estimators' chunks
        zs = [model.prior.sample((c, BATCH)) for c in chunk_sizes(k, chunk)]
        return lambda: [model.log_likelihood(x, z) for z in zs]
    q, prior = model.proposal(x), model.prior
    blocks = chunk_sizes(k, latent_block_size(chunk, x, _latent_dim(model)))
    if stage == "draw":  # z ~ q(z | x) through torch's generator, in the estimators' latent blocks
        return lambda: [sample(q, (b,), g) for b in blocks]
    if stage == "densities":  # log p(z) − log q(z | x) by torch.distributions over pre-drawn blocks
        zs = [q.sample((b,)) for b in blocks]
        return lambda: [prior.log_prob(z) - q.log_prob(z) for z in zs]
    est = get_estimator(stage.split(":", 1)[1])
    return lambda: est(model, x, k, generator=g, keep_log_weights=False)


# Stage varies fastest, so that the times compared in one ratio are taken minutes apart at most
# (a shared VM drifts), not a whole suite apart.
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("k", KS)
def test_throughput(benchmark, bench_setup, stage, k):
    """The floor, the two latent-side stages and every built-in estimator, per model, device and K."""
    model_name, model, x = bench_setup
    work = _workload(stage, model, x, k)

    def run():
        out = work()
        sync(x)
        return out

    _record(benchmark, model_name, x, k, stage, _latent_dim(model))
    benchmark(run)
    benchmark.extra_info["samples_per_s"] = k * BATCH / benchmark.stats.stats.median


@pytest.mark.parametrize("keep_log_weights", [False, True])
@pytest.mark.parametrize("k", [1000, 100000])
def test_peak_memory(benchmark, memory_setup, k, keep_log_weights):
    """Peak tensor memory of one estimate; the chunking claim is that it is flat in K when the
    [K, B] weights are not kept (keeping them adds exactly K·B·4 bytes)."""
    model, x = memory_setup
    est = get_estimator("importance")
    run = lambda: est(model, x, k, generator=torch.Generator().manual_seed(0), keep_log_weights=keep_log_weights)  # noqa: E731
    peak = benchmark.pedantic(peak_tensor_bytes, args=(run, x.device), rounds=1, iterations=1)
    _record(benchmark, "fa-100x10", x, k, "peak-memory", _latent_dim(model))
    benchmark.group = "peak memory"
    benchmark.extra_info.update(peak_bytes=peak, keep_log_weights=keep_log_weights)

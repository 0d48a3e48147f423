"""The chunked sample loop shared by the Monte Carlo estimators: public API for plug-ins.

Samples are drawn a block at a time, all data points at once, and the likelihood is evaluated
K_chunk samples at a time within a block, so that the largest intermediate (``[K_chunk, B, D]``
inside the likelihood) has a fixed size whatever K is. A plug-in gets bounded memory by
building on these pieces:

- `log_weight_chunks` streams log w = log p(x, z) − log q(z | x) for z ~ q (or the prior);
- `importance_estimate` reduces such a stream to log p̂ = log mean w with ESS and stderr
  (in float64, so that the running sum cannot stall at large K);
- `resolve_chunk_size` and `ops.chunk_sizes` give the chunk rule for a loop of one's own;
- `CHUNK_SIZE`, `KEEP_LOG_WEIGHTS` and `PROPOSAL` are the declared options of these pieces,
  for an `EstimatorSpec` that exposes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.contract import model_name
from vaebench.base import Estimate
from vaebench.options import Option
from vaebench.ops import StreamingLogMeanExp, chunk_sizes, pareto_tail_size
from vaebench.sampling import resolve_generator, sample, sample_with_log_prob
from vaebench.validation import check_chunk_size, check_proposal

__all__ = [
    "CHUNK_SIZE",
    "KEEP_LOG_WEIGHTS",
    "PROPOSAL",
    "resolve_chunk_size",
    "latent_block_size",
    "model_proposal",
    "log_weight_chunks",
    "WeightKeeper",
    "check_weights_fit",
    "importance_estimate",
]

# Bytes of the largest per-chunk intermediate ([k, B, max(D, d)]). On a CPU about 1 MiB keeps a
# chunk's working set in L2 while amortising the ~0.2 ms of per-chunk dispatch (measured in
# benchmarks/); on a GPU the chunk must be large enough to amortise kernel launches.
CHUNK_BYTES = {"cpu": 2**20, "cuda": 2**29}
# Rows (samples × data points) per likelihood call at least: a wide decoder with a small batch would
# otherwise get a few samples per call (3 for the IWAE architecture at B = 100 under 1 MiB), and its
# matrix products run at a fraction of their speed (1.19x the hand-written loop's time, measured).
MIN_ROWS = {"cpu": 2048, "cuda": 65536}
# At most this many rows (samples × data points) in one latent block on a GPU, so that no density a
# model or plug-in evaluates with a triangular solve meets its CUDA cliff (9.5 s at 3.2·10⁶ columns).
MAX_LATENT_ROWS = 2**18

CHUNK_SIZE = Option("chunk_size", int, None, "samples per likelihood call (default: bounded memory per chunk)",
                    minimum=1, kit_values=(7, 64), domain=(1, 8192))
KEEP_LOG_WEIGHTS = Option("keep_log_weights", bool, True,
                          "return the [K, B] log weights (memory grows with K; turn off for very large K)")
PROPOSAL = Option("proposal", Distribution, None,
                  "q(z|x) with batch shape [B] in place of the model's encoder (library only)")


def resolve_chunk_size(chunk_size: Any, x: Tensor, latent_dim: int) -> int:
    """The user's ``chunk_size``, or a default that bounds the per-chunk memory independently of K:
    as many samples as fit `CHUNK_BYTES`, but at least `MIN_ROWS` rows per likelihood call."""
    chunk = check_chunk_size(chunk_size)
    if chunk is not None:
        return chunk
    kind = x.device.type if x.device.type in CHUNK_BYTES else "cuda"
    by_bytes = CHUNK_BYTES[kind] // (x.element_size() * x.shape[0] * max(x.shape[1], latent_dim))
    return max(1, by_bytes, MIN_ROWS[kind] // x.shape[0])


def model_proposal(model: Any, x: Tensor, proposal: Distribution | None) -> Distribution:
    """``proposal`` if given, else the model's encoder q(z | x); validated against ``x``."""
    if proposal is None:
        make = getattr(model, "proposal", None)
        if make is None:
            raise ValueError(
                f"{model_name(model)} has no encoder (no proposal(x) method); pass proposal= "
                "a distribution over z with batch shape [B]"
            )
        proposal = make(x)
    return check_proposal(proposal, x, model)


def latent_block_size(chunk: int, x: Tensor, latent_dim: int) -> int:
    """Samples per latent block: as many z ``[k, B, d]`` as fit the bytes of one likelihood chunk.

    The latent-side work (drawing z, log p(z) and log q(z | x), and the reduction of the log
    weights) runs on ``[k, B, d]`` and ``[k, B]`` tensors, ``D / d`` times smaller than the
    likelihood's ``[k, B, D]``. Doing it for ``D / d`` likelihood chunks at once keeps the same
    memory bound while paying torch's per-operation dispatch cost once instead of ``D / d`` times
    (``nox -s microbench``: at D / d = 10 the time over the likelihood floor fell from 1.1x to 0.35x).
    """
    block = chunk * max(1, x.shape[1] // max(1, latent_dim))
    if x.device.type == "cuda":  # cap the rows of a block: torch's batched solves slow down past ~10⁵ columns
        block = min(block, max(chunk, MAX_LATENT_ROWS // x.shape[0]))
    return block


def log_weight_chunks(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    proposal: Distribution | None,
    generator: torch.Generator | None,
    chunk_size: Any = None,
    likelihood_only: bool = False,
) -> Iterator[Tensor]:
    """Yield log w = log p(x | z) + log p(z) − log q(z | x) in blocks ``[k, B]``, z ~ q.

    z is drawn a latent block at a time (`latent_block_size`) and the likelihood is evaluated
    ``chunk_size`` samples at a time within it. With ``proposal=None`` z is drawn from the prior
    and log w = log p(x | z) (the ratio p(z) / q(z) is identically one and is not computed);
    ``likelihood_only`` yields log p(x | z) for z ~ q (for estimators that handle the prior term
    in closed form).
    """
    prior = model.prior
    batch = x.shape[0]
    latent_dim = prior.event_shape.numel()
    g = resolve_generator(generator, x.device)
    chunk = resolve_chunk_size(chunk_size, x, latent_dim)
    weights_are_likelihoods = proposal is None or likelihood_only
    for block in chunk_sizes(num_samples, latent_block_size(chunk, x, latent_dim)):
        if weights_are_likelihoods:
            z = sample(prior, (block, batch), g) if proposal is None else sample(proposal, (block,), g)
            log_w = x.new_empty((block, batch))
        else:
            z, log_q = sample_with_log_prob(proposal, (block,), g)
            log_w = prior.log_prob(z) - log_q
        start = 0
        for k in chunk_sizes(block, chunk):
            log_lik = model.log_likelihood(x, z[start : start + k])
            if tuple(log_lik.shape) != (k, batch):
                raise ValueError(
                    f"{model_name(model)}.log_likelihood returned shape {list(log_lik.shape)} for z of "
                    f"shape {list(z[start : start + k].shape)}; the model contract requires [K, B] = [{k}, {batch}]"
                )
            if weights_are_likelihoods:
                log_w[start : start + k] = log_lik
            else:
                log_w[start : start + k] += log_lik
            start += k
        yield log_w


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (physical memory available on a CPU), or None where unknown."""
    import os

    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:  # MemAvailable counts reclaimable page cache, which free pages alone do not
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_weights_fit(num_samples: int, batch: int, dtype: torch.dtype, device: torch.device) -> None:
    """Refuse, before any work, to keep ``[K, B]`` log weights that cannot fit in memory."""
    need = num_samples * batch * torch.empty((), dtype=dtype).element_size()
    free = available_bytes(device)
    if free is not None and need > 0.8 * free:
        raise ValueError(f"keeping the [K, B] = [{num_samples}, {batch}] log weights needs {need / 2**30:.3g} GiB but "
                         f"{free / 2**30:.3g} GiB are free on {device}; pass keep_log_weights=False (the estimate, its "
                         "ESS and stderr do not need them)")


class WeightKeeper:
    """Collects ``[k, B]`` chunks into one preallocated ``[K, B]`` tensor (or nothing when off).

    Writing into one buffer, rather than keeping thousands of small chunks and concatenating
    them, avoids holding the weights twice and fragmenting the heap between chunk temporaries.
    """

    def __init__(self, num_samples: int, keep: bool, like: Tensor | None = None) -> None:
        """``like``: the data x; when given, weights that cannot fit in memory are refused at once."""
        self.num_samples, self.keep = num_samples, keep
        self._buffer: Tensor | None = None
        self._filled = 0
        if keep and like is not None:
            check_weights_fit(num_samples, like.shape[0], like.dtype, like.device)

    def add(self, log_w: Tensor) -> None:
        if not self.keep:
            return
        if self._buffer is None:
            self._buffer = log_w.new_empty((self.num_samples, *log_w.shape[1:]))
        self._buffer[self._filled : self._filled + log_w.shape[0]] = log_w
        self._filled += log_w.shape[0]

    def result(self) -> Tensor | None:
        return self._buffer


def importance_estimate(chunks: Iterator[Tensor], num_samples: int, keep_log_weights: bool,
                        like: Tensor | None = None) -> Estimate:
    """Reduce a stream of log weights to log p̂ = log mean w, with ESS and delta-method SE.

    The reduction runs in float64; the results are returned in the dtype of the log weights.
    With ``like`` (the data x), kept weights that cannot fit in memory are refused before the
    (lazy) stream does any work. Without kept weights, the largest M + 1 of them (the Pareto tail)
    are kept instead, so that ``Estimate.khat`` is there either way.
    """
    acc = StreamingLogMeanExp(keep_top=0 if keep_log_weights else pareto_tail_size(num_samples) + 1)
    kept = WeightKeeper(num_samples, keep_log_weights, like)
    dtype = None
    for log_w in chunks:
        dtype = log_w.dtype
        acc.update(log_w)
        kept.add(log_w)
    return Estimate(
        log_px=acc.log_mean().to(dtype),
        log_weights=kept.result(),
        ess=acc.ess().to(dtype),
        stderr=acc.stderr().to(dtype),
        num_samples=num_samples,
        log_weight_tail=acc.top(),
    )

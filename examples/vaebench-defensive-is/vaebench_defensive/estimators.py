"""Defensive importance sampling: a mixture of the encoder and the prior as the proposal."""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor

from vaebench import EstimatorSpec, EstimatorTags, Option
from vaebench.estimators.streaming import CHUNK_SIZE, KEEP_LOG_WEIGHTS, importance_estimate, resolve_chunk_size
from vaebench.ops import chunk_sizes
from vaebench.sampling import resolve_generator, sample

__all__ = ["estimate", "SPEC"]


def _log_weights(model, x: Tensor, num_samples: int, generator, mixture_weight: float, chunk_size) -> Iterator[Tensor]:
    """log p(x, z) − log r(z | x) in chunks, z ~ r = α q + (1 − α) p (vaebench's chunk rule)."""
    prior, q = model.prior, model.proposal(x)
    g = resolve_generator(generator, x.device)
    batch = x.shape[0]
    chunk = resolve_chunk_size(chunk_size, x, prior.event_shape.numel())
    log_a = math.log(mixture_weight) if mixture_weight > 0 else -math.inf
    log_1ma = math.log1p(-mixture_weight)
    for k in chunk_sizes(num_samples, chunk):
        from_q = torch.rand(k, batch, generator=g, device=x.device) < mixture_weight
        z = torch.where(from_q[..., None], sample(q, (k,), g), sample(prior, (k, batch), g))
        log_p = prior.log_prob(z)
        log_r = torch.logaddexp(log_a + q.log_prob(z), log_1ma + log_p)
        yield model.log_likelihood(x, z) + log_p - log_r


def estimate(
    model,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    mixture_weight: float = 0.8,
    chunk_size: int | None = None,
    keep_log_weights: bool = True,
):
    """log p̂ = log (1/K) Σ p(x, z_k) / r(z_k | x), z_k ~ r = α q(z|x) + (1 − α) p(z).

    Unbiased in p(x) for any α in [0, 1); with α < 1 every weight is bounded by
    p(x | z) / (1 − α), so the variance is finite even for an under-dispersed encoder.

    References
    ----------
    Hesterberg, T. (1995). Weighted average importance sampling and defensive mixture
    distributions. Technometrics, 37(2), 185-194.
    """
    if not 0.0 <= mixture_weight < 1.0:
        raise ValueError(f"mixture_weight must be in [0, 1), got {mixture_weight}")
    chunks = _log_weights(model, x, num_samples, generator, mixture_weight, chunk_size)
    return importance_estimate(chunks, num_samples, keep_log_weights, like=x)


SPEC = EstimatorSpec(
    name="defensive",
    estimate=estimate,
    tags=EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True,
                       bounded_memory=True),
    description="Defensive importance sampling from 0.8 q(z|x) + 0.2 p(z) (Hesterberg, 1995)",
    options=(
        Option("mixture_weight", float, 0.8, "α, the weight of the encoder in the mixture", minimum=0.0,
               maximum=0.99, kit_values=(0.0, 0.5)),
        CHUNK_SIZE,
        KEEP_LOG_WEIGHTS,
    ),
)

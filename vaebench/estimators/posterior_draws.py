"""Estimators that average over exact posterior draws z ~ p(z | x) given by the caller (harmonic mean, EUBO)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import Tensor

from vaebench.contract import model_name
from vaebench.estimators.streaming import resolve_chunk_size
from vaebench.options import Option
from vaebench.ops import chunk_sizes

__all__ = ["POSTERIOR_DRAWS", "check_posterior_draws", "likelihood_chunks"]

POSTERIOR_DRAWS = Option("posterior_samples", Tensor, None,
                         "exact posterior samples z ~ p(z|x): [K, B, d] independent draws, or [B, d] one draw per "
                         "point (the estimate of one draw) (library only)")


def check_posterior_draws(posterior_samples: Any, x: Tensor, num_samples: int, latent_dim: int) -> Tensor:
    """``posterior_samples`` as finite draws ``[K, B, d]`` in x's dtype and device: the K independent draws
    given, or the one draw per point of a ``[B, d]`` tensor repeated K times (a view: the estimate of that
    one draw, as reverse AIS's shared start is)."""
    from vaebench.estimators.reverse_ais import check_posterior_samples

    z = check_posterior_samples(posterior_samples, x, num_samples, latent_dim)
    return z.unsqueeze(0).expand(num_samples, *z.shape) if z.dim() == 2 else z


def likelihood_chunks(model: Any, x: Tensor, z: Tensor, chunk_size: Any) -> Iterator[Tensor]:
    """log p(x | z) ``[k, B]`` for consecutive chunks of the draws ``z`` ``[K, B, d]``."""
    chunk = resolve_chunk_size(chunk_size, x, z.shape[-1])
    start = 0
    for k in chunk_sizes(z.shape[0], chunk):
        log_lik = model.log_likelihood(x, z[start: start + k])
        if tuple(log_lik.shape) != (k, x.shape[0]):
            raise ValueError(f"{model_name(model)}.log_likelihood returned shape {list(log_lik.shape)}; the model "
                             f"contract requires [K, B] = [{k}, {x.shape[0]}]")
        start += k
        yield log_lik

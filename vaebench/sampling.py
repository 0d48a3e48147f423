"""Sampling from torch distributions under an explicit `torch.Generator`.

`torch.distributions` draws from the global random stream; reproducible estimators need a stream
of their own. Gaussian families (the priors and encoders of VAEs) are reparameterised here with
``torch.randn(..., generator=...)``; any other distribution is sampled inside
`torch.random.fork_rng` with the global stream seeded from the generator, which is exact and
reproducible but slower.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

__all__ = ["resolve_generator", "sample"]

_SEED_BOUND = 2**62


def resolve_generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator:
    """A generator that lives on ``device``.

    ``None`` draws a seed from the global stream (so ``torch.manual_seed`` still governs); a
    generator on another device seeds a fresh one on ``device`` from its own stream, so a CPU
    generator drives CUDA estimates reproducibly.
    """
    device = torch.device(device)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator is not None and generator.device.type == device.type:
        return generator
    seed = int(torch.randint(_SEED_BOUND, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


def sample(dist: Distribution, sample_shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Draw ``sample_shape + dist.batch_shape + dist.event_shape`` samples using ``generator``."""
    shape = torch.Size(sample_shape) + dist.batch_shape + dist.event_shape
    base, _ = _unwrap_independent(dist)
    if isinstance(base, Normal):
        eps = torch.randn(shape, generator=generator, dtype=base.loc.dtype, device=base.loc.device)
        return torch.addcmul(base.loc, base.scale, eps)  # one pass over [K, B, d], not two
    if isinstance(base, MultivariateNormal):
        eps = torch.randn(shape, generator=generator, dtype=base.loc.dtype, device=base.loc.device)
        return base.loc + (base._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
    with torch.random.fork_rng(devices=[generator.device] if generator.device.type == "cuda" else []):
        torch.manual_seed(int(torch.randint(_SEED_BOUND, (1,), generator=generator, device=generator.device)))
        return dist.sample(torch.Size(sample_shape))


def _unwrap_independent(dist: Distribution) -> tuple[Distribution, int]:
    depth = 0
    while isinstance(dist, Independent):
        dist, depth = dist.base_dist, depth + dist.reinterpreted_batch_ndims
    return dist, depth

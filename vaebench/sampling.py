"""Sampling from torch distributions under an explicit `torch.Generator`.

`torch.distributions` draws from the global random stream; reproducible estimators need a stream
of their own. Gaussian families (the priors and encoders of VAEs) are reparameterised here with
``torch.randn(..., generator=...)``; any other distribution is sampled inside
`torch.random.fork_rng` with the global stream seeded from the generator, which is exact and
reproducible but slower.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

__all__ = ["derived_seed", "fork_generator", "resolve_generator", "restrict_rows", "sample", "sample_with_log_prob"]

_SEED_BOUND = 2**62


def derived_seed(*keys: object) -> int:
    """A 63-bit seed from the sha256 of ``keys`` joined by '/': the same keys give the same random
    stream on any machine or executor, and different keys independent-looking ones."""
    import hashlib

    text = "/".join(str(k) for k in keys)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def fork_generator(generator: torch.Generator | None, device: torch.device | str) -> torch.Generator:
    """A fresh generator on ``device`` seeded by one draw from ``generator`` (the global stream for None):
    a stream of its own that stays reproducible from the parent's state."""
    source = generator.device if generator is not None else torch.device("cpu")
    seed = int(torch.randint(_SEED_BOUND, (1,), generator=generator, device=source))
    return torch.Generator(device=device).manual_seed(seed)


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
    return fork_generator(generator, device)


def sample(dist: Distribution, sample_shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Draw ``sample_shape + dist.batch_shape + dist.event_shape`` samples using ``generator``."""
    base, _ = _unwrap_independent(dist)
    if isinstance(base, (Normal, MultivariateNormal)):
        return _reparameterise(dist, base, sample_shape, generator)[0]
    with torch.random.fork_rng(devices=[generator.device] if generator.device.type == "cuda" else []):
        torch.manual_seed(int(torch.randint(_SEED_BOUND, (1,), generator=generator, device=generator.device)))
        return dist.sample(torch.Size(sample_shape))


def sample_with_log_prob(dist: Distribution, sample_shape: tuple[int, ...],
                         generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """z ~ dist and log dist(z), with the same draws as `sample`.

    For the Gaussian families the density comes from the standard-normal noise ε of the
    reparameterisation z = μ + L ε: log q(z) = −½|ε|² − Σ log diag(L) − (d/2) log 2π, one pass
    over ε and no triangular solve (torch's `MultivariateNormal.log_prob` solves with K·B right-hand
    sides, which on CUDA falls off a cliff past ~10⁵ of them). Other families use ``log_prob``.
    Checked against `torch.distributions` and scipy in tests/test_sampling.py.
    """
    base, _ = _unwrap_independent(dist)
    vector = len(dist.event_shape) == 1 and dist.event_shape.numel() > 0
    if vector and (isinstance(base, MultivariateNormal) or (isinstance(base, Normal) and isinstance(dist, Independent))):
        z, eps = _reparameterise(dist, base, sample_shape, generator)
        if isinstance(base, Normal):
            log_det = torch.log(base.scale).expand(dist.batch_shape + dist.event_shape).sum(-1)
        else:
            tril = base._unbroadcasted_scale_tril
            log_det = torch.log(torch.diagonal(tril, dim1=-2, dim2=-1)).sum(-1).expand(dist.batch_shape)
        log_q = -0.5 * (eps * eps).sum(-1) - log_det - 0.5 * dist.event_shape[0] * math.log(2 * math.pi)
        return z, log_q
    return _fallback(dist, sample_shape, generator)


def _reparameterise(dist: Distribution, base: Distribution, sample_shape: tuple[int, ...],
                    generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """z = μ + L ε for a Normal or MultivariateNormal ``base`` of ``dist``, and the noise ε."""
    shape = torch.Size(sample_shape) + dist.batch_shape + dist.event_shape
    eps = torch.randn(shape, generator=generator, dtype=base.loc.dtype, device=base.loc.device)
    if isinstance(base, Normal):
        return torch.addcmul(base.loc, base.scale, eps), eps  # one pass over [K, B, d], not two
    return base.loc + (base._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1), eps


def _fallback(dist: Distribution, sample_shape: tuple[int, ...], generator: torch.Generator) -> tuple[Tensor, Tensor]:
    z = sample(dist, sample_shape, generator)
    return z, dist.log_prob(z)


def _unwrap_independent(dist: Distribution) -> tuple[Distribution, int]:
    depth = 0
    while isinstance(dist, Independent):
        dist, depth = dist.base_dist, depth + dist.reinterpreted_batch_ndims
    return dist, depth


def restrict_rows(dist: Distribution, rows: Tensor) -> Distribution | None:
    """``dist`` (batch shape ``[B]``) restricted to the batch entries ``rows``, for the Gaussian families
    (Normal, MultivariateNormal, and Independent of them); None for any other family.

    An estimator that keeps sampling only some data points (SUMO's random series lengths) draws
    from the restricted distribution instead of drawing for every point and discarding most.
    """
    return _first_dim_rows(dist, rows) if len(dist.batch_shape) == 1 else None


def _first_dim_rows(dist: Distribution, rows: Tensor) -> Distribution | None:
    if not dist.batch_shape:
        return None
    if isinstance(dist, Independent):
        base = _first_dim_rows(dist.base_dist, rows)
        return None if base is None else Independent(base, dist.reinterpreted_batch_ndims)
    if isinstance(dist, Normal):
        return Normal(dist.loc.expand(dist.batch_shape)[rows], dist.scale.expand(dist.batch_shape)[rows])
    if isinstance(dist, MultivariateNormal):
        d = dist.event_shape[0]
        loc = dist.loc.expand(dist.batch_shape + (d,))[rows]
        tril = dist._unbroadcasted_scale_tril.expand(dist.batch_shape + (d, d))[rows]
        return MultivariateNormal(loc, scale_tril=tril, validate_args=False)
    return None

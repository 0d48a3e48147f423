"""A fixed nonlinear generative model with a 2-D latent, and data sampled from it.

z ~ N(0, I_2), x | z ~ Bernoulli(sigmoid(W₂ tanh(W₁ z + b₁) + b₂)) with D = 64 binary pixels and
weights drawn once from a fixed seed. Its posteriors are curved and skewed (not Gaussian), and its
own log p(x) is computable by 2-D quadrature, since it is a latent-variable model like any other.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Independent, Normal

__all__ = ["SyntheticGenerator", "load_synthetic", "SPLIT_SIZES"]

SPLIT_SIZES = {"train": 20000, "valid": 2000, "test": 2000}
_SPLIT_SEEDS = {"train": 11, "valid": 12, "test": 13}


class SyntheticGenerator:
    """The true model of the ``synthetic-2d`` data set (a `LatentModel` without an encoder)."""

    data_dim = 64
    latent_dim = 2

    def __init__(self, seed: int = 2026, hidden: int = 32, dtype: torch.dtype = torch.float32) -> None:
        g = torch.Generator().manual_seed(seed)
        self.W1 = 2.0 * torch.randn(hidden, 2, generator=g, dtype=torch.float64)
        self.b1 = torch.randn(hidden, generator=g, dtype=torch.float64)
        self.W2 = 1.5 * torch.randn(self.data_dim, hidden, generator=g, dtype=torch.float64) / hidden**0.5
        self.b2 = torch.randn(self.data_dim, generator=g, dtype=torch.float64) - 0.5
        self.dtype = dtype
        self._prior = Independent(Normal(torch.zeros(2, dtype=dtype), torch.ones(2, dtype=dtype), validate_args=False), 1)

    @property
    def prior(self) -> Distribution:
        return self._prior

    def to(self, dtype: torch.dtype | None = None, device=None) -> "SyntheticGenerator":
        if device not in (None, "cpu") and torch.device(device).type != "cpu":
            raise ValueError("SyntheticGenerator lives on the CPU")
        return SyntheticGenerator(dtype=dtype or self.dtype)

    def logits(self, z: Tensor) -> Tensor:
        W1, b1, W2, b2 = (t.to(z.dtype) for t in (self.W1, self.b1, self.W2, self.b2))
        return torch.tanh(z @ W1.mT + b1) @ W2.mT + b2

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z), ``[K, B]``."""
        return Independent(Bernoulli(logits=self.logits(z), validate_args=False), 1).log_prob(x)

    def sample(self, num: int, *, generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(num, 2, generator=generator, dtype=self.dtype)
        return torch.bernoulli(torch.sigmoid(self.logits(z)), generator=generator)


@functools.lru_cache(maxsize=3)
def load_synthetic(split: str) -> Tensor:
    """The ``synthetic-2d`` data: float32 ``[N, 64]`` of 0/1, the same on every machine."""
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {tuple(SPLIT_SIZES)}, got {split!r}")
    gen = SyntheticGenerator()
    return gen.sample(SPLIT_SIZES[split], generator=torch.Generator().manual_seed(_SPLIT_SEEDS[split]))

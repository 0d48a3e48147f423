"""Shared fixtures: one seeded generator, the devices to run on, and small models."""

from __future__ import annotations

import pytest
import torch

from vaebench.models import LinearGaussian

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def generator() -> torch.Generator:
    """A fixed-seed CPU generator; every stochastic test draws from one of these."""
    return torch.Generator().manual_seed(20261125)


@pytest.fixture(params=DEVICES)
def device(request: pytest.FixtureRequest) -> str:
    """Each available device (CUDA tests run only where a GPU is present)."""
    return request.param


@pytest.fixture
def small_model() -> LinearGaussian:
    """D = 3, d = 2 with weak loadings: χ² of every sensible proposal is O(1)."""
    W = torch.tensor([[0.8, -0.3], [0.2, 0.6], [-0.4, 0.5]], dtype=torch.float64)
    return LinearGaussian(W, torch.tensor([0.5, -1.0, 0.3]), torch.tensor([0.5, 0.8, 0.6]))

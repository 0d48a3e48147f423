"""Fixtures for the throughput benchmarks: one fixed model, data, and thread settings."""

from __future__ import annotations

import pytest
import torch

from vaebench.models import LinearGaussian
from vaebench.runtime import keep_freed_memory

keep_freed_memory()  # as the vaebench command does: see vaebench/runtime.py

# The fixed benchmark model: factor analysis with D = 100, d = 10, B = 64 data points, float32.
DATA_DIM, LATENT_DIM, BATCH = 100, 10, 64
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def bench_setup(request):
    device = request.param
    model = LinearGaussian.random(DATA_DIM, LATENT_DIM, seed=0).to(torch.float32, device)
    x = model.sample(BATCH, generator=torch.Generator(device=device).manual_seed(0))
    return model, x


def sync(x: torch.Tensor) -> None:
    """Wait for queued GPU work so that the timed region covers it."""
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)

"""Fixtures for the throughput benchmarks: fixed models, data, and thread settings."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from vaebench.models import LinearGaussian
from vaebench.models.vae import VAE
from vaebench.runtime import keep_freed_memory

keep_freed_memory()  # as the vaebench command does: see vaebench/runtime.py

BATCH = 64
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def factor_analysis(device: str) -> tuple[LinearGaussian, torch.Tensor]:
    """Factor analysis with D = 100, d = 10, float32: the cheapest likelihood per latent
    dimension among the suite's models, so the hardest case for the overhead ratio."""
    model = LinearGaussian.random(100, 10, seed=0).to(torch.float32, device)
    return model, model.sample(BATCH, generator=torch.Generator(device=device).manual_seed(0))


def iwae_vae(device: str) -> tuple[VAE, torch.Tensor]:
    """The IWAE paper's one-layer architecture (784-200-200-50, tanh, Bernoulli), at its seeded
    initialisation, on seeded binary data: the time per sample of a trained model is the same."""
    torch.manual_seed(0)
    model = VAE("iwae").to(device).eval().requires_grad_(False)
    g = torch.Generator(device=device).manual_seed(0)
    return model, (torch.rand(BATCH, 784, generator=g, device=device) < 0.3).float()


MODELS: dict[str, Callable[[str], tuple]] = {"fa-100x10": factor_analysis, "vae-iwae": iwae_vae}


@pytest.fixture(params=[(model, device) for model in MODELS for device in DEVICES], ids="-".join)
def bench_setup(request):
    """(model name, model, x) for every benchmark model on every available device."""
    name, device = request.param
    return (name, *MODELS[name](device))


@pytest.fixture(params=DEVICES)
def memory_setup(request):
    """The factor-analysis model, for the peak-memory measurements."""
    return factor_analysis(request.param)


def sync(x: torch.Tensor) -> None:
    """Wait for queued GPU work so that the timed region covers it."""
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)

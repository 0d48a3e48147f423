"""Shared helpers of the AIS tests: the default profile's linear models and seeded generators."""

from __future__ import annotations

import torch

from vaebench.registry import get_model_spec

N_SIGMA = 5.0

# The three linear-Gaussian models of the default bench profile.
LINEAR_MODELS = {
    "ppca-10x2": ("ppca", dict(data_dim=10, latent_dim=2, seed=0, encoder="exact", encoder_scale=1.3)),
    "fa-20x5-mean-field": ("linear-gaussian", dict(data_dim=20, latent_dim=5, seed=0, encoder="mean-field")),
    "fa-50x10-shifted": ("linear-gaussian", dict(data_dim=50, latent_dim=10, seed=1, encoder="exact",
                                                 encoder_scale=1.2, encoder_shift=0.3)),
}


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def linear(name: str):
    family, options = LINEAR_MODELS[name]
    return get_model_spec(family).build(**options)

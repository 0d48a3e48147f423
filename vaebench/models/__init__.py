"""Models with known log p(x), and the by-name catalogue for the CLI, sweeps and the kit."""

from __future__ import annotations

from typing import Any

from vaebench.models.catalogue import BUILTIN_MODELS, ModelSpec
from vaebench.models.gaussian import as_multivariate_normal, chi_square_gaussian, gaussian_moments
from vaebench.models.linear_gaussian import ENCODER_FAMILIES, GaussianEncoder, LinearGaussian
from vaebench.models.quadrature import QuadratureGroundTruth
from vaebench.models.vae import ARCHITECTURES, VAE, VAEConfig

__all__ = [
    "ARCHITECTURES",
    "BUILTIN_MODELS",
    "ENCODER_FAMILIES",
    "ModelSpec",
    "QuadratureGroundTruth",
    "VAE",
    "VAEConfig",
    "required_data",
    "GaussianEncoder",
    "LinearGaussian",
    "as_multivariate_normal",
    "available_models",
    "chi_square_gaussian",
    "gaussian_moments",
    "get_model",
]


def required_data(name: str) -> str | None:
    """The data set a catalogue model needs to be built (trained presets), or None."""
    from vaebench.registry import get_model_spec

    return get_model_spec(name).data


def available_models() -> dict[str, str]:
    """Model names and one-line descriptions (the catalogue, plug-ins included)."""
    from vaebench.registry import list_models

    return {name: spec.description for name, spec in list_models().items()}


def get_model(name: str, **options: Any) -> Any:
    """Build the catalogue model called ``name`` with its declared options (e.g. ``data_dim``, ``seed``)."""
    from vaebench.registry import get_model_spec

    return get_model_spec(name).build(**options)

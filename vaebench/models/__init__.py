"""Models with known log p(x), and the by-name catalogue for the CLI, sweeps and the kit."""

from __future__ import annotations

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
    "GaussianEncoder",
    "LinearGaussian",
    "as_multivariate_normal",
    "chi_square_gaussian",
    "gaussian_moments",
]

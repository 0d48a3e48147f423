"""Models with known log p(x), and a by-name catalogue for the CLI and sweeps."""

from __future__ import annotations

from typing import Any, Callable

from vaebench.models.gaussian import as_multivariate_normal, chi_square_gaussian, gaussian_moments
from vaebench.validation import unknown_name_message
from vaebench.models.linear_gaussian import ENCODER_FAMILIES, GaussianEncoder, LinearGaussian
from vaebench.models.presets import PRESETS, pretrained
from vaebench.models.quadrature import QuadratureGroundTruth
from vaebench.models.vae import ARCHITECTURES, VAE, VAEConfig

__all__ = [
    "ARCHITECTURES",
    "ENCODER_FAMILIES",
    "PRESETS",
    "QuadratureGroundTruth",
    "VAE",
    "VAEConfig",
    "pretrained",
    "required_data",
    "GaussianEncoder",
    "LinearGaussian",
    "as_multivariate_normal",
    "available_models",
    "chi_square_gaussian",
    "gaussian_moments",
    "get_model",
]


def _linear_gaussian(
    *, encoder: str = "mean-field", encoder_scale: float = 1.0, encoder_shift: float = 0.0, **kw: Any
) -> LinearGaussian:
    kw.setdefault("data_dim", 20)
    kw.setdefault("latent_dim", 5)
    model = LinearGaussian.random(**kw)
    return model.with_encoder(encoder, scale=encoder_scale, shift=encoder_shift)


def _ppca(**kw: Any) -> LinearGaussian:
    return _linear_gaussian(isotropic=True, **kw)


def _trained(preset: str) -> Callable[..., Any]:
    def build(*, epochs: int | None = None, quadrature_tol: float = 1e-4, **kw: Any) -> Any:
        return pretrained(preset, epochs=epochs, quadrature_tol=quadrature_tol, **kw)

    return build


_MODELS: dict[str, tuple[Callable[..., Any], str]] = {
    "linear-gaussian": (_linear_gaussian, "factor analysis with random W, b, diagonal Ψ (exact log p(x))"),
    "ppca": (_ppca, "probabilistic PCA: factor analysis with isotropic noise (exact log p(x))"),
    **{name: (_trained(name), f"trained VAE: {desc}") for name, (config, desc) in PRESETS.items()
       if config.architecture.latent_dim <= 2},
}


def required_data(name: str) -> str | None:
    """The data set a catalogue model needs to be built (trained presets), or None."""
    return PRESETS[name][0].data if name in PRESETS else None


def available_models() -> dict[str, str]:
    """Model names and one-line descriptions."""
    return {name: desc for name, (_, desc) in _MODELS.items()}


def get_model(name: str, **kwargs: Any) -> Any:
    """Build the model called ``name`` with keyword options (e.g. ``data_dim``, ``seed``)."""
    if name not in _MODELS:
        raise ValueError(unknown_name_message("model", name, list(_MODELS)))
    return _MODELS[name][0](**kwargs)

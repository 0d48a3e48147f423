"""The model catalogue: every model a sweep, the CLI or the kit can build by name, with declared options.

A `ModelSpec` names a factory, the options it takes (validated when a config is loaded, with
the same `Option` declarations as estimators), the kind of ground truth it has and the data set
it needs. Parametric models and trained presets go through the same door; third-party models come
from the entry-point group ``vaebench.models`` (see `vaebench.registry`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from vaebench.options import DeclaresOptions, Option

__all__ = ["ModelSpec", "TRUTH_KINDS", "BUILTIN_MODELS"]

TRUTH_KINDS = ("exact", "quadrature", "none")
_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True)
class ModelSpec(DeclaresOptions):
    """A buildable model.

    Parameters
    ----------
    name : str
        Lower-case identifier (letters, digits, ``_`` and ``-``).
    factory : callable
        ``factory(**options) -> model`` implementing the `LatentModel` contract.
    options : tuple of Option
        What the factory accepts; anything else is refused with the closest declared name.
    truth : {"exact", "quadrature", "none"}
        How the model's log p(x) is known: in closed form, by quadrature (with an error bound),
        or not at all (throughput only).
    description : str
        One line for listings.
    data : str, optional
        The data set the model needs (trained presets), or None.
    """

    kind = "model"
    name: str
    factory: Callable[..., Any]
    options: tuple[Option, ...] = ()
    truth: str = "exact"
    description: str = ""
    data: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(f"ModelSpec name must be a lower-case identifier like 'my-model', got {self.name!r}")
        if not callable(self.factory):
            raise TypeError(f"ModelSpec {self.name!r}: factory must be callable")
        if self.truth not in TRUTH_KINDS:
            raise ValueError(f"ModelSpec {self.name!r}: truth must be one of {TRUTH_KINDS}, got {self.truth!r}")
        object.__setattr__(self, "options", tuple(self.options))
        if not all(isinstance(o, Option) for o in self.options):
            raise TypeError(f"ModelSpec {self.name!r}: options must be vaebench.Option objects")

    def build(self, **options: Any) -> Any:
        """The model, with validated options."""
        return self.factory(**self.validate_options(options))


# ----------------------------------------------------------------------------- built-in factories
def _linear_gaussian(*, data_dim: int = 20, latent_dim: int = 5, seed: int = 0, encoder: str = "mean-field",
                     encoder_scale: float = 1.0, encoder_shift: float = 0.0, condition_number: float | None = None,
                     noise_min: float = 0.1, noise_max: float = 1.0, isotropic: bool = False) -> Any:
    from vaebench.models.linear_gaussian import LinearGaussian

    if noise_max < noise_min:
        raise ValueError(f"model option noise_max must be >= noise_min, got noise_min={noise_min}, "
                         f"noise_max={noise_max}")
    model = LinearGaussian.random(data_dim, latent_dim, seed=seed, isotropic=isotropic,
                                  condition_number=condition_number, noise_range=(noise_min, noise_max))
    return model.with_encoder(encoder, scale=encoder_scale, shift=encoder_shift)


def _ppca(**options: Any) -> Any:
    return _linear_gaussian(isotropic=True, **options)


def _iwae_init(*, seed: int = 0) -> Any:
    """The IWAE architecture at a seeded initialisation, on seeded binary data (no truth)."""
    import torch

    from vaebench.models.vae import VAE

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = VAE("iwae").eval().requires_grad_(False)
    return _WithData(model, seed)


class _WithData:
    """A model and seeded synthetic evaluation data for it (for throughput, without truth)."""

    def __init__(self, model: Any, seed: int) -> None:
        self.model, self.seed = model, seed

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["model"], name)

    @property
    def prior(self) -> Any:
        return self.model.prior

    def log_likelihood(self, x: Any, z: Any) -> Any:
        return self.model.log_likelihood(x, z)

    def proposal(self, x: Any) -> Any:
        return self.model.proposal(x)

    def to(self, dtype: Any = None, device: Any = None) -> "_WithData":
        import copy

        return _WithData(copy.deepcopy(self.model).to(device=device, dtype=dtype), self.seed)

    def evaluation_data(self, num_points: int) -> Any:
        import torch

        g = torch.Generator().manual_seed(self.seed)
        return (torch.rand(num_points, self.model.data_dim, generator=g) < 0.3).double()


def _trained(preset: str) -> Callable[..., Any]:
    def build(*, epochs: int | None = None, quadrature_tol: float = 1e-4) -> Any:
        from vaebench.training.presets import pretrained  # training sits above models: imported on use

        return pretrained(preset, epochs=epochs, quadrature_tol=quadrature_tol)

    return build


_SEED = Option("seed", int, 0, "seed of the random parameters", minimum=0)
_LINEAR_OPTIONS = (
    Option("data_dim", int, 20, "D, the data dimension", minimum=1),
    Option("latent_dim", int, 5, "d, the latent dimension", minimum=1),
    _SEED,
    Option("encoder", str, "mean-field", "q(z|x): the exact posterior, the KL-optimal mean-field q, or the prior",
           choices=("exact", "mean-field", "prior")),
    Option("encoder_scale", float, 1.0, "multiplies q's standard deviations", minimum=1e-6),
    Option("encoder_shift", float, 0.0, "moves q's mean, in posterior standard deviations"),
    Option("condition_number", float, None, "spread W's singular values geometrically over this ratio", minimum=1.0,
           maximum=1e8),
    Option("noise_min", float, 0.1, "smallest noise variance (log-uniform)", minimum=1e-12),
    Option("noise_max", float, 1.0, "largest noise variance (log-uniform)", minimum=1e-12),
)
_TRAINED_OPTIONS = (
    Option("epochs", int, None, "maximum training epochs (default: the preset's)", minimum=1),
    Option("quadrature_tol", float, 1e-4, "error bound of the quadrature truth, in nats", minimum=1e-12),
)

BUILTIN_MODELS = (
    ModelSpec("linear-gaussian", _linear_gaussian, _LINEAR_OPTIONS, "exact",
              "factor analysis with random W, b, diagonal Ψ (exact log p(x))"),
    ModelSpec("ppca", _ppca, _LINEAR_OPTIONS, "exact",
              "probabilistic PCA: factor analysis with isotropic noise (exact log p(x))"),
    ModelSpec("mnist-2d", _trained("mnist-2d"), _TRAINED_OPTIONS, "quadrature",
              "trained VAE 784-200-200-2 on binarized MNIST: exact log p(x) by quadrature", data="binarized-mnist"),
    ModelSpec("synthetic-2d", _trained("synthetic-2d"), _TRAINED_OPTIONS, "quadrature",
              "trained 2-D latent VAE on the synthetic-2d data: exact log p(x) by quadrature", data="synthetic-2d"),
    ModelSpec("iwae-init", _iwae_init, (_SEED,), "none",
              "the IWAE architecture (784-200-200-50) at a seeded initialisation on seeded binary data: "
              "throughput only, no truth"),
)

"""The model every adapter returns: a `LatentModel` over flattened data, built from an encoder and a decoder.

An adapter says three things about a user's model: how to get q(z|x) from the encoder, how to get
the decoder's output for latent rows, and what that output means (a `Likelihood`). `AdaptedModel`
does the rest the same way for every source: data ``[B, D]`` flattened from the model's data shape,
decoders called on ``[K·B, d]`` and reshaped back to ``[K, B]``, the modules' dtype and device,
``.to()`` on a copy, ancestral sampling for BDMC, and `prepare` for the data a user has at hand
(image-shaped, uint8, numpy).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from vaebench.adapters.likelihoods import Likelihood

__all__ = ["AdaptedModel", "standard_normal_prior", "gaussian_posterior"]


def standard_normal_prior(latent_dim: int, like: Tensor) -> Distribution:
    """N(0, I_d) in ``like``'s dtype and device."""
    zero = torch.zeros(latent_dim, dtype=like.dtype, device=like.device)
    return Independent(Normal(zero, torch.ones_like(zero), validate_args=False), 1, validate_args=False)


def gaussian_posterior(mean: Tensor, second: Tensor, form: str) -> Distribution:
    """A diagonal Gaussian q(z|x) from an encoder's (mean, second) pair, with batch shape ``[B]``.

    ``form``: ``"mean_logvar"`` (second = log σ², pythae's ``log_covariance``), ``"mean_log_scale"``
    (log σ) or ``"mean_scale"`` (σ).
    """
    if form == "mean_logvar":
        scale = torch.exp(0.5 * second)
    elif form == "mean_log_scale":
        scale = torch.exp(second)
    elif form == "mean_scale":
        if bool((second <= 0).any()):
            raise ValueError("encoder_output='mean_scale': the encoder returned a scale <= 0; if it returns a log-"
                             "variance, pass encoder_output='mean_logvar'")
        scale = second
    else:
        raise ValueError(f"encoder_output must be 'mean_logvar', 'mean_log_scale' or 'mean_scale', got {form!r}")
    return Independent(Normal(mean, scale, validate_args=False), 1, validate_args=False)


def _reference_tensor(modules: list[nn.Module]) -> Tensor:
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                return tensor
    return torch.zeros(())


class AdaptedModel:
    """A user's encoder/decoder pair seen as a vaebench `LatentModel` (prior, log_likelihood, proposal).

    Built by `vaebench.adapters.from_modules`, `from_pythae` or `from_pyro`, not directly.

    Parameters
    ----------
    modules : dict of str to nn.Module
        The modules the model is made of (their parameters give dtype, device and the checksum).
    encode : callable
        ``encode(x_shaped [B, *data_shape]) -> q(z|x)``, a Distribution with batch shape ``[B]``, or None.
    decode : callable
        ``decode(z [N, d]) -> output`` for the likelihood (a tensor ``[N, ...]`` or a Distribution).
    likelihood : Likelihood
    latent_dim : int
    data_shape : tuple of int or None
        The shape of one data point as the encoder takes it (``(1, 28, 28)``); None: flat ``(D,)``.
    prior : Distribution or callable, optional
        p(z); a callable ``prior(like) -> Distribution`` is rebuilt in the working dtype and device.
        Default N(0, I).
    source : str
        Where the model came from, for reports (``"torch modules"``, ``"pythae VAE"`` ...).
    conventions : dict
        Conventions recorded with every number (likelihood, what the encoder returns, ...).
    rebuild : callable, optional
        ``rebuild(modules) -> AdaptedModel``: the same adapter around other modules (what ``to()``
        calls with moved copies; the encode/decode closures refer to the modules they were built with).
        None: the model cannot be moved.

    Notes
    -----
    The modules are put in eval mode (dropout off, batch-norm running statistics): an estimate of
    log p(x) is of the model, not of one of its random sub-networks. ``to()`` returns a moved copy and
    leaves the user's modules as they are.
    """

    def __init__(self, *, modules: dict[str, nn.Module], encode: Callable[[Tensor], Distribution] | None,
                 decode: Callable[[Tensor], Any], likelihood: Likelihood, latent_dim: int,
                 data_shape: tuple[int, ...] | None = None, prior: Distribution | Callable[[Tensor], Distribution]
                 | None = None, source: str = "torch modules", conventions: dict[str, str] | None = None,
                 rebuild: Callable[[dict[str, nn.Module]], "AdaptedModel"] | None = None) -> None:
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ValueError(f"latent_dim must be an integer >= 1, got {latent_dim!r}")
        self.modules = dict(modules)
        for module in self.modules.values():
            module.eval()
        self._encode, self._decode = encode, decode
        self.likelihood = likelihood
        self.latent_dim = latent_dim
        self.data_shape = None if data_shape is None else tuple(int(s) for s in data_shape)
        self._prior = prior
        self.source = source
        self.conventions = {"source": source, "likelihood": likelihood.convention, **(conventions or {})}
        self._rebuild = rebuild

    # -- the LatentModel contract ------------------------------------------------------------------
    def _reference(self) -> Tensor:
        """A tensor in the working dtype and device: the modules' first, else a fixed prior's mean."""
        if not self.modules and isinstance(self._prior, Distribution):
            return self._prior.mean
        return _reference_tensor(list(self.modules.values()))

    @property
    def dtype(self) -> torch.dtype:
        return self._reference().dtype

    @property
    def device(self) -> torch.device:
        return self._reference().device

    @property
    def data_dim(self) -> int | None:
        return None if self.data_shape is None else math.prod(self.data_shape)

    @property
    def prior(self) -> Distribution:
        """p(z), in the modules' dtype and device."""
        like = self._reference()
        if self._prior is None:
            return standard_normal_prior(self.latent_dim, like)
        if isinstance(self._prior, Distribution):
            return self._prior
        return self._prior(like)

    def _shaped(self, x: Tensor) -> Tensor:
        return x if self.data_shape is None else x.reshape(x.shape[0], *self.data_shape)

    def proposal(self, x: Tensor) -> Distribution:
        """q(z|x) from the encoder, batch shape ``[B]``; the encoder sees x ``[B, *data_shape]``."""
        if self._encode is None:
            raise AttributeError(f"this {self.source} model has no encoder")
        shaped = self._shaped(x)
        try:
            return self._encode(shaped)
        except RuntimeError as exc:
            hint = ("; if it takes images, pass data_shape=(C, H, W) to the adapter" if self.data_shape is None
                    else "")
            raise RuntimeError(f"the encoder failed on x of shape {list(shaped.shape)}: {exc}{hint}") from exc

    def _decode_rows(self, z: Tensor) -> tuple[Any, torch.Size]:
        """The decoder on ``z`` ``[K, B, d]`` (any leading shape), called on ``[K·B, d]`` rows."""
        lead = z.shape[:-1]
        return self._decode(z.reshape(-1, z.shape[-1])), lead

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z), ``[K, B]`` for x ``[B, D]`` and z ``[K, B, d]``: the decoder sees ``[K·B, d]``."""
        out, lead = self._decode_rows(z)
        n = math.prod(lead)
        if isinstance(out, Tensor):
            if out.shape[0] != n or out.numel() != n * x.shape[-1]:
                raise ValueError(f"the decoder returned shape {list(out.shape)} for z of shape [{n}, {z.shape[-1]}] "
                                 f"(the K·B = {n} latent rows); expected [{n}, ...] with {x.shape[-1]} values per "
                                 f"row, as x [B, {x.shape[-1]}] has")
            out = out.reshape(*lead, x.shape[-1])
        if self.likelihood.broadcasts and isinstance(out, Tensor):
            value = self.likelihood.log_prob(x, out)  # x [B, D] against out [K, B, D]: no copy of x per sample
        else:
            rows = x.expand(*lead, x.shape[-1]).reshape(n, x.shape[-1])
            value = self.likelihood.log_prob(rows, out.reshape(n, -1) if isinstance(out, Tensor) else out)
        if not isinstance(value, Tensor) or value.numel() != n:
            got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise ValueError(f"likelihood {self.likelihood.name!r} gave {got} for {n} latent rows; expected [{n}]")
        return value.reshape(lead)

    # -- what adapters add -------------------------------------------------------------------------
    def to(self, dtype: Any = None, device: Any = None) -> "AdaptedModel":
        """A copy moved to ``dtype`` and ``device`` (either may be None; a device may come first); the model
        itself where nothing would change. The user's modules are left as they are."""
        if isinstance(dtype, (str, torch.device)):
            dtype, device = device, dtype
        same = (dtype is None or dtype == self.dtype) and (device is None or torch.device(device) == self.device)
        if same:
            return self
        if self._rebuild is None:
            raise ValueError(f"this {self.source} model cannot be moved by vaebench: move its modules to "
                             f"{dtype or self.dtype} on {device or self.device} and build the adapter again")
        if isinstance(self._prior, Distribution):
            raise ValueError("this model's prior is a fixed Distribution and cannot be moved; pass prior= as a "
                             "callable prior(like) -> Distribution that builds it in like's dtype and device")
        moved = self._rebuild({name: copy.deepcopy(m).to(device=device, dtype=dtype) for name, m in self.modules.items()})
        moved.data_shape = self.data_shape
        moved.conventions = dict(self.conventions)
        return moved

    def __deepcopy__(self, memo: dict) -> "AdaptedModel":
        # The encode/decode closures refer to the modules they were built with: a copy must be rebuilt
        # around copied modules, or it would share (and let a caller mutate) the original's.
        if self._rebuild is None:
            raise TypeError(f"this {self.source} model cannot be copied by vaebench (its functions hold the modules)")
        copied = self._rebuild({name: copy.deepcopy(m, memo) for name, m in self.modules.items()})
        copied.data_shape, copied.conventions = self.data_shape, dict(self.conventions)
        return copied

    @torch.no_grad()
    def sample(self, num: int, *, generator: torch.Generator | None = None,
               return_latents: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Ancestral samples z ~ p(z), x ~ p(x|z): ``[num, D]`` (and z ``[num, d]``), for BDMC."""
        from vaebench.sampling import resolve_generator, sample

        if self.likelihood.sample is None:
            raise ValueError(f"cannot simulate from a model with likelihood {self.likelihood.name!r} (no sampler): "
                             "BDMC needs data drawn from the model")
        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ValueError(f"num must be an integer >= 1, got {num!r}")
        g = resolve_generator(generator, self.device)
        z = sample(self.prior, (num,), g)
        out, _ = self._decode_rows(z)
        x = self.likelihood.sample(out, g)
        x = x.reshape(num, -1)
        return (x, z) if return_latents else x

    def state_tensors(self) -> dict[str, Tensor]:
        """Every parameter and buffer, by qualified name (what the model's checksum covers)."""
        return {f"{name}.{key}": value for name, module in sorted(self.modules.items())
                for key, value in module.state_dict().items()}

    def prepare(self, x: Any) -> Tensor:
        """Data as the estimators take it: ``[B, D]`` in the model's dtype and device.

        Accepts a tensor or numpy array of shape ``[B, D]`` or ``[B, *shape]`` (flattened; the shape is
        recorded in ``conventions``), float, integer or bool; Bernoulli
        likelihoods need values in [0, 1] (a uint8 image of 0-255 is refused: binarize it first).
        """
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(x)
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor or numpy array of shape [B, D] or [B, *data_shape], got "
                            f"{type(x).__name__}")
        if x.dim() < 2 or x.shape[0] == 0:
            raise ValueError(f"x must have shape [B, D] or [B, *data_shape] with B >= 1, got {list(x.shape)}")
        point = tuple(x.shape[1:])
        if len(point) > 1:
            self.conventions["data_shape"] = "x".join(map(str, point)) + " (flattened to [B, D])"
        if self.data_shape is not None and math.prod(point) != math.prod(self.data_shape):
            raise ValueError(f"x has points of shape {list(point)} but this model takes {list(self.data_shape)} "
                             f"({math.prod(self.data_shape)} values per point)")
        flat = x.reshape(x.shape[0], -1)
        if not flat.is_floating_point():
            flat = flat.to(torch.int64)
        if self.likelihood.needs_unit_interval:
            low, high = float(flat.min()), float(flat.max())
            if low < 0 or high > 1:
                raise ValueError(f"x holds values in [{low:g}, {high:g}] but the likelihood is Bernoulli (values in "
                                 "[0, 1]); binarize the data first (e.g. x = (x > 127).float() for uint8 images, or "
                                 "torch.bernoulli(x / 255.) for a dynamic binarization)")
        return flat.to(dtype=self.dtype, device=self.device)

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.data_shape)) if self.data_shape else "D"
        return f"AdaptedModel({self.source}: data {shape}, latent {self.latent_dim}, {self.likelihood.name})"

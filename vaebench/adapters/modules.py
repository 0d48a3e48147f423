"""Plain torch modules in: ``from_modules(encoder, decoder, likelihood=...)`` -> a vaebench `LatentModel`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.distributions import Distribution, Independent

from vaebench.adapters.base import AdaptedModel, gaussian_posterior
from vaebench.adapters.likelihoods import resolve_likelihood

__all__ = ["from_modules", "ENCODER_OUTPUTS"]

ENCODER_OUTPUTS = {
    "mean_logvar": "(mean, log σ²) [B, d] each, or one tensor [B, 2d] split in that order",
    "mean_log_scale": "(mean, log σ)",
    "mean_scale": "(mean, σ)",
    "distribution": "a torch Distribution over z with batch shape [B] (or [B, d] with event shape [])",
}


def _as_posterior(out: Any, form: str, batch: int, latent_dim: int) -> Distribution:
    """q(z|x) from whatever the encoder returned, or an error naming what it returned."""
    if isinstance(out, Distribution):
        if tuple(out.batch_shape) == (batch, latent_dim) and tuple(out.event_shape) == ():
            out = Independent(out, 1, validate_args=False)
        if tuple(out.batch_shape) != (batch,) or tuple(out.event_shape) != (latent_dim,):
            raise ValueError(f"the encoder returned a Distribution with batch shape {list(out.batch_shape)} and event "
                             f"shape {list(out.event_shape)} for {batch} points; expected batch [{batch}] and event "
                             f"[{latent_dim}]")
        return out
    if isinstance(out, Tensor) and out.dim() == 2 and out.shape[-1] == 2 * latent_dim:
        out = out.chunk(2, dim=-1)
    if not (isinstance(out, (tuple, list)) and len(out) >= 2 and all(isinstance(t, Tensor) for t in out[:2])):
        got = type(out).__name__ + (f" of shape {list(out.shape)}" if isinstance(out, Tensor) else "")
        raise TypeError(f"the encoder returned {got}; expected one of: {'; '.join(ENCODER_OUTPUTS.values())}")
    mean, second = out[0], out[1]
    for name, t in (("mean", mean), ("second output", second)):
        if tuple(t.shape) != (batch, latent_dim):
            raise ValueError(f"the encoder's {name} has shape {list(t.shape)} for {batch} points; expected "
                             f"[{batch}, {latent_dim}] (latent_dim = {latent_dim})")
    return gaussian_posterior(mean, second, form)


def from_modules(encoder: nn.Module | None, decoder: nn.Module, *, likelihood: str | Callable[..., Tensor],
                 latent_dim: int, prior: Distribution | Callable[[Tensor], Distribution] | None = None,
                 encoder_output: str = "mean_logvar", sigma: Any = None,
                 data_shape: tuple[int, ...] | None = None) -> AdaptedModel:
    """A vaebench model from a trained encoder and decoder.

    Parameters
    ----------
    encoder : nn.Module or None
        Takes x ``[B, *data_shape]`` and returns q(z|x) in the form ``encoder_output`` names. None
        for a decoder-only model (the prior and AIS from the prior still work).
    decoder : nn.Module
        Takes z ``[N, d]`` (always two-dimensional: the K·B latent rows of an estimate) and returns
        the likelihood's parameters ``[N, D]`` or ``[N, *data_shape]``, or a torch Distribution.
    likelihood : str or callable
        ``"bernoulli-logits"``, ``"bernoulli-probs"`` (clamped as torch's BCE), ``"gaussian"``
        (with ``sigma``), ``"distribution"`` (the decoder returns one), or a function
        ``f(decoder_output, x) -> log p(x|z) [N]`` (x ``[N, D]``, flattened).
    latent_dim : int
        d.
    prior : Distribution or callable, optional
        p(z), event shape ``[d]``; default N(0, I). A callable ``prior(like)`` is rebuilt in
        ``like``'s dtype and device, so the model can be moved with ``.to()``.
    encoder_output : str
        How to read the encoder's output: one of `ENCODER_OUTPUTS`.
    sigma : float, tensor or callable
        The Gaussian decoder's standard deviation (``likelihood="gaussian"``); a callable (e.g.
        ``lambda: decoder.log_sigma.exp()``) for a learned one.
    data_shape : tuple of int, optional
        The shape one data point has for the encoder, e.g. ``(1, 28, 28)``; by default the shape of
        the data first given to ``prepare``, else flat.

    Returns
    -------
    AdaptedModel
        A `LatentModel` with ``proposal``; ``model.prepare(x)`` flattens and converts data.

    Examples
    --------
    >>> model = vb.adapters.from_modules(enc, dec, likelihood="bernoulli-logits", latent_dim=16)
    >>> vb.get_estimator("importance")(model, model.prepare(x_test), 1000).log_px.mean()
    """
    if not isinstance(decoder, nn.Module) or (encoder is not None and not isinstance(encoder, nn.Module)):
        bad = "decoder" if not isinstance(decoder, nn.Module) else "encoder"
        raise TypeError(f"{bad} must be a torch.nn.Module, got {type(decoder if bad == 'decoder' else encoder).__name__}")
    if encoder_output not in ENCODER_OUTPUTS:
        from vaebench.validation import unknown_name_message

        raise ValueError(unknown_name_message("encoder_output", encoder_output, list(ENCODER_OUTPUTS)))
    lik = resolve_likelihood(likelihood, sigma)
    form = "mean_logvar" if encoder_output == "distribution" else encoder_output

    def encode(x: Tensor) -> Distribution:
        return _as_posterior(encoder(x), form, x.shape[0], latent_dim)

    def rebuild(modules: dict[str, nn.Module]) -> AdaptedModel:
        return from_modules(modules.get("encoder"), modules["decoder"], likelihood=likelihood, latent_dim=latent_dim,
                            prior=prior, encoder_output=encoder_output, sigma=sigma, data_shape=data_shape)

    modules = {"decoder": decoder, **({"encoder": encoder} if encoder is not None else {})}
    return AdaptedModel(modules=modules, encode=encode if encoder is not None else None, decode=decoder,
                        likelihood=lik, latent_dim=latent_dim, data_shape=data_shape, prior=prior,
                        source="torch modules", rebuild=rebuild,
                        conventions={"encoder_output": ENCODER_OUTPUTS[encoder_output]} if encoder else {})

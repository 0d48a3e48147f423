"""pythae models in: ``from_pythae(model)`` -> a vaebench `LatentModel` (pythae is an optional extra).

pythae's conventions, read from its source (pythae 0.1.2, ``models/vae/vae_model.py``) and kept
here so that vaebench's numbers are those of the model pythae trained:

- the encoder returns ``embedding`` (the mean of q(z|x)) and ``log_covariance`` (log σ², diagonal);
- the prior is N(0, I) for the VAE family;
- the decoder returns ``reconstruction``, *probabilities* for ``reconstruction_loss="bce"`` (its
  default MLP ends in a sigmoid), the mean of N(μ, I) for ``"mse"``;
- ``"bce"``: log p(x|z) = −BCE(p, x), each log clamped at −100 by torch's binary_cross_entropy;
  ``"mse"``: log p(x|z) = −½‖x − μ‖² − (D/2) log 2π (what ``get_nll`` uses);
- decoders take z ``[N, d]`` only, and data keeps the model's ``input_dim`` (e.g. ``(1, 28, 28)``).
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.distributions import Distribution

from vaebench.adapters.base import AdaptedModel, gaussian_posterior
from vaebench.adapters.likelihoods import resolve_likelihood

__all__ = ["from_pythae", "SUPPORTED"]

# Models whose p(x, z) is N(0, I) · p(x|z) and whose q is pythae's diagonal Gaussian encoder; they
# differ from the VAE in their training objective only.
SUPPORTED = ("VAE", "IWAE", "BetaVAE", "BetaTCVAE", "DisentangledBetaVAE", "FactorVAE", "INFOVAE_MMD", "MIWAE",
             "PIWAE", "CIWAE")
_WHY_NOT = {
    "VAMP": "its prior is a VampPrior (a mixture over pseudo-inputs), not N(0, I)",
    "VAE_IAF": "its q(z|x) is a normalising flow, not the encoder's Gaussian",
    "VAE_LinNF": "its q(z|x) is a normalising flow, not the encoder's Gaussian",
    "HVAE": "its q is defined through Hamiltonian dynamics",
    "RHVAE": "its q and prior are Riemannian-Hamiltonian",
    "SVAE": "its latent lives on a hypersphere (von Mises-Fisher)",
    "PoincareVAE": "its latent lives on a Poincaré ball",
    "VQVAE": "it has a discrete codebook, no continuous latent density",
    "MSSSIM_VAE": "its reconstruction loss (MS-SSIM) is not a likelihood",
    "VAEGAN": "its reconstruction loss is a discriminator feature distance, not a likelihood",
}

_LIKELIHOOD = {"bce": "bernoulli-probs", "mse": "gaussian"}


def from_pythae(model: nn.Module) -> AdaptedModel:
    """A vaebench model from a trained pythae model of the VAE family (`SUPPORTED`).

    Parameters
    ----------
    model : pythae.models.BaseAE
        E.g. ``pythae.models.VAE``, ``IWAE`` or ``BetaVAE``, trained with ``reconstruction_loss``
        ``"bce"`` or ``"mse"``.

    Returns
    -------
    AdaptedModel
        Data ``[B, D]`` (``model.prepare(x)`` flattens ``[B, *input_dim]`` images), q(z|x) from
        the encoder, the likelihood of the model's reconstruction loss (module docstring).

    Raises
    ------
    TypeError
        For a model that is not of pythae's VAE family, naming why (``VAMP``: its prior, ...).
    """
    kind = type(model).__name__
    if kind not in SUPPORTED:
        why = _WHY_NOT.get(kind, "it is not one of pythae's VAE family with an N(0, I) prior and a Gaussian encoder")
        raise TypeError(f"from_pythae does not support {kind}: {why}. Supported: {', '.join(SUPPORTED)}; for other "
                        "models write a LatentModel (prior, log_likelihood, proposal) or use from_modules")
    config = getattr(model, "model_config", None)
    loss = getattr(config, "reconstruction_loss", None)
    if loss not in _LIKELIHOOD:
        raise ValueError(f"from_pythae: {kind} has reconstruction_loss {loss!r}; supported: 'bce' (Bernoulli on "
                         "probabilities) and 'mse' (Gaussian with unit variance)")
    input_dim = tuple(int(s) for s in model.input_dim)
    latent_dim = int(model.latent_dim)
    likelihood = resolve_likelihood(_LIKELIHOOD[loss], sigma=1.0)

    def encode(x: Tensor) -> Distribution:
        out = model.encoder(x)
        return gaussian_posterior(out["embedding"], out["log_covariance"], "mean_logvar")

    def decode(z: Tensor) -> Tensor:
        return model.decoder(z)["reconstruction"]

    def rebuild(modules: dict[str, nn.Module]) -> AdaptedModel:
        return from_pythae(modules["model"])

    return AdaptedModel(
        modules={"model": model}, encode=encode, decode=decode, likelihood=likelihood, latent_dim=latent_dim,
        data_shape=input_dim, source=f"pythae {kind}", rebuild=rebuild,
        conventions={"encoder_output": "pythae: embedding = mean, log_covariance = log σ² (diagonal)",
                     "pythae_reconstruction_loss": loss, "prior": "N(0, I)"})


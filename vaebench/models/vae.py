"""A variational autoencoder: MLP encoder q(z|x) (diagonal Gaussian) and MLP decoder p(x|z)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal

__all__ = ["VAE", "VAEConfig", "ARCHITECTURES"]

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "softplus": nn.Softplus}


@dataclass(frozen=True)
class VAEConfig:
    """Architecture of a `VAE`.

    Attributes
    ----------
    data_dim, latent_dim : int
        D and d.
    hidden : tuple of int
        Widths of the encoder's hidden layers; the decoder mirrors them.
    activation : {"tanh", "relu", "softplus"}
    likelihood : {"bernoulli", "gaussian"}
        p(x|z): Bernoulli logits, or a Gaussian with a learned per-pixel standard deviation.
    """

    data_dim: int
    latent_dim: int
    hidden: tuple[int, ...] = (200, 200)
    activation: str = "tanh"
    likelihood: str = "bernoulli"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(_ACTIVATIONS)}, got {self.activation!r}")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {self.likelihood!r}")
        if self.data_dim < 1 or self.latent_dim < 1 or any(h < 1 for h in self.hidden):
            raise ValueError(f"dimensions must be positive, got {self}")

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}


# The one-stochastic-layer architecture of Burda et al. (2016), Appendix C.
ARCHITECTURES = {"iwae": VAEConfig(784, 50, (200, 200), "tanh", "bernoulli")}


def _mlp(sizes: list[int], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A VAE that implements the `LatentModel` contract (prior, log_likelihood, proposal).

    Parameters
    ----------
    config : VAEConfig or str
        An architecture, or a name from `ARCHITECTURES` (``"iwae"``: 784-200-200-50, tanh,
        Bernoulli).

    References
    ----------
    Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. ICLR.
    Burda, Y., Grosse, R., & Salakhutdinov, R. (2016). Importance weighted autoencoders. ICLR.
    """

    def __init__(self, config: VAEConfig | str) -> None:
        super().__init__()
        if isinstance(config, str):
            if config not in ARCHITECTURES:
                raise ValueError(f"unknown architecture {config!r}; named ones: {list(ARCHITECTURES)}")
            config = ARCHITECTURES[config]
        self.config = config
        D, d, hidden = config.data_dim, config.latent_dim, list(config.hidden)
        self.encoder = _mlp([D, *hidden, 2 * d], config.activation)
        self.decoder = _mlp([d, *reversed(hidden), D], config.activation)
        if config.likelihood == "gaussian":
            self.log_sigma = nn.Parameter(torch.zeros(D))
        self.register_buffer("_zero", torch.zeros(d), persistent=False)

    @property
    def data_dim(self) -> int:
        return self.config.data_dim

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def prior(self) -> Distribution:
        """p(z) = N(0, I_d) on the module's device and dtype."""
        zero = self._zero
        return Independent(Normal(zero, torch.ones_like(zero), validate_args=False), 1, validate_args=False)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and standard deviation of q(z|x), each ``[B, d]``."""
        mean, log_std = self.encoder(x).chunk(2, dim=-1)
        return mean, torch.exp(log_std)

    def proposal(self, x: Tensor) -> Distribution:
        """q(z|x), a diagonal Gaussian with batch shape ``[B]``."""
        mean, std = self.encode(x)
        return Independent(Normal(mean, std, validate_args=False), 1, validate_args=False)

    def decoder_distribution(self, z: Tensor) -> Distribution:
        """p(x|z) for ``z`` ``[..., d]``: event shape ``[D]``."""
        out = self.decoder(z)
        if self.config.likelihood == "bernoulli":
            return Independent(Bernoulli(logits=out, validate_args=False), 1, validate_args=False)
        return Independent(Normal(out, torch.exp(self.log_sigma), validate_args=False), 1, validate_args=False)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z), ``[K, B]`` for ``x`` ``[B, D]`` and ``z`` ``[K, B, d]``.

        Bernoulli: Σ_j x_j l_j − softplus(l_j) for logits l = W h + c, written out (checked against
        `torch.distributions.Bernoulli` and scipy in tests/models/test_vae.py). The x·l term is
        taken on the last hidden layer, h · (Wᵀ x) + c · x, so nothing of size ``[K, B, D]`` but
        the logits and their softplus is ever formed (in the forward pass or in autograd's
        backward): torch's binary cross-entropy makes five elementwise passes over ``[K, B, D]`` on
        CUDA (benchmarks/kernel_profile.py), and a ``[K, B, D]`` product costs an AIS gradient a
        tenth of its time on a CPU (benchmarks/ais_transition.py).
        """
        if self.config.likelihood != "bernoulli":
            return self.decoder_distribution(z).log_prob(x)
        head = self.decoder[-1]
        hidden = self.decoder[:-1](z)  # [..., B, H]
        logits = head(hidden)
        x = x.to(logits.dtype)
        agree = (hidden * (x @ head.weight)).sum(-1) + x @ head.bias  # Σ_j x_j l_j = h · Wᵀx + c · x
        return agree - torch.nn.functional.softplus(logits).sum(-1)

    @torch.no_grad()
    def sample(self, num: int, *, generator: torch.Generator | None = None,
               return_latents: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Ancestral samples: z ~ N(0, I), x ~ p(x | z); ``[num, D]`` (and z ``[num, d]``).

        The latents are exact posterior samples for the data they generated, which is what reverse
        AIS (bidirectional Monte Carlo) starts from.
        """
        from vaebench.sampling import resolve_generator, sample

        if isinstance(num, bool) or not isinstance(num, int) or num < 1:
            raise ValueError(f"num must be an integer >= 1, got {num!r}")
        g = resolve_generator(generator, self.device)
        z = sample(self.prior, (num,), g)
        out = self.decoder(z)
        if self.config.likelihood == "bernoulli":
            u = torch.rand(out.shape, generator=g, dtype=out.dtype, device=out.device)
            x = (u < torch.sigmoid(out)).to(out.dtype)
        else:
            x = out + torch.exp(self.log_sigma) * torch.randn(out.shape, generator=g, dtype=out.dtype, device=out.device)
        return (x, z) if return_latents else x

    @property
    def dtype(self) -> torch.dtype:
        return self._zero.dtype

    @property
    def device(self) -> torch.device:
        return self._zero.device

    def extra_repr(self) -> str:
        c = self.config
        return f"D={c.data_dim}, d={c.latent_dim}, hidden={c.hidden}, {c.activation}, {c.likelihood}"

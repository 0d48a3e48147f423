"""Researchers' own models in: torch modules, pythae and Pyro models as vaebench `LatentModel`s.

Each adapter returns an `AdaptedModel`: data ``[B, D]`` (``model.prepare(x)`` flattens images and
converts dtypes), ``prior``, ``log_likelihood(x, z)`` with the decoder called on ``[K·B, d]`` rows,
``proposal(x)`` from the encoder, ``sample`` for BDMC, ``to()`` on a copy, and ``conventions`` (the
likelihood and encoder conventions every reported number is computed under).

- `from_modules(encoder, decoder, likelihood=..., latent_dim=...)`: plain ``nn.Module`` s.
- `from_pythae(model)`: pythae's VAE family (optional extra ``vaebench[pythae]``).
- `from_pyro(model, guide, latent="z", obs="x")`: a Pyro model and guide (extra ``vaebench[pyro]``).
"""

from vaebench.adapters.base import AdaptedModel
from vaebench.adapters.likelihoods import LIKELIHOODS, Likelihood
from vaebench.adapters.modules import ENCODER_OUTPUTS, from_modules
from vaebench.adapters.pyro import from_pyro
from vaebench.adapters.pythae import from_pythae

__all__ = ["AdaptedModel", "ENCODER_OUTPUTS", "LIKELIHOODS", "Likelihood", "from_modules", "from_pyro", "from_pythae"]

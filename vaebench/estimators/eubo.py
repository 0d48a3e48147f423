"""The evidence upper bound (EUBO): the mean log weight under exact posterior samples."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators.posterior_draws import POSTERIOR_DRAWS, check_posterior_draws, likelihood_chunks
from vaebench.estimators.streaming import CHUNK_SIZE, PROPOSAL, model_proposal
from vaebench.ops import StreamingMoments

__all__ = ["estimate", "SPEC"]


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    posterior_samples: Tensor | None = None,
    proposal: Distribution | None = None,
    chunk_size: int | None = None,
) -> Estimate:
    """EUBÔ = (1/K) Σ_k log (p(x, z_k) / q(z_k | x)), z_k ~ p(z | x) exact posterior samples.

    Its expectation is log p(x) + KL(p(z | x) ‖ q(z | x)) >= log p(x) at every K (the mirror image of
    the ELBO, with the divergence the other way round); it is not consistent: it converges to the
    EUBO, not to log p(x), unless q is the posterior (then every term is log p(x)). The stderr is the
    sample standard error of the K terms (none for one shared draw per point).

    Parameters
    ----------
    posterior_samples : Tensor
        Independent z ~ p(z | x), ``[K, B, d]`` in x's dtype and device; or one draw per point
        ``[B, d]``, which gives the estimate of that one draw.
    proposal : Distribution, optional
        q(z | x) in place of the encoder.
    chunk_size : int, optional
        Samples per likelihood call.

    References
    ----------
    Ji, C., & Shen, H. (2019). Stochastic variational inference via upper bound. arXiv:1912.00650.
    """
    shared = posterior_samples is not None and posterior_samples.dim() == 2
    z = check_posterior_draws(posterior_samples, x, num_samples, model.prior.event_shape.numel())
    q = model_proposal(model, x, proposal)
    moments = StreamingMoments()
    start = 0
    for log_lik in likelihood_chunks(model, x, z, chunk_size):
        part = z[start: start + log_lik.shape[0]]
        moments.update(log_lik + model.prior.log_prob(part) - q.log_prob(part))
        start += log_lik.shape[0]
    # One shared draw per point: the K terms are copies, and their spread says nothing of the estimate's.
    stderr = None if shared else moments.stderr().to(x.dtype)
    return Estimate(log_px=moments.mean().to(x.dtype), stderr=stderr, num_samples=num_samples)


SPEC = EstimatorSpec(
    name="eubo",
    estimate=estimate,
    tags=EstimatorTags(upper_bound=True, needs_proposal=True, needs_exact_posterior=True, exact_at_posterior=True),
    description="Evidence upper bound: mean log weight over exact posterior draws, log p(x) + KL(p(z|x) ‖ q) in "
                "expectation; an upper bound at every K, not consistent",
    options=(POSTERIOR_DRAWS, PROPOSAL, CHUNK_SIZE),
)

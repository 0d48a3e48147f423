"""The χ upper bound (CUBO_n): an upper bound on log p(x) in the limit K → ∞ whose estimates are biased low."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators.renyi import tempered_log_mean
from vaebench.estimators.streaming import CHUNK_SIZE, PROPOSAL, model_proposal
from vaebench.options import Option

__all__ = ["estimate", "SPEC", "ORDER"]

ORDER = Option("order", float, 2.0, "n of CUBO_n = (1/n) log E_q[w^n], in [1, 2] (2: the χ² bound; 1: the IWAE bound)",
               minimum=1.0, maximum=2.0, kit_values=(1.5,), domain=(1.0, 2.0))


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    proposal: Distribution | None = None,
    chunk_size: int | None = None,
    order: float = 2.0,
) -> Estimate:
    """CUBÔ_n = (1/n) · log (1/K) Σ_k (p(x, z_k) / q(z_k | x))^n, z_k ~ q(z | x).

    Its limit CUBO_n = (1/n) log E_q[w^n] is at least log p(x) for n >= 1 (Jensen), and for n = 2
    equals log p(x) + ½ log(1 + χ²(p(z|x) ‖ q)) (Dieng et al., 2017). The Monte Carlo estimate is the
    log of a mean, so by Jensen again E[CUBÔ_n] < CUBO_n at finite K, and at small K it falls below
    log p(x) (at K = 1 it is log w, whose mean is the ELBO): an upper bound **only in the limit**. It is
    the variational Rényi bound with α = 1 − n. Its variance needs E_q[w^(2n)] < ∞, which fails for
    encoders narrower than the posterior; n is kept in [1, 2] here for that reason.

    Parameters
    ----------
    model, x, num_samples, generator, proposal, chunk_size
        As for `vaebench.estimators.importance.estimate`.
    order : float
        n in [1, 2].

    References
    ----------
    Dieng, A. B., Tran, D., Ranganath, R., Paisley, J., & Blei, D. M. (2017). Variational inference via
    χ upper bound minimization. NeurIPS.
    Li, Y., & Turner, R. E. (2016). Rényi divergence variational inference. NeurIPS.
    """
    if not 1 <= order <= 2:
        raise ValueError(f"order must be in [1, 2], got {order}")
    q = model_proposal(model, x, proposal)
    return tempered_log_mean(model, x, num_samples, order, proposal=q, generator=generator, chunk_size=chunk_size)


SPEC = EstimatorSpec(
    name="cubo",
    estimate=estimate,
    tags=EstimatorTags(upper_bound_in_limit=True, needs_proposal=True, exact_at_posterior=True, bounded_memory=True),
    description="χ upper bound CUBO_n (Dieng et al. 2017): above log p(x) only in the limit K → ∞; biased low at "
                "finite K (below log p(x) at small K)",
    options=(PROPOSAL, CHUNK_SIZE, ORDER),
    caution="an upper bound only in the limit: at small K its estimates fall below log p(x)",
)

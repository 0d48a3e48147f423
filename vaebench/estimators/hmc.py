"""The HMC kernel of annealed importance sampling and the pilot run that sets its step sizes.

A kernel moves chains ``[k, B, d]`` while leaving one tempered density f_β invariant; it sees the
annealing path only through ``path.evaluate(z)`` (a `ChainState`: A, H and their gradients) and,
for the pilot, ``path.draw_initial``, ``path.q0``, ``path.model`` and ``path.x``. A plug-in may pass
a kernel of its own with the `Transition` signature (``transition=``).

References
----------
Neal, R. M. (2011). MCMC using Hamiltonian dynamics. Handbook of Markov Chain Monte Carlo, ch. 5.
Beskos, A., Pillai, N., Roberts, G., Sanz-Serna, J.-M., & Stuart, A. (2013). Optimal tuning of the
hybrid Monte Carlo algorithm. Bernoulli, 19(5A), 1501-1534.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = ["ADAPT_RATE", "ChainState", "PILOT_CHAINS", "TARGET_ACCEPTANCE", "Transition", "hmc_transition",
           "initial_step_size", "pilot_step_sizes"]

PILOT_CHAINS = 4
TARGET_ACCEPTANCE = 0.65  # the usual HMC optimum (Neal, 2011; Beskos et al., 2013)
# log ε moves by this times (acceptance − target) after each pilot transition.
ADAPT_RATE = 1.0


@dataclass(frozen=True)
class ChainState:
    """Chains at one point of the path, ``[k, B, …]``: z, A(z), H(z) and their gradients (detached)."""

    z: Tensor
    a: Tensor
    h: Tensor
    grad_a: Tensor
    grad_h: Tensor

    def log_density(self, beta: float) -> Tensor:
        """log f_β(z) (unnormalised)."""
        return self.a + beta * self.h

    def grad(self, beta: float) -> Tensor:
        """∇_z log f_β(z)."""
        return self.grad_a + beta * self.grad_h

    def where(self, keep_new: Tensor, new: "ChainState") -> "ChainState":
        """Per chain: ``new`` where ``keep_new`` (``[k, B]``) is True, else self."""
        pick = keep_new.unsqueeze(-1)
        return ChainState(torch.where(pick, new.z, self.z), torch.where(keep_new, new.a, self.a),
                          torch.where(keep_new, new.h, self.h), torch.where(pick, new.grad_a, self.grad_a),
                          torch.where(pick, new.grad_h, self.grad_h))


Transition = Callable[[Any, ChainState, float, Tensor, int, torch.Generator], tuple[ChainState, Tensor]]


def hmc_transition(path: Any, state: ChainState, beta: float, step_size: Tensor, leapfrog_steps: int,
                   generator: torch.Generator) -> tuple[ChainState, Tensor]:
    """One HMC transition leaving f_β invariant: L leapfrog steps of size ``step_size`` (``[B]``,
    one per data point) with unit mass, then a Metropolis accept/reject.

    Returns the new state and the acceptance probability of each chain ``[k, B]``. A proposal
    whose energy is NaN or infinite is rejected.

    References
    ----------
    Neal, R. M. (2011). MCMC using Hamiltonian dynamics. Handbook of Markov Chain Monte Carlo, ch. 5.
    """
    z = state.z
    eps = step_size.to(z.dtype).unsqueeze(-1)  # [B, 1], broadcast over chains and latent dimensions
    momentum = torch.randn(z.shape, generator=generator, dtype=z.dtype, device=z.device)
    log_u = torch.rand(z.shape[:-1], generator=generator, dtype=z.dtype, device=z.device).log()
    p = momentum + 0.5 * eps * state.grad(beta)
    new = state
    for step in range(leapfrog_steps):
        new = path.evaluate(new.z + eps * p)
        p = p + (eps if step < leapfrog_steps - 1 else 0.5 * eps) * new.grad(beta)
    log_ratio = (new.log_density(beta) - 0.5 * (p * p).sum(-1)) - (state.log_density(beta)
                                                                    - 0.5 * (momentum * momentum).sum(-1))
    log_ratio = torch.nan_to_num(log_ratio, nan=-math.inf, posinf=-math.inf)  # inf energy ratio: a diverged step
    accept = log_u < log_ratio
    return state.where(accept, new), log_ratio.clamp(max=0.0).exp()


def initial_step_size(path: Any) -> Tensor:
    """Half the geometric-mean standard deviation of q0 per data point (0.5 where q0 has no stddev)."""
    dist = path.q0 if path.q0 is not None else path.model.prior
    batch = path.x.shape[0]
    try:
        sd = dist.stddev.double()
    except (NotImplementedError, AttributeError):
        return torch.full((batch,), 0.5, dtype=torch.float64, device=path.x.device)
    sd = sd.reshape(-1, sd.shape[-1]) if sd.dim() > 0 else sd.reshape(1, 1)
    scale = sd.clamp_min(1e-12).log().mean(-1).exp()
    return (0.5 * scale).expand(batch).clone() if scale.numel() == 1 else 0.5 * scale


def pilot_step_sizes(path: Any, betas: Tensor, leapfrog_steps: int, generator: torch.Generator,
                     transition: Transition = hmc_transition) -> Tensor:
    """Per-point step sizes ``[T − 1, B]`` adapted by a pilot run of `PILOT_CHAINS` forward chains.

    Starting from half of q0's scale, after each transition log ε += ADAPT_RATE · (ā − 0.65), ā
    being the pilot chains' mean acceptance probability at that point. The step size used at each
    temperature is returned and frozen: the real chains then run with kernels that do not depend on
    their own randomness, which keeps their weights unbiased.
    """
    eps = initial_step_size(path)
    sizes = torch.empty((betas.shape[0] - 2, path.x.shape[0]), dtype=torch.float64, device=path.x.device)
    if sizes.shape[0] == 0:
        return sizes
    state = path.evaluate(path.draw_initial(PILOT_CHAINS, generator)[0])
    for t in range(1, betas.shape[0] - 1):
        sizes[t - 1] = eps
        state, accept = transition(path, state, float(betas[t]), eps, leapfrog_steps, generator)
        eps = eps * torch.exp(ADAPT_RATE * (accept.double().mean(0) - TARGET_ACCEPTANCE))
    return sizes

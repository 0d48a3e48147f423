"""Tempered sequential Monte Carlo: AIS's path and kernels with the particles resampled at every temperature."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators.annealing import (
    INIT,
    LEAPFROG_STEPS,
    NUM_STEPS,
    SCHEDULE,
    STEP_SIZE,
    Annealing,
    make_annealing,
    prepare_chains,
)
from vaebench.estimators.hmc import ChainState
from vaebench.estimators.streaming import CHUNK_SIZE, PROPOSAL
from vaebench.ops import chunk_sizes

__all__ = ["estimate", "multinomial_resample", "SPEC"]


def multinomial_resample(log_w: Tensor, generator: torch.Generator) -> Tensor:
    """Ancestor indices ``[K, B]``: per data point b, K independent draws from Categorical(w[:, b] / Σ w[:, b])
    by the inverse CDF of K uniforms (so a point's draws use the same uniforms whatever the others' weights)."""
    k = log_w.shape[0]
    probs = torch.softmax(log_w.double(), 0)
    cdf = torch.cumsum(probs, 0).T.contiguous()  # [B, K]
    u = torch.rand(cdf.shape, generator=generator, dtype=torch.float64, device=log_w.device)
    return torch.searchsorted(cdf, u * cdf[:, -1:]).clamp(max=k - 1).T


def _gather(state: ChainState, ancestors: Tensor) -> ChainState:
    """The particles' states after resampling: particle k of point b takes the state of particle ancestors[k, b]."""
    pick = ancestors.unsqueeze(-1).expand_as(state.z)
    return ChainState(state.z.gather(0, pick), state.a.gather(0, ancestors), state.h.gather(0, ancestors),
                      state.grad_a.gather(0, pick), state.grad_h.gather(0, pick))


def _concat(states: list[ChainState]) -> ChainState:
    return ChainState(*(torch.cat([getattr(s, f) for s in states]) for f in ("z", "a", "h", "grad_a", "grad_h")))


def particle_filter(annealing: Annealing, num_particles: int, generator: torch.Generator | None,
                    resample: Any = multinomial_resample) -> Tensor:
    """log Ẑ ``[B]`` (float64) of tempered SMC with multinomial resampling at every intermediate temperature.

    z_0 ~ q0; at t = 1 … T the incremental weights (β_t − β_{t−1}) H(z_{t−1}) add log mean_k exp(·)
    to log Ẑ, the particles are resampled in proportion to them and (t < T) moved by the transition at
    β_t. Moves run ``annealing.chain_chunk`` particles at a time; resampling sees all K of a point.
    ``resample(log_w, generator) -> ancestors [K, B]`` is the resampling scheme (a plug-in may pass
    systematic or residual resampling; any scheme that draws ancestors in proportion to the weights
    keeps Ẑ unbiased).
    """
    path, betas = annealing.path, annealing.betas
    g, sizes = prepare_chains(annealing, generator)
    deltas = (betas[1:] - betas[:-1]).tolist()
    chunks = list(chunk_sizes(num_particles, annealing.chain_chunk))
    z, log_q0 = path.draw_initial(num_particles, g)
    if len(deltas) == 1:  # no intermediate temperature: importance sampling with q0
        h, start = [], 0
        for k in chunks:
            h.append(path.weight_terms(z[start: start + k], None if log_q0 is None else log_q0[start: start + k]))
            start += k
        h = torch.cat(h).double()
        return torch.logsumexp(h, 0) - math.log(num_particles)
    parts, start = [], 0
    for k in chunks:
        parts.append(path.evaluate(z[start: start + k]))
        start += k
    state = _concat(parts)
    log_z = torch.zeros(path.x.shape[0], dtype=torch.float64, device=path.x.device)
    for t in range(len(deltas)):
        increment = deltas[t] * state.h.double()
        log_z += torch.logsumexp(increment, 0) - math.log(num_particles)
        if t == len(deltas) - 1:
            break
        state = _gather(state, resample(increment, g))
        moved, start = [], 0
        for k in chunks:
            part = ChainState(state.z[start: start + k], state.a[start: start + k], state.h[start: start + k],
                              state.grad_a[start: start + k], state.grad_h[start: start + k])
            moved.append(annealing.transition(path, part, float(betas[t + 1]), sizes[t], annealing.leapfrog_steps, g)[0])
            start += k
        state = _concat(moved)
    return log_z


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    num_steps: int = 100,
    schedule: str = "sigmoid",
    leapfrog_steps: int = 10,
    step_size: float | None = None,
    init: str | None = None,
    proposal: Distribution | None = None,
    chunk_size: int | None = None,
) -> Estimate:
    """log Ẑ of a tempered SMC sampler with K particles per data point.

    The particles follow AIS's geometric path from q0 (the encoder, or the prior) to p(z | x) with the
    same HMC kernels and step sizes (`annealing`), but are resampled (multinomially, in proportion to
    their incremental weights) at every intermediate temperature, so that particles in regions of
    negligible weight are replaced by copies of better ones before they are moved. With a fixed
    schedule Ẑ is unbiased for p(x) (Del Moral, 2004; Del Moral, Doucet & Jasra, 2006), so log Ẑ is a
    stochastic lower bound; T = 1 is importance sampling with q0. Resampling couples a point's
    particles: all K are held at once (memory grows with K), moved a chunk at a time.

    Parameters
    ----------
    model : LatentModel
        ``log_likelihood`` differentiable in z.
    x : Tensor
        Data ``[B, D]``.
    num_samples : int
        K, the particles per data point.
    num_steps, schedule, leapfrog_steps, step_size, init, proposal, chunk_size
        As for `vaebench.estimators.ais.estimate` (``chunk_size``: particles per move).

    References
    ----------
    Del Moral, P., Doucet, A., & Jasra, A. (2006). Sequential Monte Carlo samplers. JRSS B, 68(3), 411-436.
    Del Moral, P. (2004). Feynman-Kac Formulae: Genealogical and Interacting Particle Systems. Springer.
    """
    annealing = make_annealing(model, x, num_steps=num_steps, schedule_kind=schedule, leapfrog_steps=leapfrog_steps,
                               step_size=step_size, init=init, proposal=proposal, chunk_size=chunk_size)
    return Estimate(particle_filter(annealing, num_samples, generator).to(x.dtype), num_samples=num_samples)


SPEC = EstimatorSpec(
    name="smc",
    estimate=estimate,
    tags=EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True, needs_grad=True,
                       exact_at_posterior=True),
    description="Tempered SMC (Del Moral et al. 2006): AIS's path and HMC kernels with multinomial resampling at every "
                "temperature; unbiased in p",
    options=(NUM_STEPS, SCHEDULE, LEAPFROG_STEPS, STEP_SIZE, INIT, PROPOSAL, CHUNK_SIZE),
    kit_options={"num_steps": 4, "leapfrog_steps": 2},
)

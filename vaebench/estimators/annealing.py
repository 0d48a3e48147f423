"""Annealed importance sampling: the path, the schedule, the options and the chain loops (the HMC
kernel and its step-size pilot are in `vaebench.estimators.hmc`).

Shared by `ais` (forward chains, a stochastic lower bound) and `reverse_ais` (chains started at
exact posterior samples, a stochastic upper bound); public so that a plug-in can anneal with a
kernel of its own (``transition=``).

The path between the initial distribution q0 (the encoder q(z|x), or the prior) and the
posterior is geometric,

    log f_β(z) = A(z) + β H(z),   A = log q0(z),   H = log p(x, z) − log q0(z),

for 0 = β_0 < β_1 < … < β_T = 1. A forward chain starts at z_0 ~ q0, adds (β_t − β_{t−1}) H(z_{t−1})
to its log weight and moves z_{t−1} → z_t with a kernel that leaves f_{β_t} invariant (no move after
the last increment), so E[w] = p(x) for every T (Neal, 2001). With T = 1 this is importance sampling
with q0. A reverse chain starts at an exact posterior sample z_T, adds −(β_t − β_{t−1}) H(z_t) and
moves with the same kernels in reverse order, so E[w_rev] = 1/p(x) and −log mean w_rev is a
stochastic upper bound on log p(x) (Grosse, Ghahramani & Adams, 2015).

The kernel is Hamiltonian Monte Carlo with L leapfrog steps and a Metropolis correction; its
gradients come from autograd through ``prior.log_prob`` and ``log_likelihood`` alone, so any model
of the `LatentModel` contract works. A transition costs L gradient evaluations: the gradient and
log density at the end of one transition are reused at the start of the next.

Step sizes are one per data point and temperature. By default they come from a *pilot*: a few
forward chains (`hmc.PILOT_CHAINS`) on a random stream of their own adapt a per-point step size
towards an acceptance rate of `hmc.TARGET_ACCEPTANCE` as β rises, and the step size used at each
temperature is then frozen for the real chains. The real chains' kernels thus depend only on the
pilot's randomness, never on their own states, and each is a valid AIS chain given the schedule:
the weights stay unbiased (adapting on the chains themselves, as eval_gen does, would not).

References
----------
Neal, R. M. (2001). Annealed importance sampling. Statistics and Computing, 11(2), 125-139.
Grosse, R. B., Ghahramani, Z., & Adams, R. P. (2015). Sandwiching the marginal likelihood using
bidirectional Monte Carlo. arXiv:1511.02543.
Wu, Y., Burda, Y., Salakhutdinov, R., & Grosse, R. (2017). On the quantitative analysis of
decoder-based generative models. ICLR.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.contract import model_name
from vaebench.estimators.hmc import ChainState, Transition, hmc_transition, pilot_step_sizes
from vaebench.options import Option
from vaebench.ops import chunk_sizes
from vaebench.sampling import fork_generator, resolve_generator, sample, sample_with_log_prob
from vaebench.validation import check_positive_int

__all__ = [
    "NUM_STEPS",
    "SCHEDULE",
    "LEAPFROG_STEPS",
    "STEP_SIZE",
    "INIT",
    "schedule",
    "Annealing",
    "make_annealing",
    "AnnealingPath",
    "forward_log_weights",
    "reverse_log_weights",
    "initial_distribution",
    "check_num_steps",
    "prepare_chains",
]

SCHEDULES = ("sigmoid", "linear")
# The sigmoid schedule of Grosse et al. (2015) and Wu et al. (2017): β̃_t = σ(δ (2t/T − 1)), rescaled
# to [0, 1]; it spends more temperatures near both ends, where f_β changes fastest.
SIGMOID_SHARPNESS = 4.0
# At most this many chains per chunk by default. A chunk keeps autograd's activations for L
# gradient evaluations at a time, so its rows set the peak memory; with the likelihood's rule alone
# (at least 2048 rows) a small batch would get 2048 / B chains per chunk and peak memory at K = 10⁴
# would be 2.6x that at K = 10² (B = 8, IWAE architecture; benchmarks/ais_transition.py).
MAX_CHAINS_PER_CHUNK = 128

NUM_STEPS = Option("num_steps", int, 100, "T, the number of annealing distributions (T = 1: importance sampling)",
                   minimum=1, kit_values=(1, 2, 8), domain=(1, 48))
SCHEDULE = Option("schedule", str, "sigmoid", "the inverse temperatures β_t: 'sigmoid' (Wu et al. 2017) or 'linear'",
                  choices=SCHEDULES)
LEAPFROG_STEPS = Option("leapfrog_steps", int, 10, "L, leapfrog steps per HMC transition", minimum=1,
                        kit_values=(1, 3), domain=(1, 4))
STEP_SIZE = Option("step_size", float, None,
                   "HMC step size for every temperature (default: per point and temperature, from a pilot run)",
                   minimum=1e-12, kit_values=(0.3,), domain=(0.02, 1.0))
INIT = Option("init", str, None,
              "the initial distribution: 'proposal' (the encoder, default where there is one) or 'prior'",
              choices=("proposal", "prior"))


def check_num_steps(num_steps: Any) -> int:
    """``num_steps`` as an int >= 1, or an error naming it (TypeError for a non-integer)."""
    return check_positive_int(num_steps, "num_steps", "an integer >= 1 (T, the number of annealing distributions)")


def schedule(num_steps: int, kind: str = "sigmoid") -> Tensor:
    """Inverse temperatures 0 = β_0 < β_1 < … < β_T = 1, float64 ``[T + 1]``.

    ``"linear"``: β_t = t / T. ``"sigmoid"``: β̃_t = σ(δ (2t/T − 1)) with δ = 4, rescaled so that
    β_0 = 0 and β_T = 1 (Grosse et al., 2015, §4; Wu et al., 2017).
    """
    num_steps = check_num_steps(num_steps)
    t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    if kind == "linear":
        beta = t
    elif kind == "sigmoid":
        s = torch.sigmoid(SIGMOID_SHARPNESS * (2 * t - 1))
        beta = (s - s[0]) / (s[-1] - s[0])
    else:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {kind!r}")
    beta[0], beta[-1] = 0.0, 1.0
    return beta


def initial_distribution(model: Any, x: Tensor, init: str | None, proposal: Distribution | None) -> Distribution | None:
    """q0: the proposal (``proposal=`` or the model's encoder) or None for the prior.

    ``init=None`` picks the proposal where there is one and the prior otherwise.
    """
    from vaebench.estimators.streaming import model_proposal

    has_encoder = proposal is not None or callable(getattr(model, "proposal", None))
    if init is None:
        init = "proposal" if has_encoder else "prior"
    if init == "prior":
        if proposal is not None:
            raise ValueError("init='prior' starts the chains from the prior, so proposal= would be ignored; "
                             "pass init='proposal' (or leave init unset) to start from proposal=")
        return None
    if init != "proposal":
        raise ValueError(f"init must be 'proposal' or 'prior', got {init!r}")
    if not has_encoder:
        raise ValueError(f"init='proposal' needs an encoder, but {model_name(model)} has no proposal(x) method; "
                         "pass init='prior', or proposal= a distribution over z with batch shape [B]")
    return model_proposal(model, x, proposal)


class AnnealingPath:
    """The geometric path log f_β = A + β H from q0 (None: the prior) to p(z | x) for data ``x``.

    `evaluate` gives A, H and their gradients in z by autograd, from the model's ``prior.log_prob``
    and ``log_likelihood`` (and q0's ``log_prob``): one backward pass through the likelihood.
    """

    def __init__(self, model: Any, x: Tensor, q0: Distribution | None) -> None:
        self.model, self.x, self.q0 = model, x, q0

    def weight_terms(self, z: Tensor, log_q0: Tensor | None = None) -> Tensor:
        """H(z) without gradients, in the order importance sampling adds its terms (so that T = 1
        reproduces it bit for bit): log p(z) − log q0(z) + log p(x | z), or log p(x | z) from the prior."""
        log_lik = self.model.log_likelihood(self.x, z)
        if self.q0 is None:
            return log_lik
        if log_q0 is None:
            log_q0 = self.q0.log_prob(z)
        return self.model.prior.log_prob(z) - log_q0 + log_lik

    def evaluate(self, z: Tensor) -> ChainState:
        """A, H and ∇A, ∇H at ``z`` ``[k, B, d]`` (detached)."""
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            log_lik = self.model.log_likelihood(self.x, z)
            if not log_lik.requires_grad:
                raise ValueError(
                    f"{model_name(self.model)}.log_likelihood(x, z) is not differentiable in z (its output "
                    "carries no autograd graph): AIS moves the chains with HMC, which needs ∇_z log p(x | z); "
                    "compute it with torch operations on z, or use an estimator without needs_grad")
            log_prior = self.model.prior.log_prob(z)
            if self.q0 is None:
                a, h = log_prior, log_lik
            else:
                a = self.q0.log_prob(z)
                h = log_prior - a + log_lik
            grad_a = torch.autograd.grad(a.sum(), z, retain_graph=True)[0]
            grad_h = torch.autograd.grad(h.sum(), z)[0]
        return ChainState(z.detach(), a.detach(), h.detach(), grad_a, grad_h)

    def draw_initial(self, chains: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
        """z_0 ~ q0 ``[chains, B, d]`` and log q0(z_0) from the reparameterisation noise (None from the prior)."""
        if self.q0 is None:
            return sample(self.model.prior, (chains, self.x.shape[0]), generator), None
        return sample_with_log_prob(self.q0, (chains,), generator)


@dataclass(frozen=True)
class Annealing:
    """What a chain loop needs: the path, the temperatures, the kernel and its settings."""

    path: AnnealingPath
    betas: Tensor
    leapfrog_steps: int
    step_size: float | None
    chain_chunk: int
    transition: Transition = hmc_transition


def make_annealing(model: Any, x: Tensor, *, num_steps: Any, schedule_kind: Any, leapfrog_steps: Any,
                   step_size: Any, init: Any, proposal: Distribution | None, chunk_size: Any,
                   transition: Transition = hmc_transition) -> Annealing:
    """Validate the AIS options (each error names its argument) and build the `Annealing` they describe.

    Chains are chunked like the likelihood (`streaming.resolve_chunk_size`), at most
    `MAX_CHAINS_PER_CHUNK` at a time: the largest intermediate, including what autograd keeps for
    the backward pass, is bounded whatever K is.
    """
    from vaebench.estimators.streaming import resolve_chunk_size

    num_steps = check_num_steps(num_steps)
    if schedule_kind not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule_kind!r}")
    leapfrog_steps = check_positive_int(leapfrog_steps, "leapfrog_steps", "an integer >= 1")
    if step_size is not None and (isinstance(step_size, bool) or not isinstance(step_size, (int, float))
                                  or not math.isfinite(step_size) or step_size <= 0):
        raise ValueError(f"step_size must be a finite number > 0, or None to adapt it in a pilot run; got {step_size!r}")
    q0 = initial_distribution(model, x, init, proposal)
    chunk = resolve_chunk_size(chunk_size, x, model.prior.event_shape.numel())
    if chunk_size is None:
        chunk = min(chunk, MAX_CHAINS_PER_CHUNK)
    return Annealing(AnnealingPath(model, x, q0), schedule(num_steps, schedule_kind), leapfrog_steps,
                     None if step_size is None else float(step_size), chunk, transition)


def prepare_chains(annealing: Annealing, generator: torch.Generator | None) -> tuple[torch.Generator, Tensor]:
    """The chains' generator and the step sizes ``[T − 1, B]``: ``step_size`` everywhere, or a pilot's
    (on a stream seeded from the generator, drawn before any chain)."""
    path = annealing.path
    g = resolve_generator(generator, path.x.device)
    transitions = annealing.betas.shape[0] - 2
    if annealing.step_size is not None or transitions == 0:
        sizes = torch.full((transitions, path.x.shape[0]), float(annealing.step_size or 0.0), dtype=torch.float64,
                           device=path.x.device)
        return g, sizes
    return g, pilot_step_sizes(path, annealing.betas, annealing.leapfrog_steps, fork_generator(g, g.device),
                               annealing.transition)


def forward_log_weights(annealing: Annealing, num_chains: int, generator: torch.Generator | None) -> Iterator[Tensor]:
    """Yield the forward AIS log weights ``[k, B]`` (summed in float64, in x's dtype), ``annealing.chain_chunk`` chains at a time.

    z_0 ~ q0; log w = Σ_t (β_t − β_{t−1}) H(z_{t−1}), with z_t drawn by the transition at β_t
    (t = 1 … T − 1). With T = 1 the weights are importance sampling's, bit for bit, on the same stream.
    """
    path, betas = annealing.path, annealing.betas
    g, sizes = prepare_chains(annealing, generator)
    deltas = (betas[1:] - betas[:-1]).tolist()
    for k in chunk_sizes(num_chains, annealing.chain_chunk):
        z, log_q0 = path.draw_initial(k, g)
        log_w = (deltas[0] * path.weight_terms(z, log_q0)).double()
        if len(deltas) == 1:
            yield log_w.to(path.x.dtype)
            continue
        state = path.evaluate(z)
        for t in range(1, len(deltas)):
            state, _ = annealing.transition(path, state, float(betas[t]), sizes[t - 1], annealing.leapfrog_steps, g)
            log_w += deltas[t] * state.h.double()
        yield log_w.to(path.x.dtype)


def reverse_log_weights(annealing: Annealing, posterior_samples: Tensor, num_chains: int,
                        generator: torch.Generator | None) -> Iterator[Tensor]:
    """Yield reverse AIS log weights ``[k, B]`` (summed in float64, in x's dtype): chains start at exact posterior samples
    (``[B, d]``, shared by every chain of a point, or ``[K, B, d]``, one per chain) and run the
    transitions at β_{T−1} … β_1; log w_rev = −Σ_t (β_t − β_{t−1}) H(z_t), so E[w_rev] = 1 / p(x).
    """
    path, betas = annealing.path, annealing.betas
    g, sizes = prepare_chains(annealing, generator)
    deltas = (betas[1:] - betas[:-1]).tolist()
    steps = len(deltas)
    start = 0
    for k in chunk_sizes(num_chains, annealing.chain_chunk):
        if posterior_samples.dim() == 2:
            z = posterior_samples.unsqueeze(0).expand(k, *posterior_samples.shape)
        else:
            z = posterior_samples[start : start + k]
        start += k
        if steps == 1:
            yield -deltas[0] * path.weight_terms(z)
            continue
        state = path.evaluate(z)
        log_w = (-deltas[steps - 1] * state.h).double()
        for t in range(steps - 1, 0, -1):
            state, _ = annealing.transition(path, state, float(betas[t]), sizes[t - 1], annealing.leapfrog_steps, g)
            log_w -= deltas[t - 1] * state.h.double()
        yield log_w.to(path.x.dtype)

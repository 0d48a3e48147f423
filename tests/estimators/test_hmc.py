"""The HMC kernel leaves its target invariant, and the check of that has power.

Chains start at exact draws of a linear-Gaussian posterior p(z | x) (closed form) and take three
transitions at β = 1 from the prior path, where f_1 = p(z | x). If the kernel is invariant the
chains are still exact, independent posterior draws: each coordinate's mean is tested against the
posterior mean with the known posterior standard deviation, and its variance against the known
variance with SE σ² √(2 / (n − 1)), all two-sided at 5σ (false-alarm rate about 6e-7 per statistic,
8 statistics per test). A leapfrog integrator without the Metropolis correction, run with a step
size at which its error is a few percent of the variance, must fail the same check.
"""

from __future__ import annotations

import pytest
import torch

from tests.zoo import _leapfrog_without_metropolis
from vaebench.estimators.annealing import AnnealingPath
from vaebench.estimators.hmc import hmc_transition

N_SIGMA = 5.0
CHAINS = 4000


def _invariance_z_scores(model, transition, step_size: float, leapfrog_steps: int, seed: int) -> torch.Tensor:
    """z-scores of the chains' per-coordinate means and variances after three transitions at β = 1."""
    g = torch.Generator().manual_seed(seed)
    x = model.sample(2, generator=g)
    posterior = model.posterior(x)
    path = AnnealingPath(model, x, None)  # from the prior: f_1 = p(z) p(x | z) ∝ p(z | x)
    z0 = posterior.sample((CHAINS,)).to(x.dtype)
    state = path.evaluate(z0)
    eps = torch.full((x.shape[0],), step_size, dtype=torch.float64)
    for _ in range(3):
        state, _ = transition(path, state, 1.0, eps, leapfrog_steps, g)
    z = state.z
    mean, var = posterior.mean, torch.diagonal(posterior.covariance_matrix, dim1=-2, dim2=-1)
    n = z.shape[0]
    z_mean = (z.mean(0) - mean) / (var / n).sqrt()
    z_var = (z.var(0) - var) / (var * (2 / (n - 1)) ** 0.5)
    return torch.cat([z_mean.flatten(), z_var.flatten()])


@pytest.mark.parametrize("step_size, leapfrog_steps", [(0.3, 1), (0.6, 3), (1.2, 5)])
def test_hmc_transition_leaves_the_posterior_invariant(small_model, step_size, leapfrog_steps):
    scores = _invariance_z_scores(small_model, hmc_transition, step_size, leapfrog_steps, seed=11)
    assert bool((scores.abs() < N_SIGMA).all()), f"the kernel moved the posterior: z-scores {scores.tolist()}"


def test_the_invariance_check_rejects_a_kernel_without_metropolis(small_model):
    """At ε = 0.7, L = 3 the uncorrected leapfrog inflates the variance by a few percent (z up to 15 here;
    at ε = 0.3 the same check cannot see it, z < 2.2): the check sees a modest error, not only a divergence."""
    scores = _invariance_z_scores(small_model, _leapfrog_without_metropolis, 0.7, 3, seed=11)
    assert bool((scores.abs() >= N_SIGMA).any()), f"a biased kernel passed: z-scores {scores.tolist()}"


def test_acceptance_is_a_probability_and_one_for_a_zero_step(small_model):
    g = torch.Generator().manual_seed(3)
    x = small_model.sample(2, generator=g)
    path = AnnealingPath(small_model, x, None)
    state = path.evaluate(small_model.posterior(x).sample((64,)).to(x.dtype))
    _, accept = hmc_transition(path, state, 0.5, torch.full((2,), 0.7, dtype=torch.float64), 3, g)
    assert accept.shape == (64, 2) and bool(((accept >= 0) & (accept <= 1)).all())
    new, accept = hmc_transition(path, state, 0.5, torch.zeros(2, dtype=torch.float64), 3, g)
    assert torch.equal(new.z, state.z) and bool((accept == 1).all())

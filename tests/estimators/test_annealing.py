"""The annealing machinery shared by AIS and reverse AIS: the schedule, exact starts, option checks."""

from __future__ import annotations

import pytest
import torch

import vaebench as vb
from vaebench.estimators.annealing import schedule
from tests.estimators.annealing_cases import LINEAR_MODELS, linear, seeded

ais = vb.get_estimator("ais")
rev = vb.get_estimator("reverse_ais")

@pytest.mark.parametrize("kind", ["sigmoid", "linear"])
@pytest.mark.parametrize("steps", [1, 2, 7, 1000])
def test_schedule_runs_from_zero_to_one_increasing(kind, steps):
    beta = schedule(steps, kind)
    assert beta.shape == (steps + 1,) and beta[0] == 0 and beta[-1] == 1
    assert bool((beta[1:] > beta[:-1]).all())


def test_sigmoid_schedule_matches_its_formula():
    t = torch.arange(11, dtype=torch.float64) / 10
    s = 1 / (1 + torch.exp(-4 * (2 * t - 1)))
    torch.testing.assert_close(schedule(10, "sigmoid"), (s - s[0]) / (s[-1] - s[0]), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", list(LINEAR_MODELS))
def test_exact_posterior_start_gives_log_p_to_rounding(name):
    """With q0 = p(z|x), H(z) = log p(x) for every z: each weight is exactly p(x) whatever the moves."""
    model = linear(name)
    x, z = model.sample(6, generator=seeded(3), return_latents=True)
    post = model.posterior(x)
    exact = model.log_marginal(x)
    forward = ais(model, x, 8, generator=seeded(4), num_steps=20, leapfrog_steps=3, proposal=post)
    backward = rev(model, x, 8, generator=seeded(4), num_steps=20, leapfrog_steps=3, proposal=post,
                   posterior_samples=z)
    for est in (forward, backward):
        assert (est.log_px - exact).abs().max() < 1e-10 * (1 + exact.abs().max())


class NoEncoder:
    """Prior and likelihood only (no proposal): a model AIS must start from the prior."""

    data_dim = 3

    def __init__(self, base):
        self.base = base

    @property
    def prior(self):
        return self.base.prior

    def log_likelihood(self, x, z):
        return self.base.log_likelihood(x, z)


class Detached(NoEncoder):
    """A likelihood computed outside autograd."""

    def log_likelihood(self, x, z):
        return self.base.log_likelihood(x, z.detach()).detach()


def test_init_proposal_without_an_encoder_names_init(small_model):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match="init='proposal' needs an encoder"):
        ais(NoEncoder(small_model), x, 4, generator=seeded(1), init="proposal", num_steps=3)
    est = ais(NoEncoder(small_model), x, 4, generator=seeded(1), num_steps=3)  # default: the prior
    assert torch.isfinite(est.log_px).all()


def test_non_differentiable_likelihood_names_the_model(small_model):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match="Detached.log_likelihood.*not differentiable in z"):
        ais(Detached(small_model), x, 4, generator=seeded(1), num_steps=3)


@pytest.mark.parametrize("steps", [0, -3])
def test_num_steps_below_one_is_refused(small_model, steps):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match="num_steps"):
        ais(small_model, x, 4, generator=seeded(1), num_steps=steps)
    with pytest.raises(ValueError, match="num_steps must be an integer >= 1"):
        ais.estimate(small_model, x, 4, generator=seeded(1), num_steps=steps)


@pytest.mark.parametrize("option, value, message", [
    ("schedule", "cosine", "schedule"), ("leapfrog_steps", 0, "leapfrog_steps"), ("step_size", -0.1, "step_size"),
    ("init", "posterior", "init"),
])
def test_bad_options_name_themselves(small_model, option, value, message):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match=message):
        ais(small_model, x, 4, generator=seeded(1), num_steps=3, **{option: value})


def test_fixed_step_size_skips_the_pilot_and_is_reproducible(small_model):
    x = small_model.sample(3, generator=seeded(1))
    a = ais(small_model, x, 16, generator=seeded(2), num_steps=10, step_size=0.2)
    b = ais(small_model, x, 16, generator=seeded(2), num_steps=10, step_size=0.2)
    c = ais(small_model, x, 16, generator=seeded(2), num_steps=10)
    assert torch.equal(a.log_px, b.log_px) and not torch.equal(a.log_px, c.log_px)

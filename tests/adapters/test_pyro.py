"""from_pyro: a Pyro model and guide as a LatentModel, checked against the closed-form linear-Gaussian marginal."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import vaebench as vb

pyro = pytest.importorskip("pyro", reason="Pyro is an optional extra: pip install 'vaebench[pyro]'")
import pyro.distributions as dist  # noqa: E402

D, d = 4, 2


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    W, b = torch.randn(D, d, generator=g), torch.randn(D, generator=g)
    # An amortised guide with the exact posterior mean and 1.5 times its marginal scales (light-tailed weights).
    cov = torch.linalg.inv(torch.eye(d) + W.T @ W / 0.25)
    gain = cov @ W.T / 0.25
    encoder = nn.Linear(D, 2 * d)
    with torch.no_grad():
        encoder.weight.copy_(torch.cat([gain, torch.zeros(d, D)]))
        encoder.bias.copy_(torch.cat([-gain @ b, torch.log(1.5 * cov.diagonal().sqrt())]))

    def model(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(d), torch.ones(d)).to_event(1))
            pyro.sample("x", dist.Normal(z @ W.T + b, 0.5).to_event(1), obs=x)

    def guide(x):
        pyro.module("encoder", encoder)
        with pyro.plate("data", x.shape[0]):
            loc, log_scale = encoder(x).chunk(2, -1)
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))

    exact = torch.distributions.MultivariateNormal(b, W @ W.T + 0.25 * torch.eye(D))
    return model, guide, exact


def test_ten_lines_to_a_verified_number(generator):
    model_fn, guide_fn, exact = _problem()
    x = exact.sample((5,))
    state = torch.get_rng_state()
    # --- user code (README "Evaluate your own model") ---
    model = vb.adapters.from_pyro(model_fn, guide_fn, latent="z", obs="x")
    est = vb.get_estimator("importance")(model, model.prepare(x), 20000, generator=generator)
    # ---
    assert torch.equal(state, torch.get_rng_state()), "tracing the guide must not touch the global stream"
    err = est.log_px.double() - exact.log_prob(x).double()
    assert (err.abs() < 5 * est.stderr.double() + 1e-4).all(), (err, est.stderr)


def test_the_prior_comes_out_of_the_plate_and_every_estimator_runs(generator):
    model_fn, guide_fn, exact = _problem(1)
    model = vb.adapters.from_pyro(model_fn, guide_fn, x_example=exact.sample((3,)))
    assert tuple(model.prior.batch_shape) == () and tuple(model.prior.event_shape) == (d,)
    x = model.prepare(exact.sample((3,)))
    for name in ("prior", "importance", "elbo", "ais"):
        est = vb.get_estimator(name)(model, x, 6, generator=generator, **({"num_steps": 3} if name == "ais" else {}))
        assert torch.isfinite(est.log_px).all()


def test_two_latent_sites_are_concatenated_and_match_the_closed_form(generator):
    g = torch.Generator().manual_seed(2)
    w1, w2, b = torch.randn(D, generator=g), torch.randn(D, generator=g), torch.randn(D, generator=g)

    def model(x):
        with pyro.plate("data", x.shape[0]):
            a = pyro.sample("a", dist.Normal(0.0, 1.0).expand([1]).to_event(1))
            c = pyro.sample("c", dist.Normal(0.0, 2.0).expand([1]).to_event(1))
            pyro.sample("x", dist.Normal(a * w1 + c * w2 + b, 0.7).to_event(1), obs=x)

    def guide(x):
        with pyro.plate("data", x.shape[0]):
            pyro.sample("a", dist.Normal(torch.zeros(x.shape[0], 1), 1.0).to_event(1))
            pyro.sample("c", dist.Normal(torch.zeros(x.shape[0], 1), 2.0).to_event(1))

    W = torch.stack([w1, w2], 1)
    cov = W @ torch.diag(torch.tensor([1.0, 4.0])) @ W.T + 0.49 * torch.eye(D)
    exact = torch.distributions.MultivariateNormal(b, cov)
    x = exact.sample((4,))
    model_ = vb.adapters.from_pyro(model, guide, latent=["a", "c"])
    est = vb.get_estimator("importance")(model_, model_.prepare(x), 40000, generator=generator)
    torch.testing.assert_close(model_.prior.stddev, torch.tensor([1.0, 2.0]))
    err = est.log_px.double() - exact.log_prob(x).double()
    assert (err.abs() < 5 * est.stderr.double() + 1e-4).all(), (err, est.stderr)


def test_clear_errors_for_the_frictions():
    model_fn, guide_fn, exact = _problem()
    x = exact.sample((2,))
    with pytest.raises(TypeError, match="from_pyro"):
        vb.check_model(model_fn, x)
    with pytest.raises(ValueError, match="no sample site 'w'"):
        vb.adapters.from_pyro(model_fn, guide_fn, latent="w").prepare(x)
    with pytest.raises(ValueError, match="no observed site 'y'"):
        vb.adapters.from_pyro(model_fn, guide_fn, obs="y").prepare(x)
    with pytest.raises(AttributeError, match="call model.prepare"):
        vb.adapters.from_pyro(model_fn, guide_fn).prior

    def model_two(x):
        with pyro.plate("data", x.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(d), torch.ones(d)).to_event(1))
            s = pyro.sample("s", dist.LogNormal(0.0, 1.0))
            pyro.sample("x", dist.Normal(z.sum(-1, keepdim=True).expand(-1, D), s[:, None]).to_event(1), obs=x)

    with pytest.raises(ValueError, match=r"latent sites \['s'\] besides \['z'\]"):
        vb.adapters.from_pyro(model_two, guide_fn).prepare(x)

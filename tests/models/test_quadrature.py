"""Quadrature ground truth: against closed forms, by refinement, and on trained 2-D VAEs."""

from __future__ import annotations

import pytest
import torch

from vaebench import get_estimator
from vaebench.data import SyntheticGenerator, load
from vaebench.models import LinearGaussian
from vaebench.models.integrator import integrate
from vaebench.models.quadrature import QuadratureGroundTruth
from vaebench.training.trainer import TrainConfig, load_or_train
from vaebench.models.vae import VAEConfig
from vaebench.testing.ztests import assert_z, mean_and_se, variance_and_se

ENCODERS = [("mean-field", {}), ("exact", dict(scale=1.3, shift=0.5)), ("prior", {}), ("mean-field", dict(scale=0.6))]


@pytest.mark.parametrize("dims", [(3, 1), (5, 2), (30, 2)])
@pytest.mark.parametrize("family, opts", ENCODERS)
def test_matches_linear_gaussian_closed_form(dims, family, opts):
    """log p(x), posterior moments, KL and χ² within the reported error bounds (tol = 1e-8)."""
    model = LinearGaussian.random(*dims, seed=sum(dims)).with_encoder(family, **opts)
    x = model.sample(5, generator=torch.Generator().manual_seed(1))
    res = integrate(model, x, model.encoder64(x), tol=1e-8)
    slack = 1e-9
    assert ((res.log_marginal - model.log_marginal(x)).abs() <= res.error + slack).all()
    assert (res.error <= 1e-8).all()
    post = model.posterior(x)
    torch.testing.assert_close(res.mean, post.mean, atol=1e-7, rtol=0)
    torch.testing.assert_close(res.covariance, post.covariance_matrix.expand_as(res.covariance), atol=1e-7, rtol=1e-7)
    assert ((res.kl - model.kl_to_posterior(None, x)).abs() <= res.kl_error + slack).all()
    chi2 = model.chi_square(None, x)
    finite = torch.isfinite(chi2)
    assert torch.equal(torch.isfinite(res.chi_square), finite)
    assert ((res.chi_square - chi2)[finite].abs() <= res.chi_square_error[finite] + 1e-7 * (1 + chi2[finite])).all()


def test_refinement_agrees_with_the_stated_tolerance():
    model = SyntheticGenerator().to(torch.float64)
    x = load("synthetic-2d", "test")[:8].double()
    loose, tight = integrate(model, x, tol=1e-4), integrate(model, x, tol=1e-7)
    assert (loose.error <= 1e-4).all() and (tight.error <= 1e-7).all()
    # The loose result is within its own stated error of the tight one: the bound is honest.
    assert ((loose.log_marginal - tight.log_marginal).abs() <= loose.error + tight.error).all()


def test_model_without_encoder_against_importance_sampling():
    """The synthetic generator (no encoder: the quadrature finds each posterior by mode search)
    against importance sampling from a Gaussian fitted to that posterior, widened: z-test with
    the estimate's own delta-method standard error (8 tests)."""
    model = SyntheticGenerator().to(torch.float64)
    x = load("synthetic-2d", "test")[:8].double()
    res = integrate(model, x, tol=1e-6)
    q = torch.distributions.MultivariateNormal(res.mean, covariance_matrix=2.0 * res.covariance)
    est = get_estimator("importance")(model, x, 200_000, proposal=q, generator=torch.Generator().manual_seed(0),
                                      keep_log_weights=False)
    assert_z(est.log_px, res.log_marginal, est.stderr, "IS vs quadrature log p(x)")


def test_needs_a_small_latent():
    with pytest.raises(ValueError, match="latent of dimension 1 or 2, got 3"):
        integrate(LinearGaussian.random(5, 3), torch.zeros(2, 5, dtype=torch.float64))


@pytest.fixture(scope="module")
def trained_2d(tmp_path_factory):
    """A 2-D-latent VAE trained briefly on synthetic-2d (a few seconds)."""
    config = TrainConfig("synthetic-2d", VAEConfig(64, 2, (32, 32)), epochs=5, batch_size=100)
    vae, _, _ = load_or_train(config, cache=tmp_path_factory.mktemp("ckpt"), progress=False)
    model = QuadratureGroundTruth(vae.requires_grad_(False).double(), tol=1e-6)
    return model, load("synthetic-2d", "test")[:6].double()


def test_trained_vae_elbo_gap_equals_quadrature_kl(trained_2d):
    """log p(x) − E[ELBO estimate] = KL(q ‖ p(z|x)) per point: z-test with the Monte Carlo SE plus
    the quadrature's stated errors (6 tests)."""
    model, x = trained_2d
    res = model.integrate(x, model.proposal(x))
    est = get_estimator("elbo")(model, x, 200_000, generator=torch.Generator().manual_seed(1), keep_log_weights=False)
    assert_z(res.log_marginal - est.log_px, res.kl, est.stderr + res.error + res.kl_error, "ELBO gap vs KL")


def broadened(model, x):
    """q'(z|x) = N(μ_enc, σ_enc² + 1). The trained encoder itself has χ² = ∞: where the tanh
    decoder saturates, p(x|z) is flat and the posterior keeps the prior's N(0, I) tails, so
    ∫ p²/q diverges whenever q's variance is below 1/2 in some direction. With variance above 1
    both χ² and E[w⁴] (which needs variance > 3/4) are finite."""
    q = model.proposal(x)
    scale = torch.sqrt(q.base_dist.scale**2 + 1)
    return torch.distributions.Independent(torch.distributions.Normal(q.base_dist.loc, scale), 1)


def test_trained_vae_encoder_has_infinite_chi_square(trained_2d):
    model, x = trained_2d
    res = model.integrate(x, model.proposal(x))
    assert torch.isinf(res.chi_square).all() and (model.proposal(x).base_dist.scale < 0.5**0.5).any(-1).all()
    assert torch.isfinite(model.integrate(x, broadened(model, x)).chi_square).all()


def test_trained_vae_importance_sampling_agrees_with_quadrature(trained_2d):
    """IS at K = 10^5 against the quadrature log p(x), with the broadened encoder (6 tests)."""
    model, x = trained_2d
    q = broadened(model, x)
    res = model.integrate(x, q)
    est = get_estimator("importance")(model, x, 100_000, proposal=q, generator=torch.Generator().manual_seed(2),
                                      keep_log_weights=False)
    # SE from the quadrature χ²: sqrt(χ² / K) (delta method), plus the quadrature error.
    se = torch.sqrt(res.chi_square / 100_000) + res.error
    assert_z(est.log_px, res.log_marginal, se, "IS at K=1e5 vs quadrature")


def test_trained_vae_importance_variance_is_chi_square_over_k(trained_2d):
    """K · Var[p̂ / p] = χ²(p(z|x) ‖ q) from quadrature, over 4000 replicates (6 tests; the
    variance's SE is estimated from the replicates, valid as E_q[w⁴] < ∞ for this q)."""
    model, x = trained_2d
    q = broadened(model, x)
    res = model.integrate(x, q)
    reps, k = 4000, 4
    q_rep = torch.distributions.Independent(
        torch.distributions.Normal(q.base_dist.loc.repeat(reps, 1), q.base_dist.scale.repeat(reps, 1)), 1)
    est = get_estimator("importance")(model, x.repeat(reps, 1), k, proposal=q_rep,
                                      generator=torch.Generator().manual_seed(3), keep_log_weights=False)
    ratio = torch.exp(est.log_px.reshape(reps, -1) - res.log_marginal)
    var, se = variance_and_se(ratio)
    assert_z(k * var, res.chi_square, k * se, "K·Var[p̂/p] vs quadrature χ²")


def test_quadrature_posterior_gives_zero_variance_importance_sampling(trained_2d):
    model, x = trained_2d
    post = model.posterior(x)
    res = model.integrate(x)
    est = get_estimator("importance")(model, x, 500, proposal=post, generator=torch.Generator().manual_seed(4))
    assert (est.log_px - res.log_marginal).abs().max() < 1e-8
    draws = post.sample((20000,))
    mean, se = mean_and_se(draws)
    assert_z(mean, post.mean, se, "posterior sample mean")


def test_each_point_refines_its_own_grid(trained_2d):
    """Per-point adaptivity: a point's result and final grid do not depend on the other points of
    its batch (integrated alone, the same numbers up to rounding and the same grid)."""
    model, x = trained_2d
    together = integrate(model.model, x, tol=1e-6)
    for i in range(x.shape[0]):
        alone = integrate(model.model, x[i : i + 1], tol=1e-6)
        assert int(alone.points_per_dim[0]) == int(together.points_per_dim[i])
        assert abs(float(alone.log_marginal[0] - together.log_marginal[i])) < 1e-9
    assert together.error.max() <= 1e-6 or (together.points_per_dim == together.points_per_dim.max()).any()


def test_a_deep_copy_shares_no_parameters_with_the_original():
    """Sweeps give every cell a deep copy of the cached model (issue 21): the wrapper must survive it."""
    import copy

    from vaebench.models.quadrature import QuadratureGroundTruth
    from vaebench.models.vae import VAE, VAEConfig

    torch.manual_seed(0)
    model = QuadratureGroundTruth(VAE(VAEConfig(data_dim=6, latent_dim=1, hidden=(8,))))
    twin = copy.deepcopy(model)
    assert isinstance(twin, QuadratureGroundTruth) and twin.model is not model.model
    for a, b in zip(model.model.parameters(), twin.model.parameters()):
        assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()

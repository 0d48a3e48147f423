"""LinearGaussian ground truth against independent references: scipy.stats, grid quadrature, Monte Carlo."""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest
import scipy.stats as st
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from vaebench.testing.ztests import assert_z, mean_and_se, variance_and_se
from vaebench.models import LinearGaussian, chi_square_gaussian

# (data_dim, latent_dim, options): includes pPCA, factor analysis, d = D, d = 1 and ill-conditioned W.
MODEL_CASES = [
    (20, 5, dict(seed=0)),
    (20, 5, dict(seed=1, isotropic=True)),
    (3, 2, dict(seed=2)),
    (1, 1, dict(seed=3)),
    (6, 6, dict(seed=4)),
    (30, 4, dict(seed=5, condition_number=1e3)),
    (10, 3, dict(seed=6, isotropic=True, condition_number=1e2, noise_range=(1e-3, 1e-2))),
]
ENCODERS = [
    ("exact", {}),
    ("mean-field", {}),
    ("prior", {}),
    ("mean-field", dict(scale=2.0)),
    ("mean-field", dict(scale=0.5)),
    ("exact", dict(shift=1.5)),
    ("exact", dict(scale=1.3, shift=-0.7)),
]


def case_id(case):
    D, d, opts = case
    return f"D{D}-d{d}-" + "-".join(f"{k}{v}" for k, v in opts.items())


@pytest.fixture(params=MODEL_CASES, ids=case_id)
def model_and_data(request):
    D, d, opts = request.param
    model = LinearGaussian.random(D, d, **opts)
    g = torch.Generator().manual_seed(7)
    x = model.sample(16, generator=g)
    x = torch.cat([x, x[:2] + 5.0])  # two points far in the tails
    return model, x


def np64(t):
    return t.detach().double().cpu().numpy()


def scipy_log_joint_terms(model, x, z):
    """log N(x; W z + b, Ψ) + log N(z; 0, I) evaluated with scipy.stats; z [N, d], x [D]."""
    W, b, psi = np64(model.W64), np64(model.b64), np64(model.noise_var64)
    mean = z @ W.T + b
    loglik = st.norm.logpdf(x, mean, np.sqrt(psi)).sum(-1)
    return loglik + st.norm.logpdf(z).sum(-1)


def mpmath_log_marginal(model, x, digits=40):
    """log N(x; b, W Wᵀ + Ψ) in 40-digit arithmetic from the float64 parameters."""
    mp.mp.dps = digits
    W = mp.matrix(np64(model.W64).tolist())
    C = W * W.T + mp.diag([mp.mpf(v) for v in np64(model.noise_var64)])
    L = mp.cholesky(C)
    logdet = 2 * mp.fsum(mp.log(L[i, i]) for i in range(C.rows))
    out = []
    for row in np64(x - model.b64):
        quad = mp.fsum(v * w for v, w in zip(row.tolist(), mp.lu_solve(C, mp.matrix(row.tolist()))))
        out.append(float(-0.5 * quad - 0.5 * logdet - 0.5 * C.rows * mp.log(2 * mp.pi)))
    return np.array(out)


def test_log_marginal_matches_high_precision_and_scipy(model_and_data):
    """Against a 40-digit reference, to the accuracy float64 allows: n·ε·cond(C) relative to |log p|.

    scipy.stats is a second, float64 reference where C is well conditioned (its eigendecomposition
    loses ~cond(C)·ε as well, so it is no arbiter for the ill-conditioned models).
    """
    model, x = model_and_data
    W, b, psi = np64(model.W64), np64(model.b64), np64(model.noise_var64)
    C = W @ W.T + np.diag(psi)
    got = np64(model.log_marginal(x))
    ref = mpmath_log_marginal(model, x)
    bound = len(b) * np.finfo(float).eps * np.linalg.cond(C) * np.maximum(1.0, np.abs(ref))
    assert np.all(np.abs(got - ref) <= np.maximum(bound, 1e-12)), np.abs(got - ref) / bound
    if np.linalg.cond(C) < 1e4:
        np.testing.assert_allclose(got, np.atleast_1d(st.multivariate_normal(b, C).logpdf(np64(x))), rtol=1e-9, atol=1e-9)
    assert model.log_marginal(x).dtype == torch.float64


def test_posterior_satisfies_bayes_rule_pointwise(model_and_data):
    """log p(z|x) = log p(x|z) + log p(z) − log p(x), every term from scipy, at random z."""
    model, x = model_and_data
    W, b, psi = np64(model.W64), np64(model.b64), np64(model.noise_var64)
    log_px = np.atleast_1d(st.multivariate_normal(b, W @ W.T + np.diag(psi)).logpdf(np64(x)))
    post = model.posterior(x)
    rng = np.random.default_rng(0)
    for i in range(x.shape[0]):
        z = np64(post.mean[i]) + rng.standard_normal((5, model.latent_dim))
        ref = scipy_log_joint_terms(model, np64(x[i]), z) - log_px[i]
        got = np64(post.log_prob(torch.from_numpy(z)[:, None, :].expand(5, x.shape[0], -1))[:, i])
        np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8)


def grid_quadrature(model, x_row, q=None, half_width=9.0, n=1201):
    """Trapezoid rule on a fixed wide 2-D grid (spectrally accurate for Gaussian integrands)."""
    t = np.linspace(-half_width, half_width, n)
    Z1, Z2 = np.meshgrid(t, t, indexing="ij")
    z = np.stack([Z1.ravel(), Z2.ravel()], -1)
    log_joint = scipy_log_joint_terms(model, x_row, z)
    c = log_joint.max()
    w = np.exp(log_joint - c).reshape(n, n)
    integrate = lambda f: np.trapezoid(np.trapezoid(f, t, axis=1), t)  # noqa: E731
    mass = integrate(w)
    out = {"log_px": np.log(mass) + c}
    post = w / mass
    out["mean"] = np.array([integrate(post * Z1), integrate(post * Z2)])
    d1, d2 = Z1 - out["mean"][0], Z2 - out["mean"][1]
    out["cov"] = np.array([[integrate(post * d1 * d1), integrate(post * d1 * d2)],
                           [integrate(post * d1 * d2), integrate(post * d2 * d2)]])
    if q is not None:
        m, S = q
        log_q = st.multivariate_normal(m, S).logpdf(z).reshape(n, n)
        log_post = np.log(np.maximum(post, 1e-300))
        out["chi2"] = integrate(np.exp(np.clip(2 * log_post - log_q, -700, 700))) - 1
    return out


def test_posterior_and_log_marginal_match_2d_quadrature():
    model = LinearGaussian.random(4, 2, seed=11, noise_range=(0.5, 2.0))
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    post = model.posterior(x)
    for i in range(3):
        ref = grid_quadrature(model, np64(x[i]))
        np.testing.assert_allclose(np64(model.log_marginal(x[i : i + 1]))[0], ref["log_px"], rtol=0, atol=1e-10)
        np.testing.assert_allclose(np64(post.mean[i]), ref["mean"], atol=1e-10)
        np.testing.assert_allclose(np64(post.covariance_matrix[i]), ref["cov"], atol=1e-10)


@pytest.mark.parametrize("family, opts", ENCODERS, ids=lambda v: str(v))
def test_elbo_gap_equals_kl_to_posterior(model_and_data, family, opts):
    """log p(x) − ELBO(q) = KL(q ‖ p(z|x)); ELBO from expectations of the joint, KL from torch."""
    model, x = model_and_data
    q = model.make_encoder(family, **opts).to(torch.float64)(x)
    log_px, elbo = model.log_marginal(x), model.elbo(x, q)
    gap, kl = log_px - elbo, model.kl_to_posterior(q, x)
    # 1e-9 nats for O(1) terms; relative to the largest term where they are large (KL reaches 1e6
    # for the prior as q on the ill-conditioned model, and float64 keeps ~1e-16 of it).
    # log p(x) itself is only accurate to ~D·ε·cond(C) relative (see the high-precision test), so
    # the identity cannot hold tighter than that on ill-conditioned models.
    scale = torch.stack([torch.ones_like(kl), log_px.abs(), elbo.abs(), kl.abs()]).amax(0)
    C = model.W64 @ model.W64.mT + torch.diag(model.noise_var64)
    rel = max(1e-9, model.data_dim * torch.finfo(torch.float64).eps * torch.linalg.cond(C).item())
    assert torch.all((gap - kl).abs() <= rel * scale), ((gap - kl).abs() / scale).max()
    assert torch.all(kl >= -rel * scale)
    if family == "exact" and not opts:
        assert torch.all(kl.abs() <= rel * scale)


def test_elbo_closed_form_matches_monte_carlo(small_model):
    """Monte Carlo ELBO with scipy densities and numpy sampling vs the closed form (8 z-tests)."""
    model = small_model.with_encoder("mean-field", scale=1.4, shift=0.5)
    x = model.sample(8, generator=torch.Generator().manual_seed(1))
    q = model.encoder64(x)
    m, S = np64(q.mean), np64(torch.diag_embed(q.variance))
    rng = np.random.default_rng(3)
    for i in range(8):
        z = rng.multivariate_normal(m[i], S[i], size=200_000)
        log_w = scipy_log_joint_terms(model, np64(x[i]), z) - st.multivariate_normal(m[i], S[i]).logpdf(z)
        mean, se = mean_and_se(torch.from_numpy(log_w))
        assert_z(mean, model.elbo(x[i : i + 1])[0], se, f"ELBO at point {i}")


@pytest.mark.parametrize(
    "family, opts", [("exact", dict(scale=1.3)), ("mean-field", {}), ("exact", dict(shift=0.8)), ("prior", {}),
                     ("mean-field", dict(scale=1.5, shift=-0.5))],
)
def test_chi_square_matches_2d_quadrature(family, opts):
    model = LinearGaussian.random(4, 2, seed=11, noise_range=(0.5, 2.0)).with_encoder(family, **opts)
    x = model.sample(3, generator=torch.Generator().manual_seed(0))
    q = model.encoder64(x)
    mq, Sq = np64(q.mean), np64(q.covariance_matrix if isinstance(q, MultivariateNormal) else torch.diag_embed(q.variance))
    chi2 = np64(model.chi_square(None, x))
    # ∫ p²/q converges iff 2 S_p⁻¹ − S_q⁻¹ is positive definite (numpy's eigenvalues decide).
    S_p = np64(model.posterior_covariance)
    diverges = np.linalg.eigvalsh(2 * np.linalg.inv(S_p) - np.linalg.inv(Sq[0])).min() <= 0
    for i in range(3):
        ref = grid_quadrature(model, np64(x[i]), q=(mq[i], Sq[i]))["chi2"]
        if diverges:  # a truncated grid gives a finite number that grows without bound with the grid
            wider = grid_quadrature(model, np64(x[i]), q=(mq[i], Sq[i]), half_width=14.0, n=1801)["chi2"]
            assert np.isinf(chi2[i]) and wider > 1e3 * ref > 0
        else:
            np.testing.assert_allclose(chi2[i], ref, rtol=1e-7)


def test_chi_square_is_infinite_exactly_where_it_diverges():
    """1-D: p = N(0, 1), q = N(0, s²) gives E_q[(p/q)²] = s² / sqrt(2 s² − 1), finite iff s² > 1/2."""
    s = torch.tensor([0.5, 0.7, 0.70710, 0.70711, 1.0, 3.0], dtype=torch.float64)
    p = Independent(Normal(torch.zeros(6, 1, dtype=torch.float64), torch.ones(6, 1, dtype=torch.float64)), 1)
    q = Independent(Normal(torch.zeros(6, 1, dtype=torch.float64), s[:, None]), 1)
    got = chi_square_gaussian(p, q)
    finite = s**2 > 0.5
    expected = torch.where(finite, s**2 / torch.sqrt((2 * s**2 - 1).clamp_min(1e-300)) - 1, torch.inf)
    assert torch.equal(torch.isinf(got), ~finite)
    torch.testing.assert_close(got[finite], expected[finite], rtol=1e-9, atol=1e-12)
    assert got[s == 1.0].item() == pytest.approx(0.0, abs=1e-12)


def test_log_weight_variance_matches_monte_carlo(small_model):
    """Var_q[log w] (Gaussian quadratic form) vs the sample variance of scipy-evaluated log w."""
    for family, opts in [("mean-field", dict(scale=1.4, shift=0.5)), ("prior", {}), ("exact", {})]:
        model = small_model.with_encoder(family, **opts)
        x = model.sample(4, generator=torch.Generator().manual_seed(1))
        q = model.encoder64(x)
        cov = q.covariance_matrix if isinstance(q, MultivariateNormal) else torch.diag_embed(q.variance)
        m, S = np64(q.mean), np64(cov)
        expected = model.log_weight_variance(None, x)
        rng = np.random.default_rng(5)
        for i in range(4):
            z = rng.multivariate_normal(m[i], S[i], size=200_000)
            log_w = scipy_log_joint_terms(model, np64(x[i]), z) - st.multivariate_normal(m[i], S[i]).logpdf(z)
            if family == "exact":  # zero variance: log w is constant to rounding
                assert np.ptp(log_w) < 1e-9 and expected[i].abs() < 1e-9
                continue
            var, se = variance_and_se(torch.from_numpy(log_w))
            assert_z(var, expected[i], se, f"Var[log w] ({family}, point {i})")


def test_sample_has_the_model_moments():
    """Sample mean and per-coordinate variance vs b and diag(W Wᵀ + Ψ): 2·D z-tests."""
    model = LinearGaussian.random(6, 2, seed=3)
    x = model.sample(200_000, generator=torch.Generator().manual_seed(2))
    mean, se = mean_and_se(x)
    assert_z(mean, model.b64, se, "sample mean")
    var, se_var = variance_and_se(x)
    cov = model.W64 @ model.W64.mT + torch.diag(model.noise_var64)
    assert_z(var, torch.diagonal(cov), se_var, "sample variance")
    x32, z32 = model.to(torch.float32).sample(5, generator=torch.Generator().manual_seed(2), return_latents=True)
    assert x32.dtype == z32.dtype == torch.float32 and x32.shape == (5, 6) and z32.shape == (5, 2)


def test_mean_field_encoder_is_kl_optimal(model_and_data):
    """Perturbing the KL-optimal mean-field q in mean or scale can only increase KL(q ‖ p(z|x))."""
    model, x = model_and_data
    best = model.kl_to_posterior(model.make_encoder("mean-field").to(torch.float64)(x), x)
    for opts in (dict(scale=1.01), dict(scale=0.99), dict(shift=0.01), dict(shift=-0.01)):
        worse = model.kl_to_posterior(model.make_encoder("mean-field", **opts).to(torch.float64)(x), x)
        assert torch.all(worse > best)


def test_prior_encoder_is_the_prior(small_model):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(0))
    q = small_model.with_encoder("prior").proposal(x)
    z = torch.randn(4, 3, 2, dtype=torch.float64)
    torch.testing.assert_close(q.log_prob(z), small_model.prior.log_prob(z).expand(4, 3))


def test_working_dtype_and_float64_truth(small_model):
    m32 = small_model.to(torch.float32)
    x = m32.sample(4, generator=torch.Generator().manual_seed(0))
    z = m32.prior.sample((3, 4))
    assert m32.log_likelihood(x, z).dtype == torch.float32 and m32.log_likelihood(x, z).shape == (3, 4)
    assert m32.proposal(x).mean.dtype == torch.float32
    assert m32.log_marginal(x).dtype == torch.float64
    torch.testing.assert_close(m32.log_marginal(x), small_model.log_marginal(x.double()))
    assert small_model.to("cpu").dtype == torch.float64


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(W=torch.ones(3), b=torch.zeros(3), noise_var=1.0), "W must have shape"),
        (dict(W=torch.ones(3, 2), b=torch.zeros(2), noise_var=1.0), "b must have shape"),
        (dict(W=torch.ones(3, 2), b=torch.zeros(3), noise_var=torch.ones(2)), "noise_var must be"),
        (dict(W=torch.ones(3, 2), b=torch.zeros(3), noise_var=-1.0), "noise_var must be finite and positive"),
        (dict(W=torch.full((3, 2), float("nan")), b=torch.zeros(3), noise_var=1.0), "W and b must be finite"),
        (dict(W=torch.ones(3, 2), b=torch.zeros(3), noise_var=1.0, encoder="vae"), "encoder family"),
    ],
)
def test_constructor_rejects_bad_parameters(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        LinearGaussian(**kwargs)


def test_ground_truth_rejects_bad_shapes(small_model):
    with pytest.raises(ValueError, match=r"x must have shape \[B, 3\]"):
        small_model.log_marginal(torch.zeros(4, 5))
    x = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"q must have batch shape \[4\]"):
        small_model.elbo(x, small_model.posterior(x[:2]))
    with pytest.raises(ValueError, match="scale must be positive"):
        small_model.make_encoder("exact", scale=0.0)


def _factor(dist):
    from torch.distributions import Independent, MultivariateNormal

    while isinstance(dist, Independent):
        dist = dist.base_dist
    return dist._unbroadcasted_scale_tril if isinstance(dist, MultivariateNormal) else None


@pytest.mark.parametrize("family", ["exact", "mean-field", "prior"])
def test_no_shared_stride_0_scale_factor_reaches_log_prob(family):
    # Issue 12: a [d, d] factor shared by the batch makes log_prob one huge triangular solve,
    # which falls off a cliff on CUDA at large K. No CPU can time it, so the structure is asserted.
    model = LinearGaussian.random(6, 3, seed=0).with_encoder(family)
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    for dist in (model.proposal(x), model.posterior(x)):
        tril = _factor(dist)
        if tril is None:
            continue
        assert tuple(tril.shape) == (5, 3, 3), "one factor per data point"
        assert tril.is_contiguous() and 0 not in tril.stride()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_written_out_likelihood_matches_torch_and_scipy(dtype):
    model = LinearGaussian.random(7, 3, seed=2).to(dtype)
    g = torch.Generator().manual_seed(0)
    x = model.sample(4, generator=g)
    z = torch.randn(5, 4, 3, generator=g, dtype=dtype)
    ours = model.log_likelihood(x, z)
    mean = z @ model.W64.to(dtype).mT + model.b64.to(dtype)
    torch_ref = Independent(Normal(mean, model.noise_var64.sqrt().to(dtype)), 1).log_prob(x)
    scipy_ref = st.norm(mean.double().numpy(), model.noise_var64.sqrt().numpy()).logpdf(x.double().numpy()).sum(-1)
    tol = 1e-10 if dtype == torch.float64 else 1e-3
    assert torch.allclose(ours, torch_ref, atol=tol, rtol=tol)
    assert np.allclose(ours.double().numpy(), scipy_ref, atol=tol, rtol=tol)

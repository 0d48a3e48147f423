"""Reference problems for the conformance kit: models with exact answers, kept out of the estimator's reach.

Each `Problem` holds a model, data points and the exact quantities the checks compare against
(log p(x), the χ² and the ELBO of the proposals). The estimator receives only `Problem.model`, a
`ContractModel` that exposes the `LatentModel` contract (``prior``, ``log_likelihood``,
``proposal``, ``data_dim``) and nothing else, so an estimator cannot reach for the truth.

The problems cover what a narrow suite would miss:

- ``2d-wide-q``, ``2d-shifted-q``, ``3d-mean-field-q``: linear-Gaussian with N(0, I) priors and
  over-dispersed, shifted and mean-field Gaussian encoders;
- ``2d-affine-prior``: a prior N(m, S) with non-zero mean and correlated covariance;
- ``1d-logistic``: Bernoulli observations through a logistic link (non-Gaussian likelihood), a
  non-standard prior and a Student-t encoder; truth by `scipy.integrate.quad`, computed once;
- ``2d-exact-q``: the encoder is the exact posterior (zero-variance importance weights);
- ``2d-narrow-q``: an under-dispersed encoder (0.72 posterior standard deviations; χ² = 6.3)
  whose weights have finite variance but infinite fourth moment (heavy tails): only tests that
  stay valid there are run on it.

Light-tailed points (``Problem.light``) have χ² ≤ `MAX_CHI_SQUARE` and finite E_q[w⁴], so the
sample mean and the sample variance of p̂ / p obey a central limit theorem; the z-tests use
only those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, Laplace, MultivariateNormal, Normal, StudentT

from vaebench.models import LinearGaussian
from vaebench.models.gaussian import gaussian_moments

__all__ = ["ContractModel", "Problem", "reference_problems", "problem", "replicate", "exact_posterior_samples",
           "MAX_CHI_SQUARE"]

# Light-tailed points: χ² at most this (and a finite fourth moment of the weights). Chosen from
# the measured calibration of the z-tests (benchmarks/kit_calibration.py): at χ² ≈ 9 the tails
# of the studentised mean were 2.7x heavier than normal at 3σ.
MAX_CHI_SQUARE = 3.0


class ContractModel:
    """The `LatentModel` contract of a model and nothing else: what the estimator under test sees.

    Parameters
    ----------
    build : callable
        ``build(dtype, device) -> model`` with ``prior``, ``log_likelihood``, ``proposal`` and
        ``data_dim``; called again by `to`.
    dtype, device
        Where the model works.
    shift : float
        A constant added to log p(x | z) (the exact log p(x) moves by the same constant).
    """

    __slots__ = ("_build", "_inner", "_shift", "dtype", "device", "data_dim")

    def __init__(self, build: Callable[[torch.dtype, Any], Any], dtype: torch.dtype = torch.float64,
                 device: Any = "cpu", shift: float = 0.0) -> None:
        self._build, self._shift = build, shift
        self.dtype, self.device = dtype, torch.device(device)
        self._inner = build(dtype, self.device)
        self.data_dim = self._inner.data_dim

    @property
    def prior(self) -> Distribution:
        """p(z)."""
        return self._inner.prior

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z), ``[K, B]``."""
        out = self._inner.log_likelihood(x, z)
        return out + self._shift if self._shift else out

    def proposal(self, x: Tensor) -> Distribution:
        """The encoder q(z | x), batch shape ``[B]``."""
        return self._inner.proposal(x)

    def to(self, dtype: Any = None, device: Any = None) -> "ContractModel":
        """The same model in another dtype or on another device."""
        if isinstance(dtype, (str, torch.device)):
            dtype, device = None, dtype
        return ContractModel(self._build, dtype or self.dtype, device if device is not None else self.device,
                             self._shift)

    def shifted(self, shift: float) -> "ContractModel":
        """The same model with log p(x | z) + ``shift``."""
        return ContractModel(self._build, self.dtype, self.device, self._shift + shift)

    def __repr__(self) -> str:
        return f"ContractModel({type(self._inner).__name__}, {self.dtype}, shift={self._shift:g})"


# ----------------------------------------------------------------------------- models
class AffinePriorGaussian:
    """Linear-Gaussian with prior N(m, L Lᵀ): z = m + L u, u ~ N(0, I), x | z from ``base`` in u.

    The marginal of x, the χ² and the KL of any proposal pushed through the same map are those of
    ``base`` (the map is a bijection applied to both p(z | x) and q(z | x)).
    """

    def __init__(self, base: LinearGaussian, mean: Tensor, scale_tril: Tensor) -> None:
        self.base, self.data_dim = base, base.data_dim
        work = dict(dtype=base.dtype, device=base.device)
        self.mean, self.scale_tril = mean.to(**work), scale_tril.to(**work)
        self._prior = MultivariateNormal(self.mean, scale_tril=self.scale_tril, validate_args=False)

    @property
    def prior(self) -> Distribution:
        return self._prior

    def _to_u(self, z: Tensor) -> Tensor:
        return torch.linalg.solve_triangular(self.scale_tril, (z - self.mean).unsqueeze(-1), upper=False).squeeze(-1)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        return self.base.log_likelihood(x, self._to_u(z))

    def push(self, q: Distribution) -> MultivariateNormal:
        """q over u mapped to z = m + L u (batched, contiguous scale factors)."""
        mean, cov = gaussian_moments(q, self.mean.dtype)
        chol = torch.linalg.cholesky(cov)
        return MultivariateNormal(self.mean + mean @ self.scale_tril.mT, scale_tril=self.scale_tril @ chol,
                                  validate_args=False)

    def proposal(self, x: Tensor) -> Distribution:
        return self.push(self.base.proposal(x))

    def posterior(self, x: Tensor) -> MultivariateNormal:
        """Exact p(z | x): the base model's posterior over u pushed to z (float64)."""
        return self.push(self.base.posterior(x))


class LogisticModel:
    """z ~ N(μ₀, σ₀²) in one dimension, x_j | z ~ Bernoulli(sigmoid(a_j z + c_j)), j = 1..D.

    The encoder is a Student-t (5 degrees of freedom) centred at the posterior mode with 1.2 times
    the Laplace scale, found by Newton's method for each x (a deterministic function of x).
    """

    DF = 5.0

    def __init__(self, a: Tensor, c: Tensor, prior_mean: float, prior_sd: float, dtype: torch.dtype, device: Any):
        work = dict(dtype=dtype, device=device)
        self.a, self.c = a.to(**work), c.to(**work)
        self.data_dim = a.shape[0]
        self.prior_mean, self.prior_sd = prior_mean, prior_sd
        self._prior = Independent(Normal(torch.full((1,), prior_mean, **work), torch.full((1,), prior_sd, **work),
                                         validate_args=False), 1, validate_args=False)

    @property
    def prior(self) -> Distribution:
        return self._prior

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        logits = z * self.a + self.c  # [K, B, D]
        return -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none").sum(-1)

    def laplace(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Posterior mode and Laplace standard deviation per row, ``[B, 1]`` each (float64 Newton)."""
        z, curvature, _ = self._newton_mode(x, 1 / self.prior_sd**2)
        return z, curvature.rsqrt()

    def log_likelihood_sup(self, x: Tensor) -> Tensor:
        """An upper bound on sup_z log p(x | z) per row, float64 ``[B]``: the maximum of the concave
        log-likelihood (Newton's method) where it is reached at a finite z, else 0 (p(x | z) <= 1)."""
        z, _, converged = self._newton_mode(x, 0.0)
        top = self._log_likelihood64(x, z)
        # a relative margin far above float64 rounding keeps it a bound at a converged maximum
        return torch.where(converged, top + 1e-9 * (1 + top.abs()), torch.zeros_like(top)).clamp(max=0.0)

    def _log_likelihood64(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) in float64 whatever the model's dtype, ``[..., B]`` for z ``[..., B, 1]``."""
        eta = z.double() * self.a.double() + self.c.double()
        return -torch.nn.functional.binary_cross_entropy_with_logits(
            eta, x.double().expand_as(eta), reduction="none").sum(-1)

    def _newton_mode(self, x: Tensor, prec0: float) -> tuple[Tensor, Tensor, Tensor]:
        """The maximum of log p(x | z) - prec0 (z - μ₀)² / 2 per row, ``[B, 1]``, the curvature there
        ``[B, 1]``, and whether Newton's method converged ``[B]`` (it cannot where the log-likelihood
        rises forever, prec0 = 0)."""
        a, c, x64 = self.a.double(), self.c.double(), x.double()
        z = torch.full((x.shape[0], 1), self.prior_mean, dtype=torch.float64, device=x.device)

        def log_joint(z: Tensor) -> Tensor:
            eta = z * a + c
            return (x64 * eta - torch.nn.functional.softplus(eta)).sum(-1, keepdim=True) - 0.5 * prec0 * (
                z - self.prior_mean) ** 2

        for _ in range(100):  # Newton's method on a strictly concave log joint, with step halving
            s = torch.sigmoid(z * a + c)
            grad = ((x64 - s) * a).sum(-1, keepdim=True) - (z - self.prior_mean) * prec0
            hess = -(s * (1 - s) * a**2).sum(-1, keepdim=True) - prec0
            step = grad / hess
            # An undamped step can overshoot far from the mode where the likelihood is sharp (large D):
            # halve it until the log joint does not decrease (a full step near the mode, as before).
            for _ in range(60):
                worse = log_joint(z - step) < log_joint(z) - 1e-12 * (1 + log_joint(z).abs())
                if not bool(worse.any()):
                    break
                step = torch.where(worse, 0.5 * step, step)
            z = z - step
            if bool(step.abs().max() < 1e-13):
                break
        s = torch.sigmoid(z * a + c)
        curvature = (s * (1 - s) * a**2).sum(-1, keepdim=True) + prec0
        converged = (torch.isfinite(z) & (step.abs() < 1e-10) & (curvature > 1e-8)).squeeze(-1)
        return z, curvature, converged

    def proposal(self, x: Tensor) -> Distribution:
        mode, sd = self.laplace(x)
        dtype = self.a.dtype
        return Independent(StudentT(self.DF, mode.to(dtype), (1.2 * sd).to(dtype), validate_args=False), 1,
                           validate_args=False)

    def posterior_samples(self, x: Tensor, num: int, generator: torch.Generator) -> Tensor:
        """Exact draws from p(z | x), ``[num, B, 1]``, by rejection from the prior: with M(x) >=
        sup_z p(x | z) (`log_likelihood_sup`), accepting z ~ p(z) with probability p(x | z) / M(x) is
        exact, and accepts a fraction p(x) / M(x) of the draws. Each round draws only for the rows
        still short of ``num``. A draw above the envelope would make the sampler inexact: it raises."""
        batch = x.shape[0]
        out = x.new_empty((num, batch, 1))
        filled = torch.zeros(batch, dtype=torch.long, device=x.device)
        log_envelope = self.log_likelihood_sup(x)
        while bool((filled < num).any()):
            rows = torch.nonzero(filled < num).squeeze(1)
            draws = max(1024, 8 * num)
            z = self.prior_mean + self.prior_sd * torch.randn((draws, rows.numel(), 1), generator=generator,
                                                              dtype=x.dtype, device=x.device)
            u = torch.rand((draws, rows.numel()), generator=generator, dtype=x.dtype, device=x.device)
            log_ratio = self._log_likelihood64(x[rows], z) - log_envelope[rows]
            if bool((log_ratio > 0).any()):
                raise RuntimeError("LogisticModel.posterior_samples: a draw lies above the rejection envelope "
                                   "(log_likelihood_sup is not an upper bound here)")
            accept = u.double().log() < log_ratio
            rank = torch.cumsum(accept.long(), 0) - 1 + filled[rows]
            take = accept & (rank < num)
            i, b = take.nonzero(as_tuple=True)
            out[rank[i, b], rows[b]] = z[i, b]
            filled[rows] = (filled[rows] + accept.long().sum(0)).clamp(max=num)
        return out

    def laplace_proposal(self, x: Tensor) -> Distribution:
        """A Laplace (double-exponential) q at the mode with scale equal to the Laplace sd."""
        mode, sd = self.laplace(x)
        dtype = self.a.dtype
        return Independent(Laplace(mode.to(dtype), sd.to(dtype), validate_args=False), 1, validate_args=False)


# ----------------------------------------------------------------------------- truth
@dataclass(frozen=True)
class ProposalTruth:
    """Exact facts about one proposal at each data point, float64 ``[B]``."""

    chi_square: Tensor
    elbo: Tensor
    light: Tensor  # bool: χ² <= MAX_CHI_SQUARE and E_q[w⁴] < ∞


@dataclass(frozen=True)
class Problem:
    """A model the estimator sees, its data and the exact truth the kit keeps.

    Attributes
    ----------
    name : str
    model : ContractModel
        What the estimator receives.
    x : Tensor
        Data points ``[B, D]`` (float64).
    log_px : Tensor
        Exact log p(x), ``[B]``.
    encoder, prior : ProposalTruth
        χ², ELBO and light-tailedness of the model's encoder and of the prior as proposals.
    proposals : dict
        Extra proposals for the ``proposal=`` option: name -> (make(x_rows) -> Distribution,
        ProposalTruth). ``"posterior"`` is the exact posterior where it is known.
    heavy : bool
        The encoder's weights have infinite fourth moment somewhere (z-tests do not apply).
    """

    name: str
    model: ContractModel
    x: Tensor
    log_px: Tensor
    encoder: ProposalTruth
    prior: ProposalTruth
    proposals: dict[str, tuple[Callable[[Tensor], Distribution], ProposalTruth]] = field(default_factory=dict)
    heavy: bool = False

    def truth_for(self, spec: Any) -> ProposalTruth:
        """The truth of the proposal the estimator samples from by its tags (encoder or prior)."""
        return self.encoder if spec.tags.needs_proposal else self.prior

    def rows(self, keep: Tensor) -> "Problem":
        """The problem restricted to the data points where ``keep`` is True."""
        pick = lambda t: ProposalTruth(t.chi_square[keep], t.elbo[keep], t.light[keep])  # noqa: E731
        extra = {n: (make, pick(t)) for n, (make, t) in self.proposals.items()}
        return Problem(self.name, self.model, self.x[keep], self.log_px[keep], pick(self.encoder), pick(self.prior),
                       extra, self.heavy)


def _moment_finite(post: MultivariateNormal, q: Distribution, order: int) -> Tensor:
    """E_q[(p/q)^order] < ∞ for Gaussians: order S_p⁻¹ − (order − 1) S_q⁻¹ positive definite."""
    _, s_p = gaussian_moments(post)
    _, s_q = gaussian_moments(q)
    s_p, s_q = torch.broadcast_tensors(s_p, s_q)
    lam = order * torch.linalg.inv(s_p) - (order - 1) * torch.linalg.inv(s_q)
    return torch.linalg.cholesky_ex(0.5 * (lam + lam.mT)).info == 0


def _gaussian_truth(model: LinearGaussian, x: Tensor, q: Distribution | None) -> ProposalTruth:
    qm = model._q64(q, x)
    chi2 = model.chi_square(qm, x)
    light = (chi2 <= MAX_CHI_SQUARE) & _moment_finite(model.posterior(x), qm, 4)
    return ProposalTruth(chi2, model.elbo(x, qm), light)


def _standard_prior(model: LinearGaussian, x: Tensor) -> Distribution:
    zeros = torch.zeros(x.shape[0], model.latent_dim, dtype=torch.float64)
    return Independent(Normal(zeros, torch.ones_like(zeros)), 1)


def _linear_problem(name: str, base: LinearGaussian, family: str, opts: dict, seed: int, points: int = 3) -> Problem:
    model = base.with_encoder(family, **opts)
    x = model.sample(points, generator=torch.Generator().manual_seed(seed))
    post = model.posterior(x)
    post_truth = ProposalTruth(torch.zeros(points, dtype=torch.float64), model.log_marginal(x),
                               torch.ones(points, dtype=torch.bool))
    enc = _gaussian_truth(model, x, None)
    heavy = bool((~_moment_finite(post, model._q64(None, x), 4)).any())
    return Problem(
        name, ContractModel(lambda dtype, device: model.to(dtype, device)), x, model.log_marginal(x), enc,
        _gaussian_truth(model, x, _standard_prior(model, x)),
        {"posterior": (_posterior_maker(model), post_truth)}, heavy)


def _posterior_maker(model: LinearGaussian) -> Callable[[Tensor], Distribution]:
    def make(x_rows: Tensor) -> Distribution:
        post = model.posterior(x_rows)
        # A contiguous [B, d, d] factor: a stride-0 shared factor is slow on CUDA at large K.
        tril = post.scale_tril.expand(x_rows.shape[0], -1, -1).contiguous()
        return MultivariateNormal(post.loc.to(x_rows.dtype), scale_tril=tril.to(x_rows.dtype), validate_args=False)

    return make


def _small_model() -> LinearGaussian:
    W = torch.tensor([[0.8, -0.3], [0.2, 0.6], [-0.4, 0.5]], dtype=torch.float64)
    return LinearGaussian(W, torch.tensor([0.5, -1.0, 0.3]), torch.tensor([0.5, 0.8, 0.6]))


def _factor_analysis() -> LinearGaussian:
    base = LinearGaussian.random(6, 3, seed=1)
    return LinearGaussian(0.35 * base.W64, base.b64, base.noise_var64)


def _affine_prior_problem() -> Problem:
    base = _small_model().with_encoder("mean-field", scale=1.3)
    mean = torch.tensor([1.5, -2.0], dtype=torch.float64)
    tril = torch.linalg.cholesky(torch.tensor([[4.0, 1.2], [1.2, 0.8]], dtype=torch.float64))
    x = base.sample(3, generator=torch.Generator().manual_seed(110))
    wrap64 = AffinePriorGaussian(base, mean, tril)

    def make_posterior(x_rows: Tensor) -> Distribution:
        pushed = wrap64.push(base.posterior(x_rows))
        return MultivariateNormal(pushed.loc.to(x_rows.dtype), scale_tril=pushed.scale_tril.to(x_rows.dtype),
                                  validate_args=False)

    post_truth = ProposalTruth(torch.zeros(3, dtype=torch.float64), base.log_marginal(x), torch.ones(3, dtype=torch.bool))
    return Problem(
        "2d-affine-prior",
        ContractModel(lambda dtype, device: AffinePriorGaussian(base.to(dtype, device), mean, tril)),
        x, base.log_marginal(x), _gaussian_truth(base, x, None), _gaussian_truth(base, x, _standard_prior(base, x)),
        {"posterior": (make_posterior, post_truth)})


# ----------------------------------------------------------------------------- quadrature truth (scipy)
_LOGISTIC_A = torch.tensor([1.5, -1.0, 0.8, 2.0, -0.6, 1.2], dtype=torch.float64)
_LOGISTIC_C = torch.tensor([0.3, -0.5, 1.0, -1.5, 0.2, 0.0], dtype=torch.float64)
_LOGISTIC_PRIOR = (0.5, 1.5)
_LOGISTIC_X = torch.tensor([[1, 0, 1, 1, 0, 1], [0, 1, 0, 0, 1, 0], [1, 1, 1, 0, 0, 1]], dtype=torch.float64)


def _quad(fn: Callable[[float], float], centre: float, width: float) -> float:
    from scipy import integrate

    value, _ = integrate.quad(fn, centre - 30 * width, centre + 30 * width, points=[centre], limit=200,
                              epsabs=0.0, epsrel=1e-10)
    return value


def _scipy_log_density(dist: Distribution, i: int) -> Callable[[float], float]:
    """The scipy log density of row ``i`` of a univariate torch distribution (an independent reference)."""
    from scipy import stats

    loc, scale = dist.loc[i, 0].item(), dist.scale[i, 0].item()
    if isinstance(dist, StudentT):
        frozen = stats.t(float(dist.df.flatten()[0]), loc, scale)
    elif isinstance(dist, Laplace):
        frozen = stats.laplace(loc, scale)
    elif isinstance(dist, Normal):
        frozen = stats.norm(loc, scale)
    else:
        raise TypeError(f"no scipy counterpart for {type(dist).__name__}")
    return frozen.logpdf


def _logistic_truth(model: LogisticModel, x: Tensor, make_q: Callable[[Tensor], Distribution]) -> tuple[Tensor, ProposalTruth]:
    """log p(x), and χ² and ELBO of q, by adaptive quadrature in float64 numpy (scipy)."""
    from scipy import special

    a, c = model.a.double().numpy(), model.c.double().numpy()
    mode, sd = (t.squeeze(-1).numpy() for t in model.laplace(x))
    q = make_q(x)
    log_px, chi2, elbo = [], [], []
    m0, s0 = model.prior_mean, model.prior_sd
    log_norm0 = -0.5 * math.log(2 * math.pi) - math.log(s0)
    for i, row in enumerate(x.numpy()):
        def log_joint(z: float, row=row) -> float:
            eta = a * z + c
            return float(np.sum(row * special.log_expit(eta) + (1 - row) * special.log_expit(-eta))
                         + log_norm0 - 0.5 * ((z - m0) / s0) ** 2)

        peak = log_joint(mode[i])
        mass = _quad(lambda z: math.exp(log_joint(z) - peak), mode[i], sd[i])
        lp = peak + math.log(mass)
        log_q = _scipy_log_density(q.base_dist, i)
        second = _quad(lambda z: math.exp(2 * (log_joint(z) - lp) - log_q(z)), mode[i], sd[i])
        e_log_w = _quad(lambda z: math.exp(log_q(z)) * (log_joint(z) - log_q(z)), mode[i], 3 * sd[i])
        log_px.append(lp)
        chi2.append(second - 1)
        elbo.append(e_log_w)
    chi2_t = torch.tensor(chi2, dtype=torch.float64)
    return torch.tensor(log_px, dtype=torch.float64), ProposalTruth(chi2_t, torch.tensor(elbo, dtype=torch.float64),
                                                                     chi2_t <= MAX_CHI_SQUARE)


def _logistic_problem() -> Problem:
    def build(dtype: torch.dtype, device: Any) -> LogisticModel:
        return LogisticModel(_LOGISTIC_A, _LOGISTIC_C, *_LOGISTIC_PRIOR, dtype, device)

    model64 = build(torch.float64, "cpu")
    x = _LOGISTIC_X
    log_px, enc = _logistic_truth(model64, x, model64.proposal)
    _, lap = _logistic_truth(model64, x, model64.laplace_proposal)
    prior_q = lambda rows: Independent(Normal(torch.full((rows.shape[0], 1), _LOGISTIC_PRIOR[0], dtype=torch.float64),  # noqa: E731
                                              torch.full((rows.shape[0], 1), _LOGISTIC_PRIOR[1], dtype=torch.float64)), 1)
    _, pri = _logistic_truth(model64, x, prior_q)
    # Every moment of the weights is finite: Student-t and Laplace tails are heavier than the
    # posterior's Gaussian tail, and the prior is the posterior's own tail.
    return Problem("1d-logistic", ContractModel(build), x, log_px, enc, pri,
                   {"laplace": (lambda rows: build(rows.dtype, rows.device).laplace_proposal(rows), lap)})


@cache
def reference_problems() -> tuple[Problem, ...]:
    """Every problem (built once; the quadrature truth takes well under a second)."""
    return (
        _linear_problem("2d-wide-q", _small_model(), "exact", dict(scale=1.5), 100),
        _linear_problem("2d-shifted-q", _small_model(), "exact", dict(scale=1.3, shift=0.6), 101),
        _linear_problem("3d-mean-field-q", _factor_analysis(), "mean-field", dict(scale=1.6), 102),
        _affine_prior_problem(),
        _logistic_problem(),
        _linear_problem("2d-exact-q", _small_model(), "exact", {}, 103),
        _linear_problem("2d-narrow-q", _small_model(), "exact", dict(scale=0.72), 104),
    )


def problem(name: str) -> Problem:
    """The reference problem called ``name``."""
    for p in reference_problems():
        if p.name == name:
            return p
    raise KeyError(f"no reference problem {name!r}; have {[p.name for p in reference_problems()]}")


def exact_posterior_samples(model: Any, x: Tensor, num: int, generator: torch.Generator) -> Tensor | None:
    """Independent exact draws z ~ p(z | x), ``[num, B, d]`` in x's dtype, for estimators that need
    them (reverse AIS); None where the model offers no exact posterior.

    The kit keeps this out of the estimator's reach: a `ContractModel` exposes only the contract,
    and the draws come from the model inside it (closed form, or rejection for the logistic model).
    """
    from vaebench.base import truth_of
    from vaebench.sampling import sample

    inner = model._inner if isinstance(model, ContractModel) else model
    if isinstance(inner, LogisticModel):
        return inner.posterior_samples(x, num, generator)
    post = inner.posterior(x) if isinstance(inner, AffinePriorGaussian) else truth_of(inner).posterior(x)
    if post is None:
        return None
    return sample(post, (num,), generator).to(x.dtype)


def replicate(x: Tensor, replicates: int) -> Tensor:
    """``x`` ``[B, D]`` stacked ``replicates`` times, ``[R * B, D]``; row r*B + b is point b."""
    return x.repeat(replicates, 1)


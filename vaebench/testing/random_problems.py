"""Reference problems drawn at random from a declared space, with exact truth: what the kit explores.

A problem is a linear-Gaussian model (closed-form log p(x), posterior, ELBO and χ²) seen through
a random reparameterisation of its latent space, z = m + L u, which changes the prior without
changing p(x) (and leaves KL and χ² of any proposal pushed through the same map unchanged):

- data dimension D and latent dimension d over wide ranges (D up to MNIST's 784 for exact checks);
- priors: standard N(0, I), shifted N(m, I), diagonal with unequal scales N(m, diag(s²)) (both as
  ``Independent(Normal)``), correlated N(m, L Lᵀ) (``MultivariateNormal``);
- encoders: mean-field or full-covariance Gaussians, over-dispersed and shifted, and Student-t
  (heavy-tailed proposals with light-tailed weights), or the exact posterior (zero variance);
- batches mixing typical rows with far-out ones, hundreds of nats less likely.

`draw_problem(rng, ...)` builds one; every choice is recorded in ``Problem.name`` so a failure
names the configuration it was found on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal, StudentT

from vaebench.models import LinearGaussian
from vaebench.models.gaussian import gaussian_moments
from vaebench.testing.problems import (
    MAX_CHI_SQUARE,
    ContractModel,
    LogisticModel,
    Problem,
    ProposalTruth,
    _logistic_truth,
    _moment_finite,
)

__all__ = ["PRIORS", "ENCODERS", "ProblemConfig", "draw_problem", "build_problem"]

PRIORS = ("standard", "shifted", "diagonal", "correlated")
LIKELIHOODS = ("gaussian", "bernoulli")
ENCODERS = ("mean-field", "full", "student-t", "exact")


@dataclass(frozen=True)
class ProblemConfig:
    """Everything that defines a random problem (its repr is the reproduction)."""

    data_dim: int
    latent_dim: int
    prior: str
    encoder: str
    points: int
    far_out: int = 0
    encoder_scale: float = 1.0
    encoder_shift: float = 0.0
    student_df: float = 5.0
    seed: int = 0
    likelihood: str = "gaussian"  # or "bernoulli": x_j | z ~ Bernoulli(sigmoid(a_j z + c_j)), d = 1, quadrature truth
    weak_likelihood: bool = False  # scale W down until the prior is a light-tailed proposal
    diagonal_posterior: bool = False  # WᵀΨ⁻¹W diagonal: the mean-field family holds the exact posterior

    def __post_init__(self) -> None:
        if self.prior not in PRIORS or self.encoder not in ENCODERS:
            raise ValueError(f"prior must be one of {PRIORS} and encoder one of {ENCODERS}")
        if min(self.data_dim, self.latent_dim, self.points) < 1 or not 0 <= self.far_out <= self.points:
            raise ValueError("data_dim, latent_dim and points must be >= 1 and 0 <= far_out <= points")
        if self.diagonal_posterior and self.data_dim < self.latent_dim:
            raise ValueError("a diagonal posterior needs data_dim >= latent_dim")
        if self.encoder == "student-t" and (self.latent_dim > 3 or self.prior == "correlated"):
            raise ValueError("a Student-t encoder needs latent_dim <= 3 and a factorised prior")
        if self.likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}")
        if self.likelihood == "bernoulli" and (self.latent_dim != 1 or self.prior == "correlated"
                                               or self.encoder not in ("student-t", "mean-field")):
            raise ValueError("the Bernoulli model has d = 1, a factorised prior and a Student-t or Gaussian encoder")

    def describe(self) -> str:
        enc = self.encoder if self.encoder == "exact" else (
            f"{self.encoder}(scale={self.encoder_scale:.3g}, shift={self.encoder_shift:.3g}"
            + (f", df={self.student_df:.3g})" if self.encoder == "student-t" else ")"))
        far = f", {self.far_out} far-out" if self.far_out else ""
        diag = ", diagonal posterior" if self.diagonal_posterior else ""
        diag += ", Bernoulli likelihood" if self.likelihood == "bernoulli" else ""
        return (f"D={self.data_dim}, d={self.latent_dim}, prior={self.prior}, encoder={enc}{diag}, B={self.points}{far}, "
                f"seed={self.seed}")


class ReparameterisedModel:
    """``base`` with its latent seen as z = m + L u (u the base's latent): a prior N(m, L Lᵀ).

    ``scales`` (a vector, diagonal L) keeps priors and pushed mean-field or Student-t proposals
    factorised (``Independent``), so that no Cholesky or triangular solve is needed (bfloat16 on a CPU).
    """

    def __init__(self, base: LinearGaussian, encoder: str, mean: Tensor, scales: Tensor | None,
                 scale_tril: Tensor | None, student: tuple[float, float] | None) -> None:
        self.base, self.encoder, self.student = base, encoder, student
        work = dict(dtype=base.dtype, device=base.device)
        self.mean = mean.to(**work)
        self.scales = None if scales is None else scales.to(**work)
        self.scale_tril = None if scale_tril is None else scale_tril.to(**work)
        self.data_dim, self.dtype, self.device = base.data_dim, base.dtype, base.device
        if self.scale_tril is not None:
            self._prior: Distribution = MultivariateNormal(self.mean, scale_tril=self.scale_tril, validate_args=False)
        else:
            self._prior = Independent(Normal(self.mean, self.scales, validate_args=False), 1, validate_args=False)

    @property
    def prior(self) -> Distribution:
        return self._prior

    def _to_u(self, z: Tensor) -> Tensor:
        if self.scale_tril is None:
            return (z - self.mean) / self.scales
        return torch.linalg.solve_triangular(self.scale_tril, (z - self.mean).unsqueeze(-1), upper=False).squeeze(-1)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        return self.base.log_likelihood(x, self._to_u(z))

    def proposal_over_u(self, x: Tensor) -> Distribution:
        """q(u | x) in the working dtype (the base's encoder, or a Student-t around the posterior)."""
        if self.encoder != "student-t":
            return self.base.proposal(x)
        df, factor = self.student
        post = self.base.posterior(x)
        loc = post.loc.to(self.dtype)
        sd = torch.diagonal(post.covariance_matrix, dim1=-2, dim2=-1).sqrt().to(self.dtype)
        return Independent(StudentT(torch.full_like(loc, df), loc, factor * sd, validate_args=False), 1,
                           validate_args=False)

    def push(self, q: Distribution) -> Distribution:
        """A distribution over u mapped to z = m + L u."""
        if self.scale_tril is None:
            base = q.base_dist if isinstance(q, Independent) else None
            if isinstance(base, StudentT):
                return Independent(StudentT(base.df, self.mean + self.scales * base.loc, self.scales * base.scale,
                                            validate_args=False), 1, validate_args=False)
            if isinstance(base, Normal):
                return Independent(Normal(self.mean + self.scales * base.loc, self.scales * base.scale,
                                          validate_args=False), 1, validate_args=False)
            mean, cov = gaussian_moments(q, self.dtype)
            tril = self.scales.unsqueeze(-1) * torch.linalg.cholesky(cov)
            return MultivariateNormal(self.mean + self.scales * mean, scale_tril=tril, validate_args=False)
        mean, cov = gaussian_moments(q, self.dtype)
        chol = torch.linalg.cholesky(cov)
        return MultivariateNormal(self.mean + mean @ self.scale_tril.mT, scale_tril=self.scale_tril @ chol,
                                  validate_args=False)

    def proposal(self, x: Tensor) -> Distribution:
        return self.push(self.proposal_over_u(x))


def _orthonormal(rng: np.random.Generator, rows: int, cols: int) -> Tensor:
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return torch.as_tensor(q * np.sign(np.diag(r)), dtype=torch.float64)


def _base_model(config: ProblemConfig, rng: np.random.Generator) -> LinearGaussian:
    D, d = config.data_dim, config.latent_dim
    noise = torch.as_tensor(rng.uniform(0.2, 1.5, D), dtype=torch.float64)
    if config.diagonal_posterior:
        # A diagonal posterior (WᵀΨ⁻¹W diagonal): the mean-field family contains it exactly.
        gains = torch.as_tensor(rng.uniform(0.5, 2.5, d), dtype=torch.float64)
        W = noise.sqrt()[:, None] * _orthonormal(rng, D, d) * gains
    else:
        W = torch.as_tensor(rng.standard_normal((D, d)), dtype=torch.float64) * (1.5 / math.sqrt(max(1, d)))
    b = torch.as_tensor(rng.normal(0, 1, D), dtype=torch.float64)
    return LinearGaussian(W, b, noise)


def _prior_map(config: ProblemConfig, rng: np.random.Generator) -> tuple[Tensor, Tensor | None, Tensor | None]:
    d = config.latent_dim
    mean = torch.zeros(d, dtype=torch.float64)
    if config.prior != "standard":
        mean = torch.as_tensor(rng.uniform(-3, 3, d), dtype=torch.float64)
    if config.prior in ("standard", "shifted"):
        return mean, torch.ones(d, dtype=torch.float64), None
    if config.prior == "diagonal":
        scales = np.exp(rng.uniform(math.log(0.2), math.log(5.0), d))
        if d > 1:  # unequal by construction: the smallest and largest differ at least 3x
            scales[0], scales[-1] = 0.3, 3.0
        return mean, torch.as_tensor(scales, dtype=torch.float64), None
    tril = np.tril(rng.normal(0, 0.6, (d, d)), -1) + np.diag(np.exp(rng.uniform(-1, 1, d)))
    return mean, None, torch.as_tensor(tril, dtype=torch.float64)


def _standard_normal(batch: int, d: int) -> Distribution:
    zeros = torch.zeros(batch, d, dtype=torch.float64)
    return Independent(Normal(zeros, torch.ones_like(zeros)), 1)


def _gaussian_truth(base: LinearGaussian, x: Tensor, q_u: Distribution) -> ProposalTruth:
    chi2 = base.chi_square(q_u, x)
    light = (chi2 <= MAX_CHI_SQUARE) & _moment_finite(base.posterior(x), q_u, 4)
    return ProposalTruth(chi2, base.elbo(x, q_u), light)


def _student_truth(base: LinearGaussian, x: Tensor, q_u: Independent, rng: np.random.Generator) -> ProposalTruth:
    """ELBO in closed form (E_q of a Gaussian log density needs only q's mean and covariance, plus
    the entropy of the t); χ² by float64 Monte Carlo with 2¹⁶ draws, used only to classify points
    as light-tailed (every moment of the weights is finite: the t's tails are heavier)."""
    post = base.posterior(x)
    t = q_u.base_dist
    df, loc, scale = t.df.double(), t.loc.double(), t.scale.double()
    var = scale**2 * df / (df - 2)
    prec = post.precision_matrix
    diff = loc - post.loc
    e_log_post = -0.5 * (post.loc.shape[-1] * math.log(2 * math.pi)
                         + 2 * torch.log(torch.diagonal(post.scale_tril, dim1=-2, dim2=-1)).sum(-1)
                         + (torch.diagonal(prec, dim1=-2, dim2=-1) * var).sum(-1)
                         + (diff.unsqueeze(-2) @ prec @ diff.unsqueeze(-1)).squeeze((-2, -1)))
    q64 = Independent(StudentT(df, loc, scale), 1)
    elbo = base.log_marginal(x) + e_log_post + q64.entropy()
    with torch.random.fork_rng(devices=[]):  # StudentT.sample draws from the global stream: seed a fork of it
        torch.manual_seed(int(rng.integers(2**31)))
        u = q64.sample((2**16,))
    log_ratio = post.log_prob(u) - q64.log_prob(u)
    chi2 = torch.exp(2 * log_ratio).mean(0) - 1
    return ProposalTruth(chi2, elbo, chi2 <= MAX_CHI_SQUARE)


def _cast(dist: Distribution, dtype: torch.dtype) -> Distribution:
    if isinstance(dist, Independent):
        return Independent(Normal(dist.base_dist.loc.to(dtype), dist.base_dist.scale.to(dtype), validate_args=False), 1,
                           validate_args=False)
    return MultivariateNormal(dist.loc.to(dtype), scale_tril=dist.scale_tril.to(dtype), validate_args=False)


def build_problem(config: ProblemConfig) -> Problem:
    """The problem ``config`` describes (deterministic in ``config.seed``)."""
    rng = np.random.default_rng(config.seed)
    return _build_bernoulli(config, rng) if config.likelihood == "bernoulli" else _build(config, rng)


class RandomLogisticModel(LogisticModel):
    """The kit's logistic model with a Student-t or a Gaussian encoder at the posterior mode."""

    def __init__(self, *args: Any, encoder: str = "student-t", scale: float = 1.2, df: float = 5.0) -> None:
        super().__init__(*args)
        self.encoder, self.scale, self.df = encoder, scale, df

    def proposal(self, x: Tensor) -> Distribution:
        mode, sd = (t.to(self.a.dtype) for t in self.laplace(x))
        if self.encoder == "student-t":
            base: Distribution = StudentT(torch.full_like(mode, self.df), mode, self.scale * sd, validate_args=False)
        else:
            # The posterior's tails are the prior's (times a log-linear factor): a Gaussian q narrower than
            # √3/2 prior sd would give weights with an infinite fourth moment, narrower than 1/√2 an infinite χ².
            base = Normal(mode, torch.clamp_min(self.scale * sd, 0.9 * self.prior_sd), validate_args=False)
        return Independent(base, 1, validate_args=False)


def _build_bernoulli(config: ProblemConfig, rng: np.random.Generator) -> Problem:
    """A logistic model with random weights; truth by adaptive quadrature (scipy), as for ``1d-logistic``."""
    D, n = config.data_dim, config.points
    a = torch.as_tensor(rng.normal(0, 1.2, D), dtype=torch.float64)
    c = torch.as_tensor(rng.normal(0, 1.0, D), dtype=torch.float64)
    mean = 0.0 if config.prior == "standard" else float(rng.uniform(-1.5, 1.5))
    sd = 1.0 if config.prior in ("standard", "shifted") else float(np.exp(rng.uniform(math.log(0.4), math.log(3.0))))
    options = dict(encoder=config.encoder, scale=config.encoder_scale, df=config.student_df)
    g = torch.Generator().manual_seed(int(rng.integers(2**31)))
    for _ in range(30):
        def build(dtype: torch.dtype, device: Any, a=a) -> RandomLogisticModel:
            return RandomLogisticModel(a, c, mean, sd, dtype, device, **options)

        model64 = build(torch.float64, "cpu")
        z = mean + sd * torch.randn(n, 1, generator=g, dtype=torch.float64)
        x = torch.bernoulli(torch.sigmoid(z * a + c), generator=g)
        prior_q = lambda rows: Independent(Normal(torch.full((rows.shape[0], 1), mean, dtype=torch.float64),  # noqa: E731
                                                  torch.full((rows.shape[0], 1), sd, dtype=torch.float64)), 1)
        log_px, prior = _logistic_truth(model64, x, prior_q)
        if not config.weak_likelihood or float(prior.chi_square.max()) <= MAX_CHI_SQUARE / 2:
            break
        a = 0.7 * a
    _, encoder = _logistic_truth(model64, x, model64.proposal)
    return Problem(f"a random problem (seed {config.seed})", ContractModel(build), x, log_px, encoder, prior, {},
                   heavy=False)


def _build(config: ProblemConfig, rng: np.random.Generator) -> Problem:
    base = _base_model(config, rng)
    d, n = config.latent_dim, config.points
    x = base.sample(n, generator=torch.Generator().manual_seed(int(rng.integers(2**31))))
    if config.weak_likelihood:
        for _ in range(30):  # the prior as proposal: χ²(p(z|x) ‖ p(z)) ≤ MAX_CHI_SQUARE on typical rows
            chi2 = base.chi_square(_standard_normal(n, d), x)
            if float(chi2.max()) <= MAX_CHI_SQUARE / 2:
                break
            base = LinearGaussian(0.7 * base.W64, base.b64, base.noise_var64)
            x = base.b64 + 0.7 * (x - base.b64)
    if config.far_out:
        far = min(config.far_out, n)
        factor = torch.as_tensor(rng.uniform(3.0, 6.0, (far, 1)), dtype=torch.float64)
        x = torch.cat([x[: n - far], base.b64 + factor * (x[n - far:] - base.b64)])
    family = {"mean-field": "mean-field", "full": "exact", "student-t": "exact",
              # the exact posterior, factorised where it is (no Cholesky: bfloat16 works on a CPU)
              "exact": "mean-field" if config.diagonal_posterior else "exact"}[config.encoder]
    options = {} if config.encoder in ("exact", "student-t") else dict(scale=config.encoder_scale,
                                                                       shift=config.encoder_shift)
    base = base.with_encoder(family, **options)
    mean, scales, tril = _prior_map(config, rng)
    student = (config.student_df, config.encoder_scale) if config.encoder == "student-t" else None

    def build(dtype: torch.dtype, device: Any) -> ReparameterisedModel:
        return ReparameterisedModel(base.to(dtype, device), config.encoder, mean, scales, tril, student)

    model64 = build(torch.float64, "cpu")
    q_u = model64.proposal_over_u(x)
    encoder = _student_truth(base, x, q_u, rng) if student else _gaussian_truth(base, x, q_u)
    prior = _gaussian_truth(base, x, _standard_normal(n, d))
    exact = ProposalTruth(torch.zeros(n, dtype=torch.float64), base.log_marginal(x), torch.ones(n, dtype=torch.bool))
    def post_maker(rows: Tensor) -> Distribution:
        """The exact posterior over z for ``rows``, computed in float64 and cast to their dtype."""
        post = base.posterior(rows.double())
        if config.diagonal_posterior:  # factorised: no Cholesky or solve in the rows' dtype
            sd = torch.diagonal(post.covariance_matrix, dim1=-2, dim2=-1).sqrt()
            post = Independent(Normal(post.loc, sd), 1)
        return _cast(model64.push(post), rows.dtype)

    return Problem(f"a random problem (seed {config.seed})", ContractModel(build), x, base.log_marginal(x), encoder, prior,
                   {"posterior": (post_maker, exact)}, heavy=False)


def draw_problem(rng: np.random.Generator, *, max_data_dim: int, max_latent_dim: int, max_points: int,
                 encoders: tuple[str, ...] = ENCODERS, priors: tuple[str, ...] = PRIORS,
                 weak_likelihood: bool = False, far_out: bool = True, bernoulli: float = 0.0) -> ProblemConfig:
    """A random `ProblemConfig`: D and B log-uniform, d uniform, a prior and an encoder from those
    allowed (Student-t only for d ≤ 3 and non-correlated priors, where its ELBO and pushed form are exact)."""
    d = int(rng.integers(1, max_latent_dim + 1))
    D = int(round(math.exp(rng.uniform(0, math.log(max_data_dim)))))
    points = int(round(math.exp(rng.uniform(0, math.log(max_points)))))
    prior = priors[int(rng.integers(len(priors)))]
    allowed = [e for e in encoders if e != "student-t" or (d <= 3 and prior != "correlated")]
    encoder = allowed[int(rng.integers(len(allowed)))]
    scale = float(rng.uniform(1.2, 1.6)) if encoder == "student-t" else float(rng.uniform(1.0, 1.5))
    shift = 0.0 if encoder in ("exact", "student-t") else float(rng.uniform(-0.4, 0.4))
    if encoder in ("mean-field", "full"):  # keep χ² light: the per-dimension factor compounds with d
        scale = 1.0 + (scale - 1.0) / math.sqrt(d)
        shift = shift / math.sqrt(d)
    far = int(rng.integers(0, points // 3 + 1)) if far_out and points >= 3 and not weak_likelihood else 0
    diagonal = D >= d and bool(rng.integers(2))
    df, seed = float(rng.uniform(3.5, 10.0)), int(rng.integers(2**31))
    if rng.uniform() < bernoulli:  # binary data through a logistic link: d = 1, a factorised prior
        kind = ("student-t", "mean-field")[int(rng.integers(2))]
        return ProblemConfig(D, 1, prior if prior != "correlated" else "diagonal", kind, points, 0,
                             float(rng.uniform(1.2, 1.6)), 0.0, df, seed, "bernoulli", weak_likelihood)
    return ProblemConfig(D, d, prior, encoder, points, far, scale, shift, df, seed, "gaussian", weak_likelihood,
                         diagonal)

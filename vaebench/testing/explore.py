"""Checks that explore: each claim tested over configurations drawn at random from declared domains.

A fixed grid of K, chunk sizes, dtypes and problems only catches the bugs that live on it. These
checks draw each case at random, under the kit's ``random_state``, from the spaces a claim must
hold over:

- K log-uniform from 1 to 2²⁰ (non-powers of two and values past chunk boundaries come with it),
  ``chunk_size`` log-uniform from 1 to 8192, B from 1 to 300, D up to 784 and d up to 8;
- priors standard, shifted, diagonal with unequal scales and correlated; Gaussian (mean-field,
  full) and Student-t encoders; batches that mix typical and far-out rows
  (`vaebench.testing.random_problems`);
- float64, float32 and bfloat16, with tolerances derived from each dtype's rounding;
- every declared option over its declared domain (`Option.draw`), and both forms of
  ``posterior_samples`` (one shared start ``[B, d]`` per point, or ``[K, B, d]``).

A run's size is a budget (`kit_budget`: ``"default"`` for CI, ``"thorough"`` for
``vaebench check --thorough``, or a number of cases). A failure is shrunk to a smaller
configuration that still fails (the way hypothesis does: one field at a time, towards the
simplest value) and the verdict prints it. Statistical tests share a family-wise false-alarm
rate: each fails beyond max(5, z*) with z* the Bonferroni threshold for `FAMILY_ALPHA` over the
check's tests, so a run of a correct estimator fails a check with probability ≤ 10⁻³ (normal
approximation; measured in benchmarks/results/kit_calibration_explore.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from vaebench.base import EstimatorSpec
from vaebench.ops import effective_sample_size, log_mean_exp
from vaebench.sampling import derived_seed, sample
from vaebench.testing.harness import ZTests, generator, light, passed, run, supports
from vaebench.testing.problems import Problem, replicate
from vaebench.testing.random_problems import ENCODERS, PRIORS, ProblemConfig, build_problem, draw_problem
from vaebench.testing.outcomes import CheckFailure, CheckResult, CheckSkipped
from vaebench.testing.ztests import N_SIGMA

__all__ = ["check_exact_identities_explored", "check_claims_explored", "kit_budget", "Budget", "BUDGETS",
           "FAMILY_ALPHA", "family_threshold"]

FAMILY_ALPHA = 1e-3
SPECIAL = ("keep_log_weights", "proposal", "chunk_size", "posterior_samples")


@dataclass(frozen=True)
class Budget:
    """How many random cases each exploring check draws, and how much work one statistical case may do."""

    exact_cases: int
    claim_cases: int
    claim_work: float = 1.5e7  # tensor elements (samples × points × (D + d + 4) × annealing steps) per statistical case
    shrink_runs: int = 24


BUDGETS = {"default": Budget(exact_cases=14, claim_cases=10), "thorough": Budget(exact_cases=80, claim_cases=60)}
_BUDGET: contextvars.ContextVar[Budget] = contextvars.ContextVar("vaebench_kit_budget", default=BUDGETS["default"])


def _resolve(budget: Any) -> Budget:
    if isinstance(budget, Budget):
        return budget
    if isinstance(budget, str) and budget in BUDGETS:
        return BUDGETS[budget]
    if isinstance(budget, int) and not isinstance(budget, bool) and budget >= 1:
        return Budget(exact_cases=budget, claim_cases=budget)
    raise ValueError(f"budget must be one of {sorted(BUDGETS)}, a number of cases >= 1 or a Budget, got {budget!r}")


@contextlib.contextmanager
def kit_budget(budget: Any) -> Iterator[Budget]:
    """Run the exploring checks inside the block with ``budget`` ("default", "thorough" or a case count)."""
    token = _BUDGET.set(_resolve(budget))
    try:
        yield _BUDGET.get()
    finally:
        _BUDGET.reset(token)


def family_threshold(tests: int) -> float:
    """The |z| a test must exceed so that ``tests`` of them fail together with probability ≤ FAMILY_ALPHA."""
    from scipy import stats

    return max(N_SIGMA, float(stats.norm.isf(FAMILY_ALPHA / (2 * max(1, tests)))))


def _log_uniform_int(rng: np.random.Generator, low: int, high: int) -> int:
    return int(min(high, max(low, round(math.exp(rng.uniform(math.log(low), math.log(high + 1)))))))


# ----------------------------------------------------------------------------- what the estimator sees
class CountingModel:
    """A problem's model that counts the rows (samples × data points) its likelihood evaluates."""

    def __init__(self, model: Any) -> None:
        self._model, self.rows = model, 0
        self.data_dim, self.dtype, self.device = model.data_dim, model.dtype, model.device

    @property
    def prior(self) -> Any:
        return self._model.prior

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        self.rows += z.shape[:-1].numel()
        return self._model.log_likelihood(x, z)

    def proposal(self, x: Tensor) -> Any:
        return self._model.proposal(x)

    def to(self, *args: Any, **kwargs: Any) -> "CountingModel":
        return CountingModel(self._model.to(*args, **kwargs))


# ----------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One configuration: a problem, K, a dtype, options; its repr reproduces it."""

    problem: ProblemConfig
    num_samples: int
    dtype: str = "float64"
    chunk_size: int | None = None
    keep_log_weights: bool | None = None
    shared_start: bool = False
    replicates: int = 1
    options: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        parts = [f"K={self.num_samples}", self.dtype]
        if self.replicates > 1:
            parts.append(f"{self.replicates} replicates")
        if self.chunk_size is not None:
            parts.append(f"chunk_size={self.chunk_size}")
        if self.keep_log_weights is not None:
            parts.append(f"keep_log_weights={self.keep_log_weights}")
        if self.shared_start:
            parts.append("posterior_samples [B, d] (one shared start per point)")
        parts += [f"{k}={v!r}" for k, v in self.options]
        return ", ".join(parts) + f" on {self.problem.describe()}"

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)


def _cost_per_sample(spec: EstimatorSpec, options: dict[str, Any]) -> float:
    """Likelihood-gradient evaluations per sample: 1, or T·(L + 1) for annealing estimators."""
    if not spec.tags.needs_grad:
        return 1.0
    merged = {**spec.kit_defaults, **options}
    steps = merged.get("num_steps") or 1
    leapfrog = merged.get("leapfrog_steps") or 1
    return float(steps * (leapfrog + 1) + 4)


def _draw_options(spec: EstimatorSpec, rng: np.random.Generator, always: bool = False) -> tuple[tuple[str, Any], ...]:
    """Each declared option (beyond the special four) drawn from its domain half the time (``always``: every time)."""
    drawn = []
    for option in spec.options:
        if option.name in SPECIAL or not option.explorable():
            continue
        if always or rng.uniform() < 0.5:
            drawn.append((option.name, option.draw(rng)))
    return tuple(drawn)


def _zero_variance(spec: EstimatorSpec) -> bool:
    """With the exact posterior as the proposal every weight is p(x): an estimator that samples from
    the proposal and aggregates weights (or their logs) returns log p(x) exactly, at any K."""
    t = spec.tags
    return t.needs_proposal and (t.importance_weighted or t.elbo_in_expectation or t.exact_at_posterior)


# ----------------------------------------------------------------------------- running a case
def _run_case(spec: EstimatorSpec, case: Case, random_state: int | None, tag: str,
              x: Tensor | None = None) -> tuple[Problem, Any, CountingModel, Tensor]:
    prob = build_problem(case.problem)
    dtype = case.torch_dtype
    model = CountingModel(prob.model.to(dtype))
    x = (prob.x if x is None else x).to(dtype)
    options = dict(case.options)
    if case.chunk_size is not None:
        options["chunk_size"] = case.chunk_size
    if case.keep_log_weights is not None:
        options["keep_log_weights"] = case.keep_log_weights
    g = generator(random_state, tag, repr(case))
    if spec.tags.needs_exact_posterior and supports(spec, "posterior_samples"):
        post = prob.proposals["posterior"][0](x.double())
        shape = () if case.shared_start else (case.num_samples,)
        options["posterior_samples"] = sample(post, shape, generator(random_state, tag, "start", repr(case))).to(dtype)
    est = run(spec, model, x, case.num_samples, g, **options)
    return prob, est, model, x


def _rounding_tolerance(prob: Problem, dtype: torch.dtype, x: Tensor, k: int, random_state: int | None) -> Tensor:
    """How far from log p(x) a correct zero-variance estimate in ``dtype`` may land, per point ``[B]``.

    Measured on the problem itself, independently of the estimator: 1024 draws from the exact
    posterior, their log weights evaluated in ``dtype`` (every weight is p(x) in exact arithmetic):
    twice the largest rounding error seen, or the error of their log-mean-exp plus 3 standard
    deviations, whichever is larger; plus one unit in the last place of the output in ``dtype`` (the
    estimate is returned in it) and the rounding of log K. float64 gives about 1e-12 relative."""
    eps = torch.finfo(dtype).eps
    lp = prob.log_px
    out_ulp = eps * torch.exp2(torch.floor(torch.log2(lp.abs().clamp_min(1.0))))
    base = out_ulp + 4 * eps * math.log(k + 1) + 1e-12 * (1 + lp.abs())
    if dtype == torch.float64:
        return base + 64 * eps * (1 + lp.abs())
    make = prob.proposals["posterior"][0]
    m = prob.model.to(dtype)
    q64, q = make(x.double()), make(x)
    z = sample(q64, (1024,), generator(random_state, "rounding")).to(dtype)
    lw = m.log_likelihood(x, z).double() + m.prior.log_prob(z).double() - q.log_prob(z).double()
    delta = lw - lp  # [1024, B]
    # log-mean-exp of the estimator's K rounding errors lies between their min and max: with K = 1 it is
    # one of them (twice the largest seen here), at large K their log-mean-exp (plus 3 SD).
    return base + torch.maximum(2 * delta.abs().amax(0), log_mean_exp(delta).abs() + 3 * delta.std(0))


def _exact_failures(spec: EstimatorSpec, case: Case, random_state: int | None) -> str | None:
    """What is wrong on ``case`` (a sentence), or None: the exact identities of the contract."""
    try:
        prob, est, model, x = _run_case(spec, case, random_state, "exact")
    except CheckSkipped:
        raise
    except Exception as exc:  # noqa: BLE001 - the estimator broke on a valid input: that is the finding
        return f"raised {type(exc).__name__}: {str(exc)[:300]}"
    k, b, dtype = case.num_samples, x.shape[0], case.torch_dtype
    eps = torch.finfo(dtype).eps
    lp = est.log_px.double()
    if est.log_px.dtype != dtype:
        return f"log_px is {est.log_px.dtype} for {dtype} input"
    if not bool(torch.isfinite(lp).all()):
        return f"log_px is not finite: {lp[~torch.isfinite(lp)][:3].tolist()}"
    scale = 1.0 + float(lp.abs().max())
    if est.log_weights is not None:
        lw = est.log_weights.double()
        implied = lw.mean(0) if spec.tags.elbo_in_expectation else log_mean_exp(lw)
        gap = float((lp - implied).abs().max())
        if not gap <= 64 * eps * (scale + math.log(k + 1)):
            return (f"log_px differs from the aggregate of the returned [K, B] log weights by up to {gap:.3g}: the "
                    "kept weights are not the ones averaged (a buffer written at the wrong offset, dropped chunks?)")
    if case.keep_log_weights is True and est.log_weights is None:
        return "keep_log_weights=True returned no log weights"
    if case.keep_log_weights is False and est.log_weights is not None:
        return "keep_log_weights=False still returned log weights"
    if est.ess is not None:
        ess = est.ess.double()
        slack = max(1e-6, 8 * eps) * k
        if bool(((ess < 1 - slack) | (ess > k + slack) | ~torch.isfinite(ess)).any()):
            return f"ess outside [1, K = {k}]: {ess[(ess < 1 - slack) | (ess > k + slack)][:3].tolist()}"
        if est.log_weights is not None:
            implied_ess = effective_sample_size(est.log_weights.double())
            rel = float(((ess - implied_ess).abs() / implied_ess).max())
            if rel > max(1e-5, 64 * eps):
                return f"ess differs from (Σw)²/Σw² of the returned weights by up to {rel:.3g} (relative)"
    if est.stderr is not None and bool(((est.stderr.double() < 0) | ~torch.isfinite(est.stderr.double())).any()):
        return "stderr negative or not finite"
    if spec.tags.stochastic and model.rows < k * b:
        return (f"the likelihood was evaluated at {model.rows} (sample, point) pairs for K = {k}, B = {b}: fewer than "
                "K·B, so not all K samples can count (a cap on K? samples dropped past a chunk?)")
    if _zero_variance(spec) and case.problem.encoder == "exact":
        tol = _rounding_tolerance(prob, dtype, x, k, random_state)
        err = (lp - prob.log_px).abs()
        if bool((err > tol).any()):
            i = int(torch.argmax(err - tol))
            return (f"with the exact posterior as the proposal every weight is p(x), yet log p̂ − log p = "
                    f"{(lp - prob.log_px)[i].item():+.4g} at point {i}, log p = {prob.log_px[i].item():.4g} (allowed "
                    f"{tol[i].item():.3g} from {case.dtype} rounding)")
    return None


def _shrink(case: Case, still_fails: Callable[[Case], bool], runs: int) -> tuple[Case, int]:
    """A smaller case that still fails: one field at a time, each towards its simplest value."""
    def candidates(c: Case) -> Iterator[Case]:
        p = c.problem
        changes: list[tuple[str, dict[str, Any]]] = [("case", {"num_samples": k}) for k in sorted(
            {1, 2, 8, c.num_samples // 8, c.num_samples // 2}) if 1 <= k < c.num_samples]
        changes += [("case", {"dtype": "float64"})] if c.dtype != "float64" else []
        changes += [("case", {"chunk_size": None})] if c.chunk_size is not None else []
        changes += [("case", {"shared_start": False})] if c.shared_start else []
        changes += [("case", {"options": c.options[:i] + c.options[i + 1:]}) for i in range(len(c.options))]
        changes += [("problem", {"far_out": 0})] if p.far_out else []
        changes += [("problem", {"points": n, "far_out": min(p.far_out, max(0, n - 1))})
                    for n in sorted({1, p.points // 2}) if 1 <= n < p.points]
        changes += [("problem", {"data_dim": dd}) for dd in sorted({1, p.latent_dim, p.data_dim // 2})
                    if 1 <= dd < p.data_dim]
        changes += [("problem", {"latent_dim": 1})] if p.latent_dim > 1 else []
        changes += [("problem", {"prior": "standard"})] if p.prior != "standard" else []
        for where, fields in changes:
            try:
                yield replace(c, **fields) if where == "case" else replace(c, problem=replace(p, **fields))
            except ValueError:  # not a well-defined problem (a diagonal posterior needs D >= d, ...)
                continue

    used, improved = 0, True
    while improved and used < runs:
        improved = False
        for smaller in candidates(case):
            if used >= runs:
                break
            used += 1
            try:
                fails = still_fails(smaller)
            except CheckSkipped:
                fails = False
            if fails:
                case, improved = smaller, True
                break
    return case, used


def _valid_replace(problem: ProblemConfig, **fields: Any) -> ProblemConfig:
    """``replace(problem, **fields)``, or ``problem`` where the result would not be well defined."""
    try:
        return replace(problem, **fields)
    except ValueError:
        return problem


# Regions of the space every run visits (case i falls in stratum i mod 6; within it, all is random):
# a uniform draw would visit each only now and then, and a bug that lives there would pass most runs.
EXACT_STRATA = ("anywhere", "large K (2^15 to 2^20), small B and D", "large chunks (> 100) with B < 8 and many chunks",
                "bfloat16 over many small chunks", "far-out rows in D >= 32", "a factorised prior with unequal scales")


def _exact_case(spec: EstimatorSpec, rng: np.random.Generator, stratum: int = 0) -> Case:
    zero = _zero_variance(spec)
    problem = draw_problem(rng, max_data_dim=784, max_latent_dim=8, max_points=300,
                           encoders=("exact",) if zero else ENCODERS, priors=PRIORS,
                           weak_likelihood=not spec.tags.needs_proposal)
    k_low, chunk_range, dtype, keep = 1, None, None, None
    if stratum == 1:
        problem = _valid_replace(problem, points=int(rng.integers(1, 5)), far_out=0,
                                 data_dim=max(problem.latent_dim, _log_uniform_int(rng, 1, 16)))
        k_low, keep = 2**15, True  # kept weights, past any buffer of a few thousand rows
    elif stratum == 2:
        problem = _valid_replace(problem, points=int(rng.integers(1, 8)), far_out=0)
        chunk_range, keep = (101, 2048), True
    elif stratum == 3:
        prior = problem.prior if problem.prior != "correlated" else "diagonal"
        problem = _valid_replace(problem, prior=prior, diagonal_posterior=True, points=min(problem.points, 32),
                                 far_out=0, data_dim=max(min(problem.data_dim, 64), problem.latent_dim))
        if problem.encoder == "exact" or problem.encoder == "mean-field":
            dtype, chunk_range, k_low = "bfloat16", (1, 64), 512
    elif stratum == 4 and spec.tags.needs_proposal:
        problem = _valid_replace(problem, data_dim=_log_uniform_int(rng, 32, 784), points=max(2, min(problem.points, 16)))
        problem = _valid_replace(problem, far_out=max(1, problem.points // 2))
    elif stratum == 5:
        problem = _valid_replace(problem, prior="diagonal", latent_dim=max(2, problem.latent_dim),
                                 data_dim=max(problem.data_dim, 2))
    if dtype is None:
        dtypes = ["float64", "float32"]
        if problem.prior != "correlated" and (problem.encoder == "mean-field" or problem.diagonal_posterior):
            dtypes.append("bfloat16")  # torch has no bfloat16 Cholesky or triangular solve on a CPU
        dtype = dtypes[int(rng.integers(len(dtypes)))]
    cost = _cost_per_sample(spec, {})
    rows = problem.points * (problem.data_dim + problem.latent_dim)
    k_max = int(max(k_low, min(2**20, 3e7 / (rows * cost))))
    chunk = None
    if chunk_range is not None and supports(spec, "chunk_size"):
        chunk = _log_uniform_int(rng, *chunk_range)
        k_low = max(k_low, 3 * chunk)
        k_max = max(k_max, 8 * chunk, 2**16 if keep else 0)
    k = _log_uniform_int(rng, min(k_low, k_max), k_max)
    if chunk is None and supports(spec, "chunk_size") and rng.uniform() < 0.6:
        chunk = _log_uniform_int(rng, max(1, k // 4096), 8192)
    if keep is None:
        keep = bool(rng.integers(2))
    keep = keep if supports(spec, "keep_log_weights") else None
    if keep and k * problem.points > 2**24:
        keep = False  # the returned [K, B] weights alone would be over 128 MiB
    return Case(problem, k, dtype, chunk, keep, shared_start=spec.tags.needs_exact_posterior and bool(rng.integers(2)))


def check_exact_identities_explored(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """On random cases (K to 2²⁰, chunk sizes to 8192, B to 300, D to 784, every prior, float64 /
    float32 / bfloat16): finite ``log_px`` of x's dtype; returned weights ``[K, B]`` that ``log_px``
    aggregates; ``ess`` in [1, K] and equal to the weights' ESS; ``stderr`` ≥ 0; at least K·B
    likelihood evaluations; and, for estimators that sample from the proposal, log p(x) exactly
    (to the dtype's measured rounding) when the proposal is the exact posterior. Exact: no
    false-alarm rate. A failure is shrunk to a smaller configuration that still fails."""
    name = "check_exact_identities_explored"
    budget = _BUDGET.get()
    for i in range(budget.exact_cases):
        rng = np.random.default_rng(derived_seed(0 if random_state is None else random_state, name, i))
        case = _exact_case(spec, rng, i % len(EXACT_STRATA))
        problem = _exact_failures(spec, case, random_state)
        if problem is None:
            continue
        small, runs = _shrink(case, lambda c: _exact_failures(spec, c, random_state) is not None, budget.shrink_runs)
        found = _exact_failures(spec, small, random_state) or problem
        raise CheckFailure(f"case {i + 1} of {budget.exact_cases}: {found} — smallest failing configuration found "
                           f"({runs} shrink runs): {small.describe()} (first seen at {case.describe()})")
    return passed(name, f"{budget.exact_cases} random configurations: contract, weights, ESS, evaluation count and "
                  "zero-variance identities hold")


# ----------------------------------------------------------------------------- statistical claims
CLAIM_STRATA = ("anywhere", "every option drawn from its domain", "small K (1 to 8) over 4000 replicates",
                "one shared posterior start per point, B >= 2")


def _claim_case(spec: EstimatorSpec, rng: np.random.Generator, work: float, stratum: int = 0) -> Case:
    encoders = tuple(e for e in ENCODERS if e != "exact")
    problem = draw_problem(rng, max_data_dim=48, max_latent_dim=5, max_points=4, encoders=encoders,
                           weak_likelihood=not spec.tags.needs_proposal, far_out=spec.tags.needs_proposal,
                           bernoulli=0.0 if spec.tags.needs_exact_posterior else 0.3)
    options = _draw_options(spec, rng, always=stratum == 1)
    cost = _cost_per_sample(spec, dict(options)) * problem.points * (problem.data_dim + problem.latent_dim + 4)
    k = _log_uniform_int(rng, 1, 8 if stratum == 2 else 4096)
    replicates = int(min(4000, max(300, work / (k * cost))))
    if stratum == 2:
        replicates = 4000
    if stratum == 3:
        problem = _valid_replace(problem, points=max(2, problem.points))
    while k > 1 and k * cost * replicates > 4 * work:
        k //= 2
    chunk = _log_uniform_int(rng, 1, 4096) if supports(spec, "chunk_size") and rng.uniform() < 0.5 else None
    dtype = "float32" if rng.uniform() < 0.25 else "float64"
    shared = spec.tags.needs_exact_posterior and (stratum == 3 or bool(rng.integers(2)))
    return Case(problem, k, dtype, chunk, False if supports(spec, "keep_log_weights") else None,
                shared_start=shared, replicates=replicates, options=options)


def _claim_z(spec: EstimatorSpec, case: Case, random_state: int | None, threshold: float) -> ZTests:
    """The z-tests of every claim of the tags on ``case``'s light points."""
    from vaebench.testing.claim_checks import claim_tests

    zt = ZTests("check_claims_explored", threshold)
    prob = build_problem(case.problem)
    truth = prob.truth_for(spec)
    rows = light(prob, truth)
    if rows is None:
        return zt
    x = replicate(rows.x, case.replicates)
    try:
        _, est, _, _ = _run_case(spec, case, random_state, "claims", x=x)
    except NotImplementedError:  # an option value this problem cannot take (e.g. no closed-form KL)
        return zt
    except (ValueError, TypeError) as exc:
        if not case.options:
            raise
        domains = "; ".join(f"{k}={v!r} from {_domain_text(spec, k)}" for k, v in case.options)
        raise CheckFailure(f"the estimator refused option values drawn from their declared domains ({domains}): "
                           f"{type(exc).__name__}: {exc} — declare the values it accepts (Option minimum / maximum / "
                           "domain / choices)") from None
    err = est.log_px.double().reshape(case.replicates, rows.x.shape[0]) - rows.log_px
    claim_tests(zt, spec, rows, rows.truth_for(spec), case.num_samples, case.replicates, None, "",
                variance=case.problem.encoder != "student-t", errors_given=err)
    return zt


def _domain_text(spec: EstimatorSpec, name: str) -> str:
    option = spec.option(name)
    if option is None or option.type not in (int, float) or option.choices:
        return "its choices"
    low, high = option.numeric_domain()
    return f"[{low:g}, {high:g}]"


def check_claims_explored(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """The tags' claims (unbiased in p, lower / upper bound, the ELBO's gap, K·Var[p̂/p] = χ²) on
    random cases: K log-uniform in [1, 4096] with 300–4000 replicates, D to 48, d to 5, every prior
    and encoder family, far-out rows, float64 and float32, random ``chunk_size``, every other option
    drawn from its declared domain, shared or independent posterior starts. Each z-test fails beyond
    the family-wise threshold (false alarm ≤ 10⁻³ per run); a failure is shrunk and printed."""
    budget = _BUDGET.get()
    name = "check_claims_explored"
    cases = []
    for i in range(budget.claim_cases):
        rng = np.random.default_rng(derived_seed(0 if random_state is None else random_state, name, i))
        cases.append(_claim_case(spec, rng, budget.claim_work, i % len(CLAIM_STRATA)))
    # At most 4 claims × 4 points per case: the Bonferroni threshold is fixed before any test runs.
    threshold = family_threshold(16 * len(cases))
    total = ZTests(name, threshold)
    for i, case in enumerate(cases):
        zt = _claim_z(spec, case, random_state, threshold)
        if zt.failure is not None:
            def fails(c: Case) -> bool:
                return _claim_z(spec, c, random_state, threshold).failure is not None

            small, runs = _shrink(case, fails, max(4, budget.shrink_runs // 3))
            again = _claim_z(spec, small, random_state, threshold) if small is not case else zt
            shown = again if again.failure is not None else zt
            raise CheckFailure(f"case {i + 1} of {len(cases)}: {shown.failure} — smallest failing configuration found "
                               f"({runs} shrink runs): {small.describe()}", abs(shown.z), "max |z|",
                               None, zt.count)
        total.count += zt.count
        if abs(zt.z) > abs(total.z):
            total.z = zt.z
    if total.count == 0:
        raise CheckSkipped("no random case had a light-tailed point for this estimator")
    return total.result(f"claims hold on {len(cases)} random configurations (|z| ≤ {threshold:.2f}, family-wise "
                        f"false alarm ≤ {FAMILY_ALPHA:g})")

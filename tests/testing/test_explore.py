"""The exploring checks' machinery: option domains, budgets, the family-wise threshold, shrinking, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vaebench import Option
from vaebench.estimators import BUILTINS
from vaebench.testing import check_estimator
from vaebench.testing.explore import (
    BUDGETS,
    CLAIM_STRATA,
    EXACT_STRATA,
    Case,
    _claim_case,
    _exact_case,
    _shrink,
    family_threshold,
    kit_budget,
)
from vaebench.testing.random_problems import ProblemConfig
from vaebench.testing.runner import explained_by


def test_numeric_options_draw_log_uniformly_over_their_domain():
    opt = Option("num_steps", int, 100, "T", minimum=1, domain=(1, 1000))
    rng = np.random.default_rng(0)
    draws = np.array([opt.draw(rng) for _ in range(4000)])
    assert draws.min() == 1 and draws.max() <= 1000 and draws.dtype.kind == "i"
    assert len(set(draws.tolist())) > 200  # not a handful of listed values
    assert stats.kstest(np.log(draws + np.random.default_rng(1).uniform(-0.5, 0.5, draws.size).clip(-0.49, 0.49))
                        / math.log(1000), "uniform").statistic < 0.05


def test_choices_bools_and_defaults_are_all_drawn():
    rng = np.random.default_rng(0)
    init = Option("init", str, None, "q0", choices=("proposal", "prior"))
    assert {init.draw(rng) for _ in range(200)} == {"proposal", "prior", None}
    assert {Option("f", bool, True, "b").draw(rng) for _ in range(50)} == {True, False}
    step = Option("step_size", float, None, "eps", minimum=1e-12, kit_values=(0.3,))
    low, high = step.numeric_domain()
    assert low == pytest.approx(0.15) and high == pytest.approx(0.6)  # around what it lists, when no domain is set


def test_a_domain_must_be_valid():
    with pytest.raises(ValueError, match="domain"):
        Option("k", int, 1, "k", minimum=1, domain=(5, 2))
    with pytest.raises(ValueError):
        Option("k", int, 1, "k", minimum=1, domain=(0, 10))  # below the minimum
    with pytest.raises(ValueError, match="domain"):
        Option("s", str, "a", "s", choices=("a",), domain=(0, 1))


def test_budget_names_and_numbers():
    with kit_budget("thorough") as b:
        assert b == BUDGETS["thorough"]
    with kit_budget(3) as b:
        assert b.exact_cases == b.claim_cases == 3
    for bad in ("huge", 0, True, 2.5):
        with pytest.raises(ValueError, match="budget"):
            with kit_budget(bad):
                pass


def test_family_threshold_controls_the_family_wise_rate():
    assert family_threshold(1) == 5.0
    z = family_threshold(10**6)
    assert z > 5 and 10**6 * math.erfc(z / math.sqrt(2)) == pytest.approx(1e-3, rel=1e-6)


def _config(**kw):
    base = dict(data_dim=300, latent_dim=6, prior="correlated", encoder="exact", points=40, far_out=10, seed=3)
    return ProblemConfig(**{**base, **kw})


def test_shrinking_finds_a_small_reproduction():
    """A failure that needs K >= 1000, bfloat16 and D >= 10 shrinks to exactly that, with everything else simple."""
    case = Case(_config(prior="diagonal"), 70_000, "bfloat16", chunk_size=300, keep_log_weights=True)

    def fails(c):
        return c.num_samples >= 1000 and c.dtype == "bfloat16" and c.problem.data_dim >= 10

    small, runs = _shrink(case, fails, runs=200)
    assert fails(small) and runs < 200
    assert small.num_samples < 2000 and small.problem.data_dim < 20
    assert small.problem.points == 1 and small.problem.latent_dim == 1 and small.problem.prior == "standard"
    assert small.chunk_size is None and small.problem.far_out == 0


def test_shrinking_never_proposes_an_ill_defined_problem():
    case = Case(_config(diagonal_posterior=True, data_dim=8, latent_dim=6), 50)
    seen = []
    _shrink(case, lambda c: seen.append(c) or True, runs=100)
    assert seen and all(c.problem.data_dim >= c.problem.latent_dim for c in seen)


@pytest.mark.parametrize("spec", BUILTINS, ids=lambda s: s.name)
def test_every_run_visits_every_stratum(spec):
    """Within a run of the default budget, each region of the space is drawn (whatever the random_state)."""
    rng = np.random.default_rng(7)
    exact = [_exact_case(spec, rng, i % len(EXACT_STRATA)) for i in range(BUDGETS["default"].exact_cases)]
    assert max(c.num_samples for c in exact) >= 2**15 and max(c.problem.data_dim for c in exact) >= 32
    if spec.option("chunk_size") is not None:
        assert any(c.chunk_size and c.chunk_size > 100 and c.problem.points < 8 and c.num_samples > 3 * c.chunk_size
                   for c in exact)
    if spec.tags.needs_proposal:
        assert any(c.dtype == "bfloat16" for c in exact) and any(c.problem.far_out for c in exact)
    assert any(c.problem.prior == "diagonal" and c.problem.latent_dim >= 2 for c in exact)
    claims = [_claim_case(spec, rng, BUDGETS["default"].claim_work, i % len(CLAIM_STRATA))
              for i in range(BUDGETS["default"].claim_cases)]
    assert any(c.num_samples <= 8 and c.replicates == 4000 for c in claims)
    if spec.tags.needs_exact_posterior:
        assert any(c.shared_start and c.problem.points >= 2 for c in claims)
    declared = [o.name for o in spec.options if o.explorable() and o.name not in
                ("keep_log_weights", "chunk_size")]
    if declared:
        assert any({k for k, _ in c.options} == set(declared) for c in claims)


def test_the_explained_by_column_names_the_most_basic_failure():
    table = pd.DataFrame({"check": ["check_log_weights", "check_unbiased_in_p", "check_float32_accumulation_at_large_k",
                                    "check_ess"], "verdict": ["fail", "fail", "fail", "pass"]})
    assert explained_by(table) == ["", "check_log_weights", "check_log_weights", ""]
    alone = pd.DataFrame({"check": ["check_float32_accumulation_at_large_k"], "verdict": ["fail"]})
    assert explained_by(alone) == [""]


def test_a_missing_log_k_is_not_blamed_on_float32():
    """The Pyro-plug-in case of issue 18: the float32 check must not guess a float32 cause that float64 rules out."""
    from tests.zoo import ZOO

    bug = next(b for b in ZOO if b.spec.name == "missing_log_k")
    table = check_estimator(bug.spec, checks=["check_log_weights", "check_float32_accumulation_at_large_k"])
    rows = table.set_index("check")
    assert rows.loc["check_float32_accumulation_at_large_k", "verdict"] == "fail"
    text = rows.loc["check_float32_accumulation_at_large_k", "explanation"]
    assert "float64 is off" in text and "running sum that stalls" not in text
    assert rows.loc["check_float32_accumulation_at_large_k", "explained_by"] == "check_log_weights"


def test_an_option_domain_wider_than_what_the_estimator_accepts_is_named():
    from vaebench import EstimatorSpec, EstimatorTags, get_estimator

    importance = get_estimator("importance")

    def picky(model, x, k, *, generator=None, alpha=0.8):
        if alpha >= 1:
            raise ValueError(f"alpha must be < 1, got {alpha}")
        return importance.estimate(model, x, k, generator=generator)

    spec = EstimatorSpec("picky", picky, EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True,
                                                        needs_proposal=True, importance_weighted=True),
                         options=(Option("alpha", float, 0.8, "a weight", minimum=0.0),))  # drawn from [0.4, 1.6]
    table = check_estimator(spec, checks=["check_claims_explored"])
    assert table["verdict"].tolist() == ["fail"]
    assert "alpha=" in table["explanation"][0] and "declared domains" in table["explanation"][0]

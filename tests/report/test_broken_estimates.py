"""Infinite or absurd estimates on a model with truth are reported as broken, never as "no ground truth"."""

from __future__ import annotations

import pytest
import torch

from tests.bench.test_sweep import TINY
from vaebench import Estimate, EstimatorSpec, EstimatorTags, register, unregister
from vaebench.bench import load_config, run_sweep
from vaebench.report import render_report

LOWER = EstimatorTags(lower_bound=True, needs_proposal=True)


def _constant(value: float):
    def estimate(model, x, num_samples, *, generator=None):
        return Estimate(log_px=torch.full((x.shape[0],), value, dtype=x.dtype), num_samples=num_samples)

    return estimate


@pytest.fixture
def absurd_estimators():
    specs = [EstimatorSpec("claims_lower_gives_huge", _constant(1e300), LOWER),
             EstimatorSpec("gives_minus_inf", _constant(float("-inf")), LOWER)]
    for spec in specs:
        register(spec)
    yield specs
    for spec in specs:
        unregister(spec.name)


def test_broken_estimates_are_named_in_the_verdicts_and_the_claims(tmp_path, absurd_estimators):
    text = TINY.format(replicates=2).replace('estimators = ["prior", "importance", "elbo"]',
                                             'estimators = ["importance", "claims_lower_gives_huge", "gives_minus_inf"]')
    path = tmp_path / "c.toml"
    path.write_text(text)
    run_sweep(load_config(path), tmp_path / "results", quiet=True)
    render_report(tmp_path)
    report = (tmp_path / "report.md").read_text()
    verdict_lines = [line for line in report.splitlines() if "claims_lower_gives_huge" in line or "gives_minus_inf" in line]
    assert verdict_lines and not any("no ground truth" in line for line in verdict_lines)
    assert any("BROKEN" in line and "1e+300" in line and "cannot be +inf" in line for line in verdict_lines)
    assert any("BROKEN" in line and "-inf" in line for line in verdict_lines)

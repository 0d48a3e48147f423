"""What a run will cost, said before any work: likelihood evaluations and cells, against a stated budget.

The unit is one row of ``log_likelihood``: one latent sample for one data point (``K·B`` rows for
importance sampling; AIS adds T annealing steps of L leapfrog gradients, each about two rows).
On 2 CPU cores a row of the IWAE architecture costs about 3.6 µs (benchmarks/results/
ais_transition.md), a row of factor analysis well under 1 µs: the default budget of 10¹¹ rows is
days of CPU. Runs beyond it, and grids of more than a million cells, are refused unless forced
(``--force``), with the numbers.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["ROW_BUDGET", "CELL_BUDGET", "estimator_rows", "check_budget", "sweep_cost"]

ROW_BUDGET = 10**11
CELL_BUDGET = 10**6


def estimator_rows(estimator: str, num_samples: int, num_points: int, options: dict[str, Any] | None = None) -> int:
    """Likelihood rows of one call of ``estimator`` with K = ``num_samples`` on ``num_points`` points."""
    from vaebench.registry import get_estimator

    spec = get_estimator(estimator)
    options = options or {}
    rows = num_samples * num_points
    steps = spec.option("num_steps")
    if steps is not None:
        t = options.get("num_steps", steps.default) or 1
        leapfrog = spec.option("leapfrog_steps")
        l_steps = options.get("leapfrog_steps", leapfrog.default if leapfrog is not None else 1) or 1
        rows *= t * (2 * l_steps + 1)
    return rows


def check_budget(rows: int, what: str, force: bool, cells: int | None = None) -> None:
    """Refuse ``rows`` likelihood rows (or ``cells`` cells) beyond the budget unless ``force``."""
    if force:
        return
    if cells is not None and cells > CELL_BUDGET:
        raise ValueError(f"{what} has {cells:.3g} cells (more than {CELL_BUDGET:.0e}): shrink the grid (models × "
                         "estimators × K × replicates × devices × dtypes) or pass --force")
    if rows > ROW_BUDGET:
        raise ValueError(f"{what} needs about {rows:.3g} likelihood evaluations (samples × points, × T·(2L+1) for "
                         f"AIS), more than the budget of {ROW_BUDGET:.0e} (days of CPU); lower K or the points, or "
                         "pass --force")


def sweep_cost(config: Any) -> tuple[int, int]:
    """(cells, likelihood rows) of a sweep, counted without listing its cells (a huge grid is cheap to refuse)."""
    per_grid = len(config.devices) * len(config.dtypes) * config.replicates
    cells = 0
    rows = 0
    for model in config.models:
        for k in model.num_samples or config.num_samples:
            for label in config.estimators:
                if not config.runs_at(label, k):
                    continue
                options = config.options_of(label)
                calls = 2 + config.timing_repeats  # the estimate, the timed repeats and the fingerprint pass
                cells += per_grid
                rows += per_grid * calls * estimator_rows(config.estimator_of(label), k, config.num_points, options)
    return cells, int(min(rows, math.inf))

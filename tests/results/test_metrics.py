"""Summaries from records: robust per-point headlines beside the mean."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vaebench.results.metrics import summarize


def test_one_hard_point_moves_the_rmse_but_not_the_per_point_median():
    rng = np.random.default_rng(0)
    rows = []
    for r in range(8):
        for p in range(20):
            error = rng.normal(0, 0.1) + (10.0 if p == 7 else 0.0)
            rows.append({"model": "m", "estimator": "e", "num_samples": 10, "device": "cpu", "dtype": "float32",
                         "replicate": r, "point": p, "error": error, "chi2": np.nan, "kl": np.nan,
                         "log_weight_var": np.nan, "ess": 5.0, "khat": np.nan})
    row = summarize(pd.DataFrame(rows)).iloc[0]
    assert row["rmse"] > 2.0  # dominated by point 7
    assert row["rmse_point_median"] < 0.2 and row["worst_point"] == 7
    assert row["rmse_point_p90"] < row["rmse"]

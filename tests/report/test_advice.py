"""The report's opening sections are derived from the measurements: checked on hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from vaebench.report.advice import claims_and_verified, models_table, recommendations, winners_at_budget


def summary_rows(bias, rmse_median, rmse_p90, bias_se=0.01, ks=(1, 10, 100)):
    return pd.DataFrame({
        "model": "m", "estimator": "e", "device": "cpu", "dtype": "float32", "num_samples": list(ks),
        "bias": bias, "bias_se": bias_se, "rmse": rmse_p90, "rmse_lo": np.array(rmse_p90) * 0.9,
        "rmse_hi": np.array(rmse_p90) * 1.1, "rmse_point_median": rmse_median, "rmse_point_p90": rmse_p90,
        "median_seconds": [0.001, 0.002, 0.004]})


def points_rows(stderr_scale=1.0, replicates=50, k=10):
    rng = np.random.default_rng(0)
    rows = []
    for point in range(4):
        errors = rng.normal(0, 0.05, replicates)
        for r, e in enumerate(errors):
            rows.append({"model": "m", "estimator": "e", "device": "cpu", "dtype": "float32", "num_samples": k,
                         "replicate": r, "point": point, "log_px": -10 + e, "error": e, "stderr": 0.05 * stderr_scale,
                         "ess": 50.0, "khat": 0.3})
    return pd.DataFrame(rows)


def test_smallest_k_reaching_the_target_on_the_median_point_and_the_worst_decile():
    summary = summary_rows(bias=[-0.5, -0.05, -0.01], rmse_median=[0.6, 0.08, 0.02], rmse_p90=[0.9, 0.3, 0.05])
    row = recommendations(summary, points_rows()).iloc[0]
    assert row["median point"].startswith("K = 10 (2 ms)")
    assert row["worst decile"].startswith("K = 100 (4 ms)")


def test_stderr_trust_follows_the_ratio_of_reported_to_actual_variance():
    summary = summary_rows(bias=[-0.5, -0.05, -0.01], rmse_median=[0.6, 0.08, 0.02], rmse_p90=[0.9, 0.09, 0.05])
    assert recommendations(summary, points_rows(1.0)).iloc[0]["stderr trustworthy"].startswith("yes")
    assert recommendations(summary, points_rows(0.3)).iloc[0]["stderr trustworthy"].startswith("no")


def test_a_violated_bound_is_reported_as_violated():
    summary = summary_rows(bias=[-0.5, 0.2, -0.01], rmse_median=[0.6, 0.2, 0.02], rmse_p90=[0.9, 0.3, 0.05])
    verified = claims_and_verified(summary, {"e": {"lower_bound": True, "consistent": True}}).iloc[0]
    assert "lower bound: VIOLATED at K=10" in verified["verified in this run"]
    assert verified["claims"] == "lower bound, consistent"
    fine = claims_and_verified(summary_rows(bias=[-0.5, -0.05, -0.01], rmse_median=[0.6, 0.08, 0.02],
                                            rmse_p90=[0.9, 0.3, 0.05]), {"e": {"lower_bound": True}}).iloc[0]
    assert fine["verified in this run"].startswith("lower bound: held at every K")


def test_models_table_states_the_spread_of_chi_square_over_points():
    record = {"cell": {"model": "m"}, "log_px": [0.0] * 4,
              "theory": {"truth": [0.0] * 4, "dims": [10, 2], "chi2_encoder": [0.1, 0.2, 0.3, float("inf")],
                         "quadrature_error": [0.0] * 4}}
    table = models_table([record], {"models": [{"name": "m", "model": "ppca", "options": {"encoder": "exact",
                                                                                          "encoder_scale": 1.3}}]})
    row = table.iloc[0]
    assert (row["D"], row["d"], row["truth"]) == (10, 2, "closed form")
    assert row["encoder"] == "exact-family (sd × 1.3)" and "(∞ at 1 of 4)" in row["χ² encoder (med / p90 / max)"]


def test_winners_at_budget_take_the_lowest_rmse_within_each_wall_time_and_leave_out_posterior_draws():
    base = summary_rows(bias=[-0.5, -0.05, -0.01], rmse_median=[0.6, 0.08, 0.02], rmse_p90=[0.9, 0.3, 0.05])
    other = base.assign(estimator="f", rmse=[0.5, 0.4, 0.01], median_seconds=[0.0005, 0.02, 0.5])
    cheat = base.assign(estimator="hm", rmse=[0.0, 0.0, 0.0])
    table = winners_at_budget(pd.concat([base, other, cheat]), {"hm": {"needs_exact_posterior": True}},
                              {"f": "heavy tails"}, budgets=(1e-3, 1e-2, 1.0))
    row = table.iloc[0]
    assert row["≤ 1 ms"] == "f ⚠ (K=1, 0.5)"  # only f's K = 1 runs within 1 ms
    assert row["≤ 10 ms"] == "e (K=100, 0.05)"
    assert row["≤ 1 s"] == "f ⚠ (K=100, 0.01)"


def test_unbiasedness_in_log_p_and_a_bound_in_the_limit_are_verified_as_claimed():
    summary = summary_rows(bias=[0.001, -0.002, 0.3], rmse_median=[0.6, 0.08, 0.3], rmse_p90=[0.9, 0.3, 0.3])
    row = claims_and_verified(summary, {"e": {"unbiased_in_log_p": True}}, {"e": "infinite variance"}).iloc[0]
    assert row["claims"] == "unbiased in log p" and row["caution"] == "infinite variance"
    assert "unbiased in log p: VIOLATED at K=100" in row["verified in this run"]
    limit = summary_rows(bias=[-0.5, -0.01, 0.02], rmse_median=[0.6, 0.08, 0.02], rmse_p90=[0.9, 0.3, 0.05])
    row = claims_and_verified(limit, {"e": {"upper_bound_in_limit": True}}).iloc[0]
    assert "upper bound in the limit: below log p(x) at K = 1 (allowed" in row["verified in this run"]

"""Measured false-alarm rates of the conformance kit's statistical checks on correct estimators.

Every statistical check runs on the correct built-ins under many independent ``random_state``
values. A failure of a correct estimator is a false alarm: its measured rate is printed beside
the nominal bound (number of z-tests × 5.7e-7 at 5σ). With a few hundred seeds no 5σ alarm is
expected, so the rate of the worst |z| exceeding 3 is also measured against its own nominal bound
(tests × 2.7e-3), which resolves miscalibrated tails. Results go to a CSV (resumable: seeds
already there are skipped) and a Markdown table.

    python -m benchmarks.kit_calibration --seeds 200 --workers 2
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
STATISTICAL = [
    "check_single_point_batch", "check_unbiased_in_p", "check_lower_bound", "check_upper_bound", "check_consistent",
    "check_bias_order", "check_unbiased_in_log_p", "check_upper_bound_in_limit",
    "check_elbo_gap_is_kl", "check_variance_is_chi_square_over_k", "check_large_k",
    "check_weights_explain_the_variance", "check_float32_accumulation_at_large_k", "check_stderr_calibrated",
    "check_proposal_option", "check_chunk_size_option", "check_claims_under_every_option_value",
]


def _init() -> None:
    import torch

    torch.set_num_threads(1)


def _one(estimator: str, seed: int, checks: list[str]) -> list[dict]:
    from vaebench.testing import check_estimator

    table = check_estimator(estimator, random_state=seed, checks=checks)
    table["estimator"], table["seed"] = estimator, seed
    return table[["estimator", "seed", "check", "verdict", "statistic", "tests", "seconds"]].to_dict("records")


def _upper95(fails: int, runs: int) -> float:
    from scipy import stats

    return 1.0 if fails >= runs else float(stats.beta.ppf(0.95, fails + 1, runs - fails))


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Per estimator and check: runs, 5σ alarms, their rate and 95% upper bound, against nominal."""
    out = []
    for (est, check), g in rows[rows["verdict"].isin(["pass", "fail", "error"])].groupby(["estimator", "check"]):
        runs, fails = len(g), int(g["verdict"].isin(["fail", "error"]).sum())
        tests = float(g["tests"].median()) if g["tests"].notna().any() else float("nan")
        over3 = int((g["statistic"].abs() > 3).sum())
        out.append({
            "estimator": est, "check": check, "runs": runs, "z-tests": tests,
            "alarms (5σ)": fails, "rate (5σ)": fails / runs, "95% upper": _upper95(fails, runs),
            "nominal (5σ)": tests * 5.7e-7,
            "max|z| > 3": over3 / runs, "nominal (3σ)": min(1.0, tests * math.erfc(3 / math.sqrt(2))),
            "median s": g["seconds"].median(),
        })
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--estimators", nargs="+", default=["prior", "importance", "elbo"])
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    parser.add_argument("--out", default=str(HERE / "results" / "kit_calibration.csv"))
    parser.add_argument("--checks", nargs="+", default=STATISTICAL, help="re-measure only these checks")
    parser.add_argument("--base", help="an earlier CSV whose rows stand for the checks not re-measured here")
    args = parser.parse_args()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=["estimator", "seed"])
    finished = set(zip(done["estimator"], done["seed"]))
    todo = [(e, s) for s in range(args.seeds) for e in args.estimators if (e, s) not in finished]
    start = time.time()
    with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
        futures = [pool.submit(_one, e, s, args.checks) for e, s in todo]
        for i, fut in enumerate(as_completed(futures), 1):
            frame = pd.DataFrame(fut.result())
            frame.to_csv(out, mode="a", header=not out.exists() or out.stat().st_size == 0, index=False)
            if i % 10 == 0 or i == len(futures):
                print(f"{i}/{len(futures)} runs in {time.time() - start:.0f} s", flush=True)
    rows = pd.read_csv(out)
    if args.base:
        base = pd.read_csv(args.base)
        rows = pd.concat([base[~base["check"].isin(args.checks)], rows], ignore_index=True)
        rows.to_csv(out.with_name(out.stem + "_merged.csv"), index=False)
    table = summarise(rows)
    md = HERE / "results" / "kit_calibration.md" if args.base else out.with_suffix(".md")
    md.write_text(f"# Measured false-alarm rates of the kit's statistical checks\n\n"
                  f"`python -m benchmarks.kit_calibration --seeds {args.seeds}`: correct built-ins, "
                  f"{rows['seed'].nunique()} seeds each.\n\n" + table.to_markdown(index=False, floatfmt=".3g") + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()

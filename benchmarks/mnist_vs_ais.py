"""How far importance sampling and the ELBO are from the AIS reference on real MNIST (mnist-vae, 300-epoch budget).

Reads an AIS reference file (``vaebench reference mnist-vae --epochs 300 --estimator ais ...``), loads the
same checkpoint, and estimates log p(x) of the same test points by importance sampling with the
encoder at K = 10³, 10⁴ and 10⁵ (the last on the first ``--points-1e5`` points) and by the ELBO
(the mean of K = 1000 log weights). Writes the per-point differences (estimate − AIS reference)
as a generated CSV next to the reference, and a Markdown summary, which the report shows.

    python -m benchmarks.mnist_vs_ais benchmarks/ground_truth/mnist-vae-e300-test1000-ais-T1000-K16.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from vaebench.data import load
from vaebench.registry import get_estimator
from vaebench.results.references import gap_summary
from vaebench.training.presets import preset_config
from vaebench.results.reference_file import read_reference, write_reference
from vaebench.training.trainer import load_or_train


def estimates(model, x: torch.Tensor, estimator: str, k: int, seed: int, batch: int = 100) -> np.ndarray:
    spec = get_estimator(estimator)
    g = torch.Generator().manual_seed(seed)
    out = [spec(model, x[i : i + batch], k, generator=g, keep_log_weights=False).log_px.double().numpy()
           for i in range(0, x.shape[0], batch)]
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="the AIS reference CSV")
    parser.add_argument("--points-1e5", type=int, default=200, help="points for importance sampling at K = 10⁵")
    parser.add_argument("--data", help="data directory (default: $VAEBENCH_DATA, then ../shared/data)")
    args = parser.parse_args()
    reference, header = read_reference(args.reference)
    config = preset_config(header["preset"], epochs=300)
    model, checkpoint, _ = load_or_train(config, data_path=args.data, progress=False)
    if checkpoint.name != header["checkpoint"]:
        raise SystemExit(f"the reference was made with {header['checkpoint']}, the cache holds {checkpoint.name}")
    model.requires_grad_(False)
    x = load(config.data, header["split"], path=args.data)[: len(reference)]
    table = pd.DataFrame({"index": reference["index"], "ais": reference["log_px"]})
    for k in (1000, 10_000):
        table[f"importance_K{k}"] = estimates(model, x, "importance", k, seed=k)
    n = min(args.points_1e5, len(x))
    table["importance_K100000"] = np.nan
    table.loc[: n - 1, "importance_K100000"] = estimates(model, x[:n], "importance", 100_000, seed=100_000)
    table["elbo_K1000"] = estimates(model, x, "elbo", 1000, seed=1)
    for column in [c for c in table.columns if c.startswith(("importance", "elbo"))]:
        table[f"below_{column}"] = table["ais"] - table[column]
    out = args.reference.with_name(args.reference.stem + ".vs-estimators.csv")
    write_reference(out, table, reference=args.reference.name, checkpoint=checkpoint.name,
                    bdmc_gap_of_reference=header.get("bdmc_gap", "not measured"))
    summary = gap_summary(table)
    md = Path("benchmarks/results/mnist_vs_ais.md")
    md.write_text("# Real MNIST (mnist-vae, 300-epoch budget; first 1000 test points): nats below the AIS reference\n\n"
                  f"Reference: `{args.reference.name}` ({header.get('options', '')}, K = {header['num_samples']} "
                  f"chains); its BDMC gap on simulated data: {header.get('bdmc_gap', 'not measured')}.\n\n"
                  + summary.to_markdown(index=False, floatfmt=".3f") + "\n")
    print(md.read_text())


if __name__ == "__main__":
    main()

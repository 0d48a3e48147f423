"""Reference log p(x) for models whose latent is too large for quadrature.

Per test point: the estimate of an installed estimator (importance sampling with the encoder and
a very large K by default, or annealed importance sampling), its delta-method standard error, and
the effective sample size and Pareto k̂ that say whether to trust it (an ESS of a handful, or
k̂ > 0.7, means a few weights dominate and the stated error is optimistic). Stored as a generated
CSV file whose header records the command that made it.

With AIS, the reference is checked by bidirectional Monte Carlo on data simulated from the same
model with the same settings (``bdmc_points``): the mean gap between forward and reverse AIS
bounds how far AIS at that T is from the truth (Grosse et al., 2015; Wu et al., 2017). The
per-point bounds go to a sibling file ``<name>.bdmc.csv`` and the gap into the header.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from vaebench.ops import pareto_k
from vaebench.data.subsets import subset_words
from vaebench.results.reference_file import untrustworthy, write_reference

__all__ = ["reference_log_marginal", "bdmc_check", "make_reference", "recipe_words"]


def reference_log_marginal(model: Any, x: torch.Tensor, num_samples: int, *, seed: int = 0,
                           batch_size: int = 100, estimator: str = "importance", options: dict | None = None,
                           progress: bool = False) -> pd.DataFrame:
    """Per data point: ``log_px`` (``estimator`` with K = ``num_samples``, by default importance sampling
    with the encoder), ``stderr``, ``ess`` and the Pareto ``khat`` of the weights (above 0.7 the
    estimate, and its stderr, are unreliable; NaN where K is too small to fit a tail)."""
    from tqdm.auto import tqdm

    from vaebench.registry import get_estimator

    spec = get_estimator(estimator)
    options = spec.validate_options(dict(options or {}))
    g = torch.Generator().manual_seed(seed)
    frames = []
    starts = range(0, x.shape[0], batch_size)
    for start in tqdm(starts, desc=f"reference ({spec.name}, K = {num_samples})", unit="batch", disable=not progress):
        est = spec(model, x[start : start + batch_size], num_samples, generator=g, **options)
        khat = pareto_k(est.log_weights).cpu().numpy() if est.log_weights is not None else float("nan")
        frames.append(pd.DataFrame({"index": range(start, start + len(est.log_px)),
                                    "log_px": est.log_px.double().cpu().numpy(),
                                    "stderr": est.stderr.double().cpu().numpy(),
                                    "ess": est.ess.double().cpu().numpy(),
                                    "khat": khat}))
    return pd.concat(frames, ignore_index=True)


def bdmc_check(model: Any, num_points: int, num_chains: int, *, seed: int = 0, batch_size: int = 100,
               options: dict | None = None, progress: bool = False) -> pd.DataFrame:
    """Forward and reverse AIS (``options``: those of the reference) on ``num_points`` points simulated
    from ``model``; per point ``lower``, ``upper`` and ``gap``."""
    from tqdm.auto import tqdm

    from vaebench.estimators.bdmc import sandwich, simulate

    options = dict(options or {})
    steps = options.pop("num_steps", 100)
    g = torch.Generator().manual_seed(seed)
    x, z = simulate(model, num_points, g)
    frames = []
    for start in tqdm(range(0, num_points, batch_size), desc="BDMC on simulated data", unit="batch",
                      disable=not progress):
        rows = slice(start, start + batch_size)
        (result,) = sandwich(model, x[rows], z[rows], num_chains, [steps], generator=g, **options)
        frames.append(pd.DataFrame({"index": range(start, start + len(result.lower)), "lower": result.lower.numpy(),
                                    "upper": result.upper.numpy(), "gap": result.gap.numpy()}))
    return pd.concat(frames, ignore_index=True)


def recipe_words(config: Any, payload: dict[str, Any]) -> str:
    """The training recipe of a checkpoint, in words: objective, K, budget, optimiser, what it ran."""
    objective = "ELBO" if config.objective == "elbo" else f"IWAE bound, K = {config.num_samples}"
    ran = payload.get("epochs_run")
    ran = len(payload.get("history") or []) if ran is None else ran
    schedule = "" if config.schedule == "constant" else \
        " decayed by 10^(-1/7) per stage of 3^i epochs (Burda et al. 2016)"
    binarization = "; a fresh binarization of the training images every epoch" if config.binarization == "resampled" \
        else ""
    if config.warm_start is not None:
        first = config.start_epoch + 1
        return (f"{objective}; Adam lr {config.learning_rate:g}{schedule}{binarization}, batch {config.batch_size}; "
                f"epochs {first}-{config.start_epoch + config.epochs} of the schedule at most (ran {ran}, "
                f"early stopping after {config.patience} without beating the start), continued with a fresh Adam "
                f"state from the weights of: {recipe_words(config.warm_start, {'epochs_run': payload.get('warm_start_epochs_run')})}")
    return (f"{objective}; Adam lr {config.learning_rate:g}{schedule}, batch {config.batch_size}, at most {config.epochs} "
            f"epochs, early stopping after {config.patience} without a better validation objective{binarization}; ran "
            f"{ran} epochs, seed {config.seed}")


def make_reference(preset: str, out: str | os.PathLike, *, num_samples: int = 100_000, points: int | None = None,
                   split: str = "test", epochs: int | None = None, seed: int = 0, data: str | None = None,
                   cache: str | None = None, device: str = "cpu", progress: bool = True,
                   command: str | None = None, estimator: str = "importance", options: dict | None = None,
                   bdmc_points: int = 0) -> tuple[pd.DataFrame, Path]:
    """Train (or find) a preset, estimate the reference log p(x) of every point of ``split`` (or of its
    first ``points``), and write the file; returns the table and the path. The header names the
    subset and the training recipe, counts untrustworthy rows and, with ``bdmc_points`` (AIS only),
    states the BDMC gap on data simulated from the model."""
    from vaebench.data import load
    from vaebench.training.presets import preset_config
    from vaebench.training.trainer import load_or_train

    if bdmc_points and estimator != "ais":
        raise ValueError(f"bdmc_points: the BDMC gap checks an AIS reference (estimator 'ais'), not {estimator!r}")
    config = preset_config(preset, epochs=epochs)
    model, checkpoint, payload = load_or_train(config, data_path=data, cache=cache, device=device, progress=progress)
    model.requires_grad_(False)
    full = load(config.data, split, path=data)
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 1):
        raise ValueError(f"points must be an integer >= 1, or None for the whole split; got {points!r}")
    x = full[:points].to(device)
    table = reference_log_marginal(model, x, num_samples, seed=seed, estimator=estimator, options=options,
                                   progress=progress)
    bad = int(untrustworthy(table).sum())
    extra: dict[str, Any] = {}
    if options:
        extra["options"] = ", ".join(f"{k}={v}" for k, v in sorted(options.items()))
    if bdmc_points:
        gaps = bdmc_check(model, bdmc_points, num_samples, seed=seed + 1, options=options, progress=progress)
        bdmc_path = Path(out).with_suffix(".bdmc.csv")
        se = gaps["gap"].std() / len(gaps) ** 0.5
        extra.update(bdmc_file=bdmc_path.name,
                     bdmc_gap=f"{gaps['gap'].mean():.4f} ± {se:.4f} nats (mean ± SE over {len(gaps)} points simulated "
                              f"from the model; median {gaps['gap'].median():.4f}): upper − lower bound of log p(x) "
                              "by reverse and forward AIS with these settings")
        write_reference(bdmc_path, gaps, command=command, preset=preset, checkpoint=checkpoint.name,
                        simulated_points=bdmc_points, num_samples=num_samples, seed=seed + 1,
                        **({"options": extra["options"]} if "options" in extra else {}))
    path = write_reference(out, table, command=command, preset=preset, checkpoint=checkpoint.name, split=split,
                           subset=subset_words(len(x), len(full), split), recipe=recipe_words(config, payload),
                           estimator=estimator, num_samples=num_samples, seed=seed, **extra,
                           untrustworthy_rows=f"{bad} of {len(table)} (ESS < 10 or Pareto k-hat > 0.7)")
    return table, path

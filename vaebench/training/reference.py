"""Reference log p(x) for models whose latent is too large for quadrature.

Importance sampling with the encoder and a very large K, chunked, per test point: the estimate,
its delta-method standard error, and the effective sample size and Pareto k̂ that say whether to
trust it (an ESS of a handful, or k̂ > 0.7, means a few weights dominate and the stated error
is optimistic). Stored as a generated CSV file whose header records the command that made it.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from vaebench.estimators import importance
from vaebench.ops import pareto_k

__all__ = ["reference_log_marginal", "write_reference", "read_reference", "make_reference", "untrustworthy"]


@torch.no_grad()
def reference_log_marginal(model: Any, x: torch.Tensor, num_samples: int, *, seed: int = 0,
                           batch_size: int = 100) -> pd.DataFrame:
    """Per data point: ``log_px`` (IS with the encoder, K = ``num_samples``), ``stderr``, ``ess`` and
    the Pareto ``khat`` of the weights (above 0.7 the estimate, and its stderr, are unreliable)."""
    g = torch.Generator().manual_seed(seed)
    frames = []
    for start in range(0, x.shape[0], batch_size):
        est = importance.estimate(model, x[start : start + batch_size], num_samples, generator=g)
        frames.append(pd.DataFrame({"index": range(start, start + len(est.log_px)),
                                    "log_px": est.log_px.double().cpu().numpy(),
                                    "stderr": est.stderr.double().cpu().numpy(),
                                    "ess": est.ess.double().cpu().numpy(),
                                    "khat": pareto_k(est.log_weights).cpu().numpy()}))
    return pd.concat(frames, ignore_index=True)


def _command_line() -> str:
    """This process's command line, as a person would type it."""
    args = sys.argv[1:]
    if sys.argv and Path(sys.argv[0]).name in ("__main__.py", "vaebench"):
        return "vaebench " + shlex.join(args)
    return shlex.join(sys.argv)


def write_reference(path: str | os.PathLike, table: pd.DataFrame, *, command: str | None = None,
                    **provenance: Any) -> Path:
    """Write ``table`` as CSV behind a ``#`` header: the command (default: this process's command
    line), UTC time and ``provenance``."""
    import vaebench

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"generated-by": "vaebench " + vaebench.__version__, "command": command or _command_line(),
              "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": torch.__version__,
              **provenance}
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        for key, value in header.items():
            f.write(f"# {key}: {value}\n")
        table.to_csv(f, index=False)
    os.replace(tmp, path)
    return path


def read_reference(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table and the header of a reference file."""
    header = {}
    with open(path) as f:
        for line in f:
            if not line.startswith("# "):
                break
            key, _, value = line[2:].rstrip("\n").partition(": ")
            header[key] = value
    return pd.read_csv(path, comment="#"), header


def untrustworthy(table: pd.DataFrame) -> pd.Series:
    """Rows whose estimate should not be trusted: ESS below 10 or Pareto k̂ above 0.7."""
    return (table["ess"] < 10) | (table["khat"] > 0.7)


def make_reference(preset: str, out: str | os.PathLike, *, num_samples: int = 100_000, points: int = 1000,
                   split: str = "test", epochs: int | None = None, seed: int = 0, data: str | None = None,
                   cache: str | None = None, device: str = "cpu", progress: bool = True,
                   command: str | None = None) -> tuple[pd.DataFrame, Path]:
    """Train (or find) a preset, estimate the reference log p(x) of its first ``points`` test points,
    and write the file; returns the table and the path. The header counts untrustworthy rows."""
    from vaebench.data import load
    from vaebench.training.presets import preset_config
    from vaebench.training.trainer import load_or_train

    config = preset_config(preset, epochs=epochs)
    model, checkpoint, _ = load_or_train(config, data_path=data, cache=cache, device=device, progress=progress)
    model.requires_grad_(False)
    x = load(config.data, split, path=data)[:points].to(device)
    table = reference_log_marginal(model, x, num_samples, seed=seed)
    bad = int(untrustworthy(table).sum())
    path = write_reference(out, table, command=command, preset=preset, checkpoint=checkpoint.name, split=split,
                           num_samples=num_samples, seed=seed,
                           untrustworthy_rows=f"{bad} of {len(table)} (ESS < 10 or Pareto k-hat > 0.7)")
    return table, path

"""What a BDMC run does, validated once for the ``[bdmc]`` table of a sweep and for ``vaebench bdmc``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BDMCSettings", "RESERVED_OPTIONS", "bdmc_settings"]

# Set by the BDMC run itself: T comes from ``steps``, the reverse chains start at the simulated latents.
RESERVED_OPTIONS = ("num_steps", "posterior_samples", "keep_log_weights", "proposal")


@dataclass(frozen=True)
class BDMCSettings:
    """What a BDMC run does: models (sweep labels), the T values, chains and points, AIS options."""

    models: tuple[str, ...]
    steps: tuple[int, ...]
    num_chains: int = 4
    num_points: int = 32
    options: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"

    def fingerprint(self, model_entry: dict[str, Any], seed: int) -> str:
        body = {**asdict(self), "models": None, "model": model_entry, "seed": seed}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def bdmc_settings(models: tuple[str, ...], steps: Any, num_chains: Any, num_points: Any, options: Mapping[str, Any],
                  dtype: Any, names: Mapping[str, str]) -> BDMCSettings:
    """`BDMCSettings` checked: T values, chains and points integers >= 1, options declared by both
    ``ais`` and ``reverse_ais`` and none of `RESERVED_OPTIONS`, dtype float32 or float64.

    ``names`` maps each field to what the user wrote (``bdmc.steps`` in a config, ``--steps`` on
    the command line), so every error names the argument as given.
    """
    from vaebench.bench.dtypes import BDMC_DTYPES, storage_dtype
    from vaebench.registry import get_estimator

    if not isinstance(steps, (list, tuple)) or not steps or any(
            isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in steps):
        raise ValueError(f"{names['steps']} must be a non-empty list of integers >= 1 (T, annealing distributions), "
                         f"got {steps!r}")
    if len(set(steps)) != len(steps):
        raise ValueError(f"{names['steps']} lists a value twice: {list(steps)}")
    for key, value in (("num_chains", num_chains), ("num_points", num_points)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{names[key]} must be an integer >= 1, got {value!r}")
    for reserved in RESERVED_OPTIONS:
        if reserved in options:
            hint = f" (use {names['steps']} for T)" if reserved == "num_steps" else ""
            raise ValueError(f"{names['options']} {reserved} is set by the BDMC run itself{hint}")
    try:
        options = get_estimator("ais").validate_options(dict(options))
        get_estimator("reverse_ais").validate_options(options)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{names['options']}: {exc}") from None
    storage_dtype(dtype, names["dtype"], BDMC_DTYPES)
    return BDMCSettings(tuple(models), tuple(steps), num_chains, num_points, options, dtype)

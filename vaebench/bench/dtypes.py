"""The precisions a measurement can run in: one table for sweeps, ``estimate``, ``evaluate`` and BDMC.

``tf32`` is float32 storage with TF32 matrix products (CUDA only); every other name is its storage
dtype. Each command accepts the subset that means something for it (BDMC: float32 and float64).
"""

from __future__ import annotations

import torch

__all__ = ["STORAGE", "SWEEP_DTYPES", "ESTIMATE_DTYPES", "BDMC_DTYPES", "storage_dtype"]

STORAGE: dict[str, torch.dtype] = {"float64": torch.float64, "float32": torch.float32, "tf32": torch.float32,
                                   "bfloat16": torch.bfloat16}
SWEEP_DTYPES = tuple(STORAGE)
ESTIMATE_DTYPES = ("float32", "float64", "bfloat16")  # a single run: no TF32 mode to switch
BDMC_DTYPES = ("float32", "float64")  # the sandwich's bounds are meaningless at bfloat16's resolution


def storage_dtype(name: str, where: str = "dtype", allowed: tuple[str, ...] = SWEEP_DTYPES) -> torch.dtype:
    """The storage dtype of precision ``name``; a `ValueError` naming ``where`` and the choices otherwise."""
    if not isinstance(name, str) or name not in allowed:
        raise ValueError(f"{where} must be one of {list(allowed)}, got {name!r}")
    return STORAGE[name]

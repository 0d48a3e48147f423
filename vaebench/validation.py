"""Argument checks with messages that name the argument and the expected form."""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

__all__ = ["check_data", "check_num_samples", "check_chunk_size", "check_positive_int", "check_proposal",
           "unknown_name_message"]


def _model_reference(model: Any) -> Tensor | None:
    """A tensor that carries the model's working dtype and device (the prior's mean), if any."""
    try:
        mean = model.prior.mean
    except (AttributeError, NotImplementedError):
        return None
    return mean if isinstance(mean, Tensor) else None


def check_data(x: Any, model: Any = None) -> Tensor:
    """Check that ``x`` is a finite floating tensor ``[B, D]`` that matches ``model``.

    Raises
    ------
    TypeError
        ``x`` is not a floating-point tensor.
    ValueError
        Wrong rank or width, empty batch, NaN/inf, or a dtype/device other than the model's.
    """
    ref = _model_reference(model) if model is not None else None
    inner = getattr(model, "_model", model)  # the model behind a ContractView
    prepare = " (or model.prepare(x), for a model from vaebench.adapters)" if hasattr(inner, "prepare") else ""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor of shape [B, D], got {type(x).__name__}"
                        + (" (convert with torch.from_numpy)" if type(x).__module__.startswith("numpy") else "")
                        + prepare)
    if x.device.type == "meta":
        raise ValueError("x is on the meta device: it has a shape but no values; give real data (e.g. "
                         "x.to_empty(device='cpu') and fill it, or load it on cpu/cuda)")
    if not x.is_floating_point():
        dtype = ref.dtype if ref is not None else torch.get_default_dtype()
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}; convert with "
                        f"x.to({str(dtype)}) (the model's dtype){prepare}")
    if x.dim() != 2:
        hint = (f"; flatten image-shaped data with x.flatten(1){prepare}" if x.dim() > 2 else "")
        raise ValueError(f"x must have shape [B, D] (rank 2), got shape {list(x.shape)}{hint}")
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one data point, got shape [0, D]")
    data_dim = getattr(model, "data_dim", None)
    if data_dim is not None and x.shape[1] != data_dim:
        raise ValueError(f"x must have shape [B, {data_dim}] for this model, got {list(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).any(dim=1).sum())
        raise ValueError(f"x must be finite: {bad} of {x.shape[0]} rows hold NaN or inf")
    if ref is not None and (ref.dtype != x.dtype or ref.device != x.device):
        raise ValueError(
            f"x is {x.dtype} on {x.device} but the model works in {ref.dtype} on {ref.device}; "
            f"move one to the other, e.g. model.to(x.dtype) or x.to({ref.dtype})"
        )
    return x


def check_positive_int(value: Any, name: str, expected: str) -> int:
    """``value`` as an int >= 1: a TypeError for a bool or non-integer, a ValueError below 1, each naming it."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be {expected}, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be {expected}, got {number}")
    return number


def check_num_samples(num_samples: Any) -> int:
    """Check that ``num_samples`` is an integer K >= 1 and return it as ``int``."""
    return check_positive_int(num_samples, "num_samples", "an integer >= 1")


def check_chunk_size(chunk_size: Any) -> int | None:
    """Check that ``chunk_size`` is None (automatic) or an integer >= 1."""
    return None if chunk_size is None else check_positive_int(chunk_size, "chunk_size", "None or an integer >= 1")


def check_proposal(proposal: Any, x: Tensor, model: Any) -> Distribution:
    """Check that ``proposal`` is a distribution over z with batch shape ``[B]``."""
    if not isinstance(proposal, Distribution):
        raise TypeError(
            f"proposal must be a torch.distributions.Distribution with batch shape [B], "
            f"got {type(proposal).__name__}"
        )
    batch = x.shape[0]
    if tuple(proposal.batch_shape) != (batch,):
        raise ValueError(
            f"proposal must have batch shape [{batch}] (one distribution per row of x), "
            f"got batch shape {list(proposal.batch_shape)}"
        )
    event = tuple(model.prior.event_shape)
    if tuple(proposal.event_shape) != event:
        raise ValueError(
            f"proposal must have event shape {list(event)} (the latent size of the prior), "
            f"got event shape {list(proposal.event_shape)}"
        )
    return proposal


def unknown_name_message(kind: str, name: Any, choices: list[str]) -> str:
    """``unknown <kind> 'x'. Did you mean 'y'? Available: ...`` with a case-insensitive closest match."""
    import difflib

    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=1)
    hint = f" Did you mean {lowered[close[0]]!r}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Available: {', '.join(sorted(choices))}"

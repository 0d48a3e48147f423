"""What ``vaebench evaluate`` evaluates: the model and the data, each with its provenance and checksum.

A model is a catalogue name, a training preset (trained and cached on first use), or a factory the
user names explicitly (``--import module:attribute``; nothing else is imported). Data is a named
data set with its split, a file (``.npy`` / ``.npz`` without pickles, ``.pt`` with
``weights_only=True``), or points simulated from the model. Every number the evaluation reports
carries these conventions.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from vaebench.data.subsets import subset_words

__all__ = ["resolve_model", "resolve_data", "model_checksum", "data_checksum", "folder_name"]

_IMPORT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def folder_name(text: str, limit: int = 80) -> str:
    """``text`` as a file name: letters, digits, '.', '_' and '-' only, at most ``limit`` characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-") or "model"
    return cleaned[:limit]


def _as_latent_model(obj: Any, origin: str) -> Any:
    """A pythae model through its adapter; anything else as it is (checked later by `check_model`)."""
    if type(obj).__module__.startswith("pythae."):
        from vaebench.adapters import from_pythae

        return from_pythae(obj)
    return obj


def resolve_model(name: str | None = None, *, factory: str | None = None, options: dict[str, Any] | None = None,
                  cache: str | None = None, data_path: str | None = None, progress: bool = True) -> tuple[Any, dict]:
    """The model to evaluate and its provenance.

    Parameters
    ----------
    name : str, optional
        A catalogue model (``vaebench models``) or a training preset (``vaebench train``).
    factory : str, optional
        ``module:attribute``: an attribute of an importable module, called with no arguments when
        it is a function or class (a factory), used as it is otherwise; a pythae model is wrapped
        with `vaebench.adapters.from_pythae`. Only the module named here is imported.
    """
    if (name is None) == (factory is None):
        raise ValueError("give a model: a catalogue name or preset, or --import module:attribute (one of them)")
    if factory is not None:
        if not isinstance(factory, str) or not _IMPORT.match(factory):
            raise ValueError(f"--import must be module:attribute (e.g. mypkg.models:load_vae), got {factory!r}")
        module_name, _, attribute = factory.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"--import {factory}: cannot import module {module_name!r} ({exc})") from None
        for part in attribute.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"--import {factory}: module {module_name!r} has no attribute {attribute!r}")
            obj = getattr(obj, part)
        if callable(obj) and not isinstance(obj, nn.Module) and not hasattr(obj, "log_likelihood"):
            obj = obj()
        return _as_latent_model(obj, factory), {"model": factory, "model_source": f"factory {factory}"}
    from vaebench.registry import UnknownModelError, get_model_spec, list_models
    from vaebench.training.presets import PRESETS, pretrained

    if name in PRESETS:
        model = pretrained(name, cache=cache, data_path=data_path, progress=progress)
        return model, {"model": name, "model_source": f"training preset {name} (vaebench train {name})"}
    try:
        spec = get_model_spec(name)
    except UnknownModelError:
        from vaebench.validation import unknown_name_message

        raise ValueError(unknown_name_message("model", name, [*list_models(), *PRESETS])
                         + "; or --import module:attribute for a model of your own") from None
    model = spec.build(**(options or {}))
    shown = ", ".join(f"{k}={v}" for k, v in sorted((options or {}).items()))
    return model, {"model": name, "model_source": f"catalogue model {name}" + (f" ({shown})" if shown else "")}


def model_checksum(model: Any) -> str:
    """sha256 of the model's parameters (every tensor's name, dtype, shape and bytes)."""
    from vaebench.training.trainer import state_digest

    if hasattr(model, "state_tensors"):
        return state_digest(model.state_tensors())
    inner = getattr(model, "model", None)
    if isinstance(model, nn.Module):
        return state_digest(model.state_dict())
    if isinstance(inner, nn.Module):
        return state_digest(inner.state_dict())
    tensors = {k: v for k, v in vars(model).items() if isinstance(v, Tensor)} if hasattr(model, "__dict__") else {}
    return state_digest(tensors)


def data_checksum(x: Tensor) -> str:
    """sha256 of the data as evaluated (float64 values, shape included)."""
    h = hashlib.sha256(str(tuple(x.shape)).encode())
    h.update(np.ascontiguousarray(x.detach().double().cpu().numpy()).tobytes())
    return h.hexdigest()


_BINARIZATION = {
    "binarized-mnist": "static: Larochelle & Murray's fixed binarization (2011)",
    "dynamic-mnist": "dynamic: pixels drawn Bernoulli(intensity / 255) once, seed {seed}",
    "synthetic-2d": "none (synthetic binary data)",
}


def _load_file(path: Path) -> Tensor:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return torch.from_numpy(np.load(path, allow_pickle=False))
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.keys())
            key = "x" if "x" in keys else (keys[0] if len(keys) == 1 else None)
            if key is None:
                raise ValueError(f"--data {path}: an .npz file needs an array named 'x' or a single array, found {keys}")
            return torch.from_numpy(archive[key])
    if suffix in (".pt", ".pth"):
        value = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(value, Tensor):
            raise ValueError(f"--data {path}: the file holds a {type(value).__name__}, not a tensor")
        return value
    raise ValueError(f"--data {path}: unknown file type {suffix!r}; use .npy, .npz or .pt")


def resolve_data(spec: str, model: Any, *, points: int | None, data_path: str | os.PathLike | None = None,
                 seed: int = 0) -> tuple[Any, dict]:
    """The data (before ``prepare``) and its provenance.

    ``spec`` is ``NAME[:split]`` (a data set of `vaebench.data.DATASETS`, split ``test`` by
    default), ``simulated`` (``points`` drawn from the model, seed ``seed``), or a file path.
    ``points``: the first N points (all when None).
    """
    from vaebench.data import DATASETS, load

    if not isinstance(spec, str) or not spec:
        raise ValueError("--data must be NAME[:split], 'simulated' or a file path")
    if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 1):
        raise ValueError(f"--points must be an integer >= 1, got {points!r}")
    if spec == "simulated":
        draw = getattr(model, "sample", None)
        if not callable(draw):
            raise ValueError("--data simulated: this model cannot simulate data (no sample method)")
        n = points or 1000
        x = draw(n, generator=torch.Generator(device=getattr(model, "device", "cpu")).manual_seed(seed))
        return x, {"data": "simulated", "split": "-", "binarization": "none (drawn from the model)",
                   "data_seed": str(seed), "points": str(n)}
    name, _, split = spec.partition(":")
    if name in DATASETS:
        split = split or "test"
        x = load(name, split, path=data_path, seed=seed)
        binarization = _BINARIZATION.get(name, "-").format(seed=seed)
        total = x.shape[0]
        x = x[:points] if points else x
        return x, {"data": name, "split": split, "binarization": binarization, "points": str(len(x)),
                   "subset": subset_words(len(x), total, split)}
    path = Path(spec)
    if not path.is_file():
        from vaebench.validation import unknown_name_message

        raise ValueError(unknown_name_message("data set", spec, list(DATASETS))
                         + " (NAME[:split]), 'simulated', or the path of an existing .npy/.npz/.pt file")
    x = _load_file(path)
    total = x.shape[0]
    x = x[:points] if points else x
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return x, {"data": str(path), "split": "-", "binarization": "as stored in the file", "file_sha256": digest,
               "points": str(len(x)), "subset": subset_words(len(x), total, "file")}

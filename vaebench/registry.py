"""One registry for estimators and models: built-ins, installed plug-ins (entry points) and `register()`.

Plug-ins are discovered from the entry-point groups ``vaebench.estimators`` (each names an
`EstimatorSpec`) and ``vaebench.models`` (each names a `ModelSpec`). Loading happens once and is
cached. A plug-in that fails to import (even with ``sys.exit`` or another BaseException short of
KeyboardInterrupt), names something of another type, or reuses a taken name is skipped with a
`PluginWarning`; it never takes the registry, or the process, down.
"""

from __future__ import annotations

import functools
import warnings
from importlib.metadata import entry_points
from typing import Any

from vaebench.base import EstimatorSpec
from vaebench.estimators import BUILTINS
from vaebench.models.catalogue import BUILTIN_MODELS, ModelSpec
from vaebench.validation import unknown_name_message

__all__ = [
    "refresh",
    "ENTRY_POINT_GROUP",
    "MODEL_ENTRY_POINT_GROUP",
    "PluginWarning",
    "UnknownEstimatorError",
    "UnknownModelError",
    "get_estimator",
    "get_model_spec",
    "list_estimators",
    "list_models",
    "register",
    "register_model",
    "unregister",
    "unregister_model",
]

ENTRY_POINT_GROUP = "vaebench.estimators"
MODEL_ENTRY_POINT_GROUP = "vaebench.models"

_registered: dict[str, EstimatorSpec] = {}
_registered_models: dict[str, ModelSpec] = {}


class PluginWarning(UserWarning):
    """An installed plug-in could not be loaded and was skipped."""


class UnknownEstimatorError(KeyError):
    """No estimator of that name is installed."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class UnknownModelError(UnknownEstimatorError):
    """No model of that name is in the catalogue."""


def _load_group(group: str, kind: type, builtin_names: set[str]) -> dict[str, Any]:
    """Every valid object of ``kind`` that the group's entry points name, by its ``name``."""
    found: dict[str, Any] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        where = f"entry point {ep.name!r} = {ep.value!r}"
        try:
            obj = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a plug-in's import must not take the process down
            warnings.warn(f"skipping {where}: it failed to load ({type(exc).__name__}: {exc})", PluginWarning, 3)
            continue
        if not isinstance(obj, kind):
            warnings.warn(f"skipping {where}: it names a {type(obj).__name__}, not a vaebench.{kind.__name__}",
                          PluginWarning, 3)
            continue
        if obj.name in builtin_names or obj.name in found:
            warnings.warn(f"skipping {where}: the name {obj.name!r} is already taken", PluginWarning, 3)
            continue
        found[obj.name] = obj
    return found


@functools.cache
def _plugins() -> dict[str, EstimatorSpec]:
    return _load_group(ENTRY_POINT_GROUP, EstimatorSpec, {spec.name for spec in BUILTINS})


@functools.cache
def _model_plugins() -> dict[str, ModelSpec]:
    return _load_group(MODEL_ENTRY_POINT_GROUP, ModelSpec, {spec.name for spec in BUILTIN_MODELS})


def list_estimators() -> dict[str, EstimatorSpec]:
    """All available estimators by name: built-ins, then installed plug-ins, then registered ones."""
    specs = {spec.name: spec for spec in BUILTINS}
    specs.update(_plugins())
    specs.update(_registered)
    return specs


def list_models() -> dict[str, ModelSpec]:
    """All models of the catalogue by name: built-ins, then installed plug-ins, then registered ones."""
    specs = {spec.name: spec for spec in BUILTIN_MODELS}
    specs.update(_model_plugins())
    specs.update(_registered_models)
    return specs


def get_estimator(name: str) -> EstimatorSpec:
    """The estimator called ``name``.

    Raises
    ------
    UnknownEstimatorError
        With the installed names and the closest match.
    """
    specs = list_estimators()
    if name in specs:
        return specs[name]
    raise UnknownEstimatorError(unknown_name_message("estimator", name, list(specs)))


def get_model_spec(name: str) -> ModelSpec:
    """The catalogue entry called ``name`` (`UnknownModelError` names the closest match)."""
    specs = list_models()
    if name in specs:
        return specs[name]
    raise UnknownModelError(unknown_name_message("model", name, list(specs)))


def _register(table: dict, spec: Any, kind: type, builtins: tuple, listing: dict, overwrite: bool, what: str) -> Any:
    if not isinstance(spec, kind):
        raise TypeError(f"register{'' if kind is EstimatorSpec else '_model'}() takes a vaebench.{kind.__name__}, "
                        f"got {type(spec).__name__}")
    if spec.name in {s.name for s in builtins}:
        raise ValueError(f"{spec.name!r} is a built-in {what} and cannot be replaced; choose another name")
    if not overwrite and spec.name in listing:
        raise ValueError(f"a {what} named {spec.name!r} is already available; pass overwrite=True to replace it")
    table[spec.name] = spec
    return spec


def register(spec: EstimatorSpec, *, overwrite: bool = False) -> EstimatorSpec:
    """Make ``spec`` available by name in this process (e.g. from a notebook); returns it.

    Raises
    ------
    ValueError
        The name is taken and ``overwrite`` is False (built-ins can never be replaced).
    """
    return _register(_registered, spec, EstimatorSpec, BUILTINS, list_estimators(), overwrite, "estimator")


def register_model(spec: ModelSpec, *, overwrite: bool = False) -> ModelSpec:
    """Add a `ModelSpec` to the catalogue in this process; returns it."""
    return _register(_registered_models, spec, ModelSpec, BUILTIN_MODELS, list_models(), overwrite, "model")


def unregister(name: str) -> None:
    """Remove an estimator added with `register` (plug-ins and built-ins stay)."""
    if name not in _registered:
        raise UnknownEstimatorError(f"{name!r} was not added with register(); registered: {sorted(_registered)}")
    del _registered[name]


def unregister_model(name: str) -> None:
    """Remove a model added with `register_model`."""
    if name not in _registered_models:
        raise UnknownModelError(f"{name!r} was not added with register_model(); registered: "
                                f"{sorted(_registered_models)}")
    del _registered_models[name]


def refresh() -> None:
    """Forget the cached entry-point plug-ins (estimators and models): the next lookup loads them
    again, e.g. after ``pip install`` of a plug-in in a running notebook."""
    _plugins.cache_clear()
    _model_plugins.cache_clear()

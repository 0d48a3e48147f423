"""The estimator registry: built-ins, installed plug-ins (entry points) and `register()`.

Plug-ins are discovered from the entry-point group ``vaebench.estimators``; each entry point
names an `EstimatorSpec` object. Loading happens once and is cached. A plug-in that fails to
import, names something other than a spec, or reuses a taken name is skipped with a
`PluginWarning`; it never breaks the registry.
"""

from __future__ import annotations

import functools
import warnings
from importlib.metadata import entry_points

from vaebench.base import EstimatorSpec
from vaebench.estimators import BUILTINS
from vaebench.validation import unknown_name_message

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginWarning",
    "UnknownEstimatorError",
    "get_estimator",
    "list_estimators",
    "register",
    "unregister",
]

ENTRY_POINT_GROUP = "vaebench.estimators"

_registered: dict[str, EstimatorSpec] = {}


class PluginWarning(UserWarning):
    """An installed estimator plug-in could not be loaded and was skipped."""


class UnknownEstimatorError(KeyError):
    """No estimator of that name is installed."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@functools.cache
def _plugins() -> dict[str, EstimatorSpec]:
    builtin_names = {spec.name for spec in BUILTINS}
    found: dict[str, EstimatorSpec] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        where = f"entry point {ep.name!r} = {ep.value!r}"
        try:
            spec = ep.load()
        except Exception as exc:  # a plug-in's import error must not break the registry
            warnings.warn(f"skipping {where}: it failed to load ({type(exc).__name__}: {exc})", PluginWarning, 2)
            continue
        if not isinstance(spec, EstimatorSpec):
            warnings.warn(
                f"skipping {where}: it names a {type(spec).__name__}, not a vaebench.EstimatorSpec", PluginWarning, 2
            )
            continue
        if spec.name in builtin_names or spec.name in found:
            warnings.warn(f"skipping {where}: the name {spec.name!r} is already taken", PluginWarning, 2)
            continue
        found[spec.name] = spec
    return found


def list_estimators() -> dict[str, EstimatorSpec]:
    """All available estimators by name: built-ins, then installed plug-ins, then registered ones."""
    specs = {spec.name: spec for spec in BUILTINS}
    specs.update(_plugins())
    specs.update(_registered)
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


def register(spec: EstimatorSpec, *, overwrite: bool = False) -> EstimatorSpec:
    """Make ``spec`` available by name in this process (e.g. from a notebook); returns it.

    Raises
    ------
    ValueError
        The name is taken and ``overwrite`` is False (built-ins can never be replaced).
    """
    if not isinstance(spec, EstimatorSpec):
        raise TypeError(f"register() takes a vaebench.EstimatorSpec, got {type(spec).__name__}")
    if spec.name in {s.name for s in BUILTINS}:
        raise ValueError(f"{spec.name!r} is a built-in estimator and cannot be replaced; choose another name")
    if not overwrite and spec.name in list_estimators():
        raise ValueError(f"an estimator named {spec.name!r} is already available; pass overwrite=True to replace it")
    _registered[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove an estimator added with `register` (plug-ins and built-ins stay)."""
    if name not in _registered:
        raise UnknownEstimatorError(f"{name!r} was not added with register(); registered: {sorted(_registered)}")
    del _registered[name]

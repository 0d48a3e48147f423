"""Declared options: what callers may pass an estimator or a model besides its fixed arguments.

An `Option` states a keyword's type, default, range and the domain the conformance kit explores;
`DeclaresOptions` gives a spec the checks and command-line parsing built on its declarations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from vaebench.validation import unknown_name_message

__all__ = ["DeclaresOptions", "Option"]

_TYPE_WORDS = {bool: "a bool (True or False)", int: "an integer", float: "a number", str: "a string"}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


@dataclass(frozen=True)
class Option:
    """One declared option of an estimator: what callers may pass besides the model, x and K.

    Callers (the library, ``vaebench estimate --option``, sweep profiles) pass only declared
    options, and every value is checked against its declaration before the estimator runs, so a
    typo or a wrongly typed value is a clear error instead of a silent default.

    Parameters
    ----------
    name : str
        The keyword argument of the estimate function.
    type : type
        ``bool``, ``int``, ``float``, ``str`` or a class (e.g. `torch.distributions.Distribution`).
        Strict: a float is not an int, a string is not a bool; an int is accepted as a float.
    default : object
        The value used when the option is not passed (None allows None).
    description : str
        One line for listings.
    choices : tuple, optional
        The allowed values (for ``str`` options).
    minimum, maximum : float, optional
        The smallest and largest allowed values (numeric options).
    kit_values : tuple, optional
        Values the conformance kit runs the estimator's claims under, besides the default. Bool
        options are tried both ways and choices all, whatever this says.
    domain : (low, high), optional
        For numeric options, the range the conformance kit explores at random (log-uniformly
        when 0 < low and high / low >= 10; integers rounded): the values where the estimator's
        claims must hold, typically wider than ``kit_values``. Defaults to [minimum, maximum] when
        both are set, else to a range around the default and ``kit_values`` (see `draw`).
    """

    name: str
    type: type
    default: Any
    description: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    kit_values: tuple[Any, ...] = ()
    maximum: float | None = None
    domain: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Option name must be a Python identifier, got {self.name!r}")
        if not isinstance(self.type, type):
            raise TypeError(f"Option {self.name!r}: type must be a class such as int or float, got {self.type!r}")
        if self.domain is not None:
            if self.type not in (int, float) or len(self.domain) != 2 or not self.domain[0] <= self.domain[1]:
                raise ValueError(f"Option {self.name!r}: domain must be (low, high) with low <= high, for an int or "
                                 f"float option, got {self.domain!r}")
            for end in self.domain:
                self.validate(self.type(end))

    @property
    def expected(self) -> str:
        """What a valid value looks like, in words."""
        module = self.type.__module__.split(".")
        qualified = ".".join(module[:2] + [self.type.__name__]) if module[0] != "builtins" else self.type.__name__
        words = _TYPE_WORDS.get(self.type, f"a {qualified}")
        if self.choices:
            words = "one of " + ", ".join(repr(c) for c in self.choices)
        if self.minimum is not None:
            words += f" >= {self.minimum:g}"
        if self.maximum is not None:
            words += f" <= {self.maximum:g}"
        return words + (" or None" if self.default is None else "")

    def validate(self, value: Any, owner: str = "estimator") -> Any:
        """``value`` if it fits the declaration (ints widened to float), else a TypeError/ValueError."""
        where = f"{owner} option {self.name}"
        if value is None:
            if self.default is None:
                return None
            raise TypeError(f"{where} must be {self.expected}, got None")
        ok = isinstance(value, self.type) and not (self.type in (int, float) and isinstance(value, bool))
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            shown = repr(value) if len(repr(value)) <= 60 else "a value"
            raise TypeError(f"{where} must be {self.expected}, got {shown} ({type(value).__name__})")
        if self.type is float and not math.isfinite(value):
            raise ValueError(f"{where} must be finite, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{where} must be {self.expected}, got {value!r}")
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise ValueError(f"{where} must be {self.expected}, got {value!r}")
        return value

    def parse(self, text: str, owner: str = "estimator") -> Any:
        """The value of ``text`` (from a command line), validated."""
        where = f"{owner} option {self.name}"
        if text.lower() == "none" and self.default is None:
            return None
        if self.type is bool:
            if text.lower() not in _TRUE + _FALSE:
                raise ValueError(f"{where} must be true or false, got {text!r}")
            return text.lower() in _TRUE
        if self.type in (int, float):
            try:
                value = int(text) if self.type is int else float(text)
            except ValueError:
                raise ValueError(f"{where} must be {self.expected}, got {text!r}") from None
            return self.validate(value, owner)
        if self.type is str:
            return self.validate(text, owner)
        raise ValueError(f"{where} takes {self.expected}, which cannot be given on the command line")

    def values_to_try(self) -> tuple[Any, ...]:
        """The non-default values the conformance kit exercises."""
        if self.type is bool:
            candidates: tuple[Any, ...] = (True, False)
        else:
            candidates = tuple(self.choices) + tuple(self.kit_values)
        seen: list[Any] = []
        for v in candidates:
            if v != self.default and v not in seen:
                seen.append(v)
        return tuple(seen)

    def explorable(self) -> bool:
        """Can the kit draw values of this option at random (bools, choices, numbers)?"""
        return self.type in (bool, int, float) or bool(self.choices)

    def numeric_domain(self) -> tuple[float, float]:
        """The (low, high) range of a numeric option that `draw` samples from."""
        if self.domain is not None:
            return float(self.domain[0]), float(self.domain[1])
        if self.minimum is not None and self.maximum is not None:
            return float(self.minimum), float(self.maximum)
        known = [float(v) for v in (self.default, *self.kit_values) if isinstance(v, (int, float))]
        low = min(known) / 2 if known else (self.minimum if self.minimum is not None else 0.0)
        high = max(known) * 2 if known else (self.maximum if self.maximum is not None else 1.0)
        if self.minimum is not None:
            low = max(low, float(self.minimum))
        if self.maximum is not None:
            high = min(high, float(self.maximum))
        return low, max(low, high)

    def draw(self, rng: Any) -> Any:
        """A random valid value from the option's domain (``rng`` a `numpy.random.Generator`): bools and
        choices uniformly (None too where it is the default), numbers log-uniformly over wide positive
        ranges and uniformly otherwise."""
        if self.type is bool:
            return bool(rng.integers(2))
        if self.choices:
            values = list(self.choices) + ([None] if self.default is None else [])
            return values[int(rng.integers(len(values)))]
        if self.type not in (int, float):
            raise TypeError(f"option {self.name!r} of type {self.type.__name__} has no domain to draw from")
        low, high = self.numeric_domain()
        if low > 0 and high / low >= 10:
            value = math.exp(rng.uniform(math.log(low), math.log(high)))
        else:
            value = rng.uniform(low, high)
        if self.type is int:
            value = int(min(max(round(value), math.ceil(low)), math.floor(high)))
        return self.validate(value)

    def describe(self) -> str:
        """``name (type, default …): description`` for listings."""
        kind = "|".join(map(str, self.choices)) if self.choices else self.type.__name__
        return f"{self.name} ({kind}, default {self.default!r}): {self.description}"


class DeclaresOptions:
    """What an estimator spec and a model spec share: a tuple ``options`` of `Option` and a ``kind``."""

    kind = "object"
    name: str
    options: tuple[Option, ...]

    def option(self, name: str) -> Option | None:
        """The declared option called ``name``, or None."""
        return next((o for o in self.options if o.name == name), None)

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` checked against the declarations: unknown names (with the closest match) and
        values of the wrong type or range are errors."""
        checked = {}
        for key, value in options.items():
            declared = self.option(key)
            if declared is None:
                known = [o.name for o in self.options]
                if not known:
                    raise TypeError(f"{self.kind} {self.name!r} declares no options, got {key}={value!r}")
                raise TypeError(f"{self.kind} {self.name!r} has no option {key!r}. "
                                + unknown_name_message("option", key, known).split(". ", 1)[1])
            checked[key] = declared.validate(value, f"{self.kind} {self.name!r}")
        return checked

    def parse_options(self, pairs: list[tuple[str, str]], flag: str) -> dict[str, Any]:
        """``KEY=VALUE`` text pairs from a command line (``flag``), typed by the declarations."""
        options: dict[str, Any] = {}
        for key, text in pairs:
            declared = self.option(key)
            if declared is None:
                self.validate_options({key: text})  # raises, naming the declared options
            if key in options:
                raise ValueError(f"{flag} {key} is given twice")
            options[key] = declared.parse(text, f"{self.kind} {self.name!r}")
        return options

"""Sweep configuration: a grid of models × estimators × K × replicates × devices × dtypes.

Configs are TOML files; named profiles live in ``benchmarks/profiles/``. Example::

    name = "quick"
    seed = 0
    num_points = 16
    num_samples = [1, 10, 100, 1000]
    replicates = 4
    estimators = ["prior", "importance", "elbo"]   # or "all": every installed estimator
    devices = ["cpu"]                               # "cuda" is skipped with a warning where absent
    dtypes = ["float32"]                            # float64, float32, tf32 (CUDA), bfloat16
    timing_repeats = 3                              # median of this many timed runs, after a warm-up
    timeout = 600                                   # optional: seconds one estimator call may run (the
                                                    # estimate, each timing repeat, the memory pass); a cell
                                                    # with a call past it is a failed cell

    [estimator_options]                             # optional: declared options (`vaebench list`)
    elbo = { analytic_kl = true }

    [[variants]]                                    # optional: an estimator under another name with
    name = "ais-T16"                                # options of its own (list the name in estimators)
    estimator = "ais"
    options = { num_steps = 16, leapfrog_steps = 5 }
    num_samples = [1, 10, 100]                      # optional: the only K values it runs at
    models = ["ppca-10x2"]                          # optional: the only models it runs on

    [bdmc]                                          # optional: forward and reverse AIS on data simulated
    models = ["ppca-10x2"]                          # from these models, at each T (`vaebench bdmc`)
    steps = [4, 16, 64, 256]
    num_chains = 4
    num_points = 32
    options = { leapfrog_steps = 5 }                # declared options of ais (not num_steps)

    [[models]]
    name = "ppca-10x2"                              # the label in results and figures
    model = "ppca"                                  # a catalogue name (`vaebench models`)
    options = { data_dim = 10, latent_dim = 2, encoder = "exact", encoder_scale = 1.3 }
    num_samples = [1, 10, 100]                      # optional: this model's own K values
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vaebench.bench.bdmc_settings import BDMCSettings, bdmc_settings
from vaebench.bench.dtypes import SWEEP_DTYPES
from vaebench.results.store import safe_name
from vaebench.sampling import derived_seed
from vaebench.validation import unknown_name_message

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ModelEntry", "Variant", "SweepConfig", "Cell", "check_device_name", "check_timeout", "load_config", "profile_path",
           "PROFILES_DIR", "GROUND_TRUTH_DIR"]

PROFILES_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "profiles"
# Shipped inputs of every bench run: the references on real data that the report compares with.
GROUND_TRUTH_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "ground_truth"
# Precision is a sweep axis: "tf32" is float32 storage with TF32 matrix products (CUDA only).


@dataclass(frozen=True)
class ModelEntry:
    """One model of the sweep: a label, a catalogue name, its options and, optionally, its own
    K values (e.g. fewer for a model whose likelihood is expensive)."""

    name: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    num_samples: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Variant:
    """An estimator with options of its own under a name of its own (e.g. AIS at several T), and
    optionally the only K values it runs at (AIS at K = 10⁵ would dominate a sweep) and the only
    models it runs on (the harmonic mean needs a model with a closed-form posterior)."""

    name: str
    estimator: str
    options: dict[str, Any] = field(default_factory=dict)
    num_samples: tuple[int, ...] | None = None
    models: tuple[str, ...] | None = None


# Model and variant names name every cell file (with the estimator, K, replicate, device and dtype):
# at most 64 characters each keeps those names, and their temporary files, within 255 bytes.
NAME_LIMIT = 64


@dataclass(frozen=True)
class Cell:
    """One unit of work: one estimate of log p(x) for the sweep's data points of one model."""

    model: str
    estimator: str
    num_samples: int
    replicate: int
    device: str
    dtype: str

    @property
    def key(self) -> str:
        """A file-name-safe identifier, unique within a sweep."""
        return f"{self.model}__{self.estimator}__K{self.num_samples}__r{self.replicate}__{self.device}__{self.dtype}"

    def seed(self, sweep_seed: int) -> int:
        """The cell's own seed: the same cell gets the same random stream on any executor."""
        return derived_seed(sweep_seed, self.key)


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep (see the module docstring for the TOML form)."""

    name: str
    models: tuple[ModelEntry, ...]
    estimators: tuple[str, ...]
    num_samples: tuple[int, ...]
    replicates: int = 8
    num_points: int = 32
    devices: tuple[str, ...] = ("cpu",)
    dtypes: tuple[str, ...] = ("float32",)
    seed: int = 0
    timing_repeats: int = 3
    estimator_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()
    bdmc: BDMCSettings | None = None
    timeout: float | None = None

    def cells(self) -> list[Cell]:
        """Every cell of the grid, in a stable order (cheap cells first within a model)."""
        return [
            Cell(m.name, e, k, r, d, t)
            for m in self.models
            for k in (m.num_samples or self.num_samples)
            for e in self.estimators
            if self.runs_at(e, k) and self.runs_on(e, m.name)
            for d in self.devices
            for t in self.dtypes
            for r in range(self.replicates)
        ]

    def variant(self, label: str) -> Variant | None:
        return next((v for v in self.variants if v.name == label), None)

    def runs_at(self, label: str, k: int) -> bool:
        """Does the estimator (or variant) called ``label`` run at K = ``k``?"""
        v = self.variant(label)
        return v is None or v.num_samples is None or k in v.num_samples

    def runs_on(self, label: str, model: str) -> bool:
        """Does the estimator (or variant) called ``label`` run on the model called ``model``?"""
        v = self.variant(label)
        return v is None or v.models is None or model in v.models

    def estimator_of(self, label: str) -> str:
        """The installed estimator behind ``label`` (a variant's, or ``label`` itself)."""
        v = self.variant(label)
        return v.estimator if v is not None else label

    def options_of(self, label: str) -> dict[str, Any]:
        """The declared options ``label`` runs with."""
        v = self.variant(label)
        return dict(v.options) if v is not None else dict(self.estimator_options.get(label, {}))

    def model_entry(self, name: str) -> ModelEntry:
        return next(m for m in self.models if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def fingerprint(self) -> str:
        """Hash of everything that determines the results (not the run name)."""
        # The timeout decides which cells finish, not what a finished cell holds: a rerun with
        # another timeout continues the same sweep.
        body = {k: v for k, v in self.to_dict().items() if k not in ("name", "timeout")}
        for key in ("estimator_options", "variants", "bdmc"):  # configs from before these keep their fingerprint
            if not body[key]:
                del body[key]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "SweepConfig":
        """Validate a parsed TOML/JSON config strictly; errors name the offending key and the expected form.

        No coercion: a float is not an integer, a string is not a list. Model and estimator
        options are checked against their declarations, devices and dtypes against what exists,
        and duplicates are refused, all before any cell runs.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{source}: a config is a table of keys, got {type(data).__name__}")
        known = list(cls.__dataclass_fields__)
        for key in data:
            if key not in known:
                raise ValueError(f"{source}: {unknown_name_message('key', key, known)}")

        def need(key: str) -> Any:
            if key not in data:
                raise ValueError(f"{source}: missing required key {key!r}")
            return data[key]

        models = _models(need("models"), source)
        variants = _variants(data.get("variants", []), source)
        for v in variants:
            unknown = [m for m in v.models or () if m not in {e.name for e in models}]
            if unknown:
                raise ValueError(f"{source}: variant {v.name!r} lists models {unknown} that the sweep does not define "
                                 f"(its models: {[e.name for e in models]})")
        estimators = _estimators(need("estimators"), [v.name for v in variants], source)
        estimator_options = _estimator_options(data.get("estimator_options", {}),
                                               [e for e in estimators if e not in {v.name for v in variants}], source)
        ks = _positive_ints(need("num_samples"), f"{source}: num_samples")
        devices, dtypes = _devices_and_dtypes(data, source)
        try:
            name = safe_name(_string(data.get("name", "sweep"), f"{source}: name"), "sweep name")
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None
        cfg = cls(
            name=name,
            models=tuple(models),
            estimators=tuple(estimators),
            num_samples=tuple(sorted(set(ks))),
            replicates=_int(data.get("replicates", 8), f"{source}: replicates", 1),
            num_points=_int(data.get("num_points", 32), f"{source}: num_points", 1),
            devices=devices,
            dtypes=dtypes,
            seed=_int(data.get("seed", 0), f"{source}: seed", 0),
            timing_repeats=_int(data.get("timing_repeats", 3), f"{source}: timing_repeats", 1),
            estimator_options=estimator_options,
            variants=tuple(variants),
            bdmc=_bdmc(data.get("bdmc"), [m.name for m in models], source),
            timeout=check_timeout(data.get("timeout"), f"{source}: timeout"),
        )
        return cfg


def _models(raw_models: Any, source: str) -> list[ModelEntry]:
    """``[[models]]`` validated: each entry's keys, a safe unique name, a catalogue model and its options."""
    from vaebench.registry import get_model_spec

    if not isinstance(raw_models, list) or not raw_models:
        raise ValueError(f"{source}: models must be a non-empty list of [[models]] tables")
    models = []
    for i, m in enumerate(raw_models):
        where = f"{source}: models[{i}]"
        if not isinstance(m, dict) or "name" not in m or "model" not in m:
            raise ValueError(f"{where} needs 'name' and 'model' (optional 'options', 'num_samples')")
        for key in m:
            if key not in ("name", "model", "options", "num_samples"):
                raise ValueError(f"{where}: {unknown_name_message('key', key, ['name', 'model', 'options', 'num_samples'])}")
        name = _string(m["name"], f"{where}.name")
        try:
            safe_name(name, "model name", limit=NAME_LIMIT)
        except ValueError as exc:
            raise ValueError(f"{where}.name: {exc}") from None
        try:
            spec = get_model_spec(_string(m["model"], f"{where}.model"))
            options = spec.validate_options(_table(m.get("options", {}), f"{where}.options"))
        except (KeyError, TypeError, ValueError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) else exc
            raise ValueError(f"{where}: {message}") from None
        own_ks = m.get("num_samples")
        own = tuple(_positive_ints(own_ks, f"{where}.num_samples")) if own_ks is not None else None
        models.append(ModelEntry(name, m["model"], options, own))
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: model names must be unique, got {names}")
    return models


def _estimators(estimators: Any, variant_names: list[str], source: str) -> list[str]:
    """``estimators`` validated: "all" or unique installed names and variants; every variant listed."""
    from vaebench.registry import get_estimator, list_estimators

    if estimators == "all":
        estimators = list(list_estimators())
    elif not isinstance(estimators, list) or not all(isinstance(e, str) for e in estimators) or not estimators:
        raise ValueError(f"{source}: estimators must be \"all\" or a non-empty list of names, got {estimators!r}")
    if len(set(estimators)) != len(estimators):
        raise ValueError(f"{source}: estimators are listed twice: {estimators}")
    for e in estimators:
        if e in variant_names:
            continue
        try:
            get_estimator(e)
        except KeyError as exc:  # UnknownEstimatorError: its message lists the installed names
            raise ValueError(f"{source}: {exc}") from None
    unused = [v for v in variant_names if v not in estimators]
    if unused:
        raise ValueError(f"{source}: variants {unused} are defined but not listed in estimators {estimators}")
    return estimators


def _devices_and_dtypes(data: dict[str, Any], source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``devices`` and ``dtypes`` validated: known names, none twice."""
    devices = tuple(_strings(data.get("devices", ["cpu"]), f"{source}: devices"))
    for device in devices:
        check_device_name(device, f"{source}: devices")
    dtypes = tuple(_strings(data.get("dtypes", ["float32"]), f"{source}: dtypes"))
    for t in dtypes:
        if t not in SWEEP_DTYPES:
            raise ValueError(f"{source}: {unknown_name_message('dtype', t, list(SWEEP_DTYPES))}")
    for key, values in (("devices", devices), ("dtypes", dtypes)):
        if len(set(values)) != len(values):
            raise ValueError(f"{source}: {key} are listed twice: {list(values)}")
    return devices, dtypes


def check_timeout(value: Any, where: str = "timeout") -> float | None:
    """The time limit of each estimator call in a cell: a number of seconds > 0, or None for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where} must be a number of seconds > 0 (e.g. 600), got {value!r}")
    return float(value)


def _int(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{where} must be an integer >= {minimum}, got {value}")
    return value


def _positive_ints(values: Any, where: str) -> list[int]:
    if not isinstance(values, list) or not values:
        raise ValueError(f"{where} must be a non-empty list of integers >= 1, got {values!r}")
    ints = [_int(v, where, 1) for v in values]
    if len(set(ints)) != len(ints):
        raise ValueError(f"{where} lists a value twice: {ints}")
    return ints


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r} ({type(value).__name__})")
    return value


def _strings(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where} must be a non-empty list of strings, got {values!r}")
    return values


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table of option = value, got {value!r}")
    return value


def check_device_name(device: Any, where: str = "device") -> str:
    """``device`` if it names a torch device kind vaebench runs on: ``cpu``, ``cuda`` or ``cuda:N``."""
    import re

    if not isinstance(device, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise ValueError(f"{where}: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return device


def _bdmc(table: Any, models: list[str], source: str) -> BDMCSettings | None:
    """``[bdmc]`` validated: models among the sweep's, T values, chains, points, AIS options, dtype."""

    if table is None:
        return None
    where = f"{source}: bdmc"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table (models, steps, num_chains, num_points, options, dtype)")
    keys = ["models", "steps", "num_chains", "num_points", "options", "dtype"]
    for key in table:
        if key not in keys:
            raise ValueError(f"{where}: {unknown_name_message('key', key, keys)}")
    names = _strings(table.get("models"), f"{where}.models")
    for name in names:
        if name not in models:
            raise ValueError(f"{where}.models: {name!r} is not a model of this sweep {models}")
    options = _table(table.get("options", {}), f"{where}.options")
    return bdmc_settings(tuple(names), table.get("steps"), table.get("num_chains", 4), table.get("num_points", 32),
                         options, table.get("dtype", "float32"),
                         {key: f"{where}.{key}" for key in ("steps", "num_chains", "num_points", "options", "dtype")})


def _variants(table: Any, source: str) -> list[Variant]:
    """``[[variants]]`` validated: a safe new name, an installed estimator, its declared options."""
    from vaebench.registry import get_estimator, list_estimators

    if not isinstance(table, list):
        raise ValueError(f"{source}: variants must be a list of [[variants]] tables")
    keys = ["name", "estimator", "options", "num_samples", "models"]
    variants = []
    for i, v in enumerate(table):
        where = f"{source}: variants[{i}]"
        if not isinstance(v, dict) or "name" not in v or "estimator" not in v:
            raise ValueError(f"{where} needs 'name' and 'estimator' (optional 'options', 'num_samples', 'models')")
        for key in v:
            if key not in keys:
                raise ValueError(f"{where}: {unknown_name_message('key', key, keys)}")
        name = _string(v["name"], f"{where}.name")
        try:
            safe_name(name, "variant name", limit=NAME_LIMIT)
        except ValueError as exc:
            raise ValueError(f"{where}.name: {exc}") from None
        if name in list_estimators():
            raise ValueError(f"{where}.name: {name!r} is an installed estimator; a variant needs a name of its own")
        try:
            spec = get_estimator(_string(v["estimator"], f"{where}.estimator"))
        except KeyError as exc:
            raise ValueError(f"{where}.estimator: {exc}") from None
        options = _table(v.get("options", {}), f"{where}.options")
        if "keep_log_weights" in options:
            raise ValueError(f"{where}.options.keep_log_weights is set by the sweep itself")
        try:
            options = spec.validate_options(options)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}.options: {exc}") from None
        own, only = v.get("num_samples"), v.get("models")
        if only is not None and (not isinstance(only, list) or not only or not all(isinstance(m, str) for m in only)):
            raise ValueError(f"{where}.models must be a non-empty list of model names, got {only!r}")
        variants.append(Variant(name, spec.name, options,
                                tuple(_positive_ints(own, f"{where}.num_samples")) if own is not None else None,
                                tuple(only) if only is not None else None))
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"{source}: variant names must be unique, got {names}")
    return variants


def _estimator_options(table: Any, estimators: list[str], source: str) -> dict[str, dict[str, Any]]:
    """``[estimator_options]`` validated against each estimator's declared options."""
    from vaebench.registry import get_estimator

    if not isinstance(table, dict):
        raise ValueError(f"{source}: estimator_options must be a table {{estimator = {{option = value}}}}")
    checked = {}
    for name, options in table.items():
        if name not in estimators:
            raise ValueError(f"{source}: estimator_options.{name}: {name!r} is not among this sweep's estimators "
                             f"{estimators}")
        if not isinstance(options, dict):
            raise ValueError(f"{source}: estimator_options.{name} must be a table of option = value")
        if "keep_log_weights" in options:
            raise ValueError(f"{source}: estimator_options.{name}.keep_log_weights is set by the sweep itself "
                             "(weights are kept for the first run only)")
        try:
            checked[name] = get_estimator(name).validate_options(options)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: estimator_options.{name}: {exc}") from None
    return checked


def profile_path(name: str) -> Path:
    """The TOML file of a shipped profile (a plain name, never a path)."""
    try:
        safe_name(name, "profile name")
    except ValueError as exc:
        raise ValueError(f"{exc}; pass a file with --config FILE") from None
    path = PROFILES_DIR / f"{name}.toml"
    if not path.is_file():
        shipped = sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))
        raise ValueError(f"unknown profile {name!r}; shipped profiles: {shipped} (or pass --config FILE)")
    return path


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a TOML sweep config."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    return SweepConfig.from_dict(data, source=str(path))

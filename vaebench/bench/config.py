"""Sweep configuration: a grid of models × estimators × K × replicates × devices × dtypes.

Configs are TOML files; named profiles live in ``benchmarks/profiles/``. Example::

    name = "quick"
    seed = 0
    num_points = 16
    num_samples = [1, 10, 100, 1000]
    replicates = 4
    estimators = ["prior", "importance", "elbo"]   # or "all": every installed estimator
    devices = ["cpu"]                               # "cuda" is skipped with a warning where absent
    dtypes = ["float32"]
    timing_repeats = 3                              # median of this many timed runs, after a warm-up

    [estimator_options]                             # optional: declared options (`vaebench list`)
    elbo = { analytic_kl = true }

    [[models]]
    name = "ppca-10x2"                              # the label in results and figures
    model = "ppca"                                  # a name from vaebench.models.available_models()
    options = { data_dim = 10, latent_dim = 2, encoder = "exact", encoder_scale = 1.3 }
    num_samples = [1, 10, 100]                      # optional: this model's own K values
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ModelEntry", "SweepConfig", "Cell", "load_config", "profile_path", "PROFILES_DIR"]

PROFILES_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "profiles"
_DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class ModelEntry:
    """One model of the sweep: a label, a catalogue name, its options and, optionally, its own
    K values (e.g. fewer for a model whose likelihood is expensive)."""

    name: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    num_samples: tuple[int, ...] | None = None


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
        digest = hashlib.sha256(f"{sweep_seed}/{self.key}".encode()).digest()
        return int.from_bytes(digest[:8], "little") >> 1


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

    def cells(self) -> list[Cell]:
        """Every cell of the grid, in a stable order (cheap cells first within a model)."""
        return [
            Cell(m.name, e, k, r, d, t)
            for m in self.models
            for k in (m.num_samples or self.num_samples)
            for e in self.estimators
            for d in self.devices
            for t in self.dtypes
            for r in range(self.replicates)
        ]

    def model_entry(self, name: str) -> ModelEntry:
        return next(m for m in self.models if m.name == name)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))

    def fingerprint(self) -> str:
        """Hash of everything that determines the results (not the run name)."""
        body = {k: v for k, v in self.to_dict().items() if k != "name"}
        if not body["estimator_options"]:  # configs from before options existed keep their fingerprint
            del body["estimator_options"]
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> "SweepConfig":
        """Validate a parsed TOML/JSON config; errors name the offending key."""
        from vaebench.models import available_models
        from vaebench.registry import get_estimator, list_estimators

        def need(key: str) -> Any:
            if key not in data:
                raise ValueError(f"{source}: missing required key {key!r}")
            return data[key]

        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{source}: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
        models = []
        for i, m in enumerate(need("models")):
            if not isinstance(m, dict) or "name" not in m or "model" not in m:
                raise ValueError(f"{source}: models[{i}] needs 'name' and 'model' (optional 'options', 'num_samples')")
            if set(m) - {"name", "model", "options", "num_samples"}:
                raise ValueError(f"{source}: models[{i}] has unknown keys {sorted(set(m) - {'name', 'model', 'options', 'num_samples'})}")
            if m["model"] not in available_models():
                raise ValueError(f"{source}: models[{i}].model = {m['model']!r} is not one of {list(available_models())}")
            own_ks = m.get("num_samples")
            if own_ks is not None and (not own_ks or any(int(k) < 1 for k in own_ks)):
                raise ValueError(f"{source}: models[{i}].num_samples must be a non-empty list of integers >= 1")
            models.append(ModelEntry(str(m["name"]), m["model"], dict(m.get("options", {})),
                                     tuple(sorted({int(k) for k in own_ks})) if own_ks is not None else None))
        if len({m.name for m in models}) != len(models):
            raise ValueError(f"{source}: model names must be unique")
        estimators = need("estimators")
        estimators = list(list_estimators()) if estimators == "all" else list(estimators)
        for e in estimators:
            try:
                get_estimator(e)
            except KeyError as exc:  # UnknownEstimatorError: its message lists the installed names
                raise ValueError(f"{source}: {exc}") from None
        estimator_options = _estimator_options(data.get("estimator_options", {}), estimators, source)
        ks = [int(k) for k in need("num_samples")]
        if not ks or any(k < 1 for k in ks):
            raise ValueError(f"{source}: num_samples must be a non-empty list of integers >= 1, got {ks}")
        dtypes = tuple(data.get("dtypes", ("float32",)))
        if any(t not in _DTYPES for t in dtypes):
            raise ValueError(f"{source}: dtypes must be among {_DTYPES}, got {list(dtypes)}")
        cfg = cls(
            name=str(data.get("name", "sweep")),
            models=tuple(models),
            estimators=tuple(estimators),
            num_samples=tuple(sorted(set(ks))),
            replicates=int(data.get("replicates", 8)),
            num_points=int(data.get("num_points", 32)),
            devices=tuple(data.get("devices", ("cpu",))),
            dtypes=dtypes,
            seed=int(data.get("seed", 0)),
            timing_repeats=int(data.get("timing_repeats", 3)),
            estimator_options=estimator_options,
        )
        for key in ("replicates", "num_points", "timing_repeats"):
            if getattr(cfg, key) < 1:
                raise ValueError(f"{source}: {key} must be >= 1, got {getattr(cfg, key)}")
        return cfg


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
    """The TOML file of a shipped profile."""
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

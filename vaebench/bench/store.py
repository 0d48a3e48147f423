"""Append-only, crash-safe storage of sweep results: one JSON file per finished cell.

Each cell is written to a temporary file in the same directory and renamed into place
(`os.replace` is atomic on POSIX and Windows), so a file under ``cells/`` is either absent or
complete: killing the sweep at any moment loses at most the cells in flight. Leftover
temporaries and files that do not parse (a disk that filled up, a hand edit) are detected on
open and their cells redone. ``sweep.json`` pins the config's fingerprint: a directory holding
another sweep is refused instead of mixed in.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

from vaebench.bench.config import Cell, SweepConfig

__all__ = ["ResultStore", "ResultsMismatchError"]


class ResultsMismatchError(ValueError):
    """The results directory belongs to a sweep with another configuration."""


def _atomic_write_json(path: Path, payload: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ResultStore:
    """The results directory of one sweep.

    Parameters
    ----------
    root : path
        Created if absent. Holds ``sweep.json`` (config and fingerprint), ``cells/*.json`` (one
        record per finished cell) and ``models/*.json`` (each model's truth and theory).
    config : SweepConfig, optional
        Required to create a store; when opening an existing one it must match.
    """

    def __init__(self, root: str | Path, config: SweepConfig | None = None) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        meta_path = self.root / "sweep.json"
        if meta_path.exists():
            stored = json.loads(meta_path.read_text())
            if config is not None and stored["fingerprint"] != config.fingerprint():
                raise ResultsMismatchError(
                    f"{self.root} holds results of another sweep (config fingerprint {stored['fingerprint']}, "
                    f"this config {config.fingerprint()}); choose another --out directory or delete it"
                )
            self.config = SweepConfig.from_dict(stored["config"], source=str(meta_path))
        elif config is None:
            raise FileNotFoundError(f"{self.root} is not a vaebench results directory (no sweep.json)")
        else:
            self.cells_dir.mkdir(parents=True, exist_ok=True)
            _atomic_write_json(meta_path, {"fingerprint": config.fingerprint(), "config": config.to_dict()})
            self.config = config
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir = self.root / "models"
        self.models_dir.mkdir(exist_ok=True)
        self._discard_partial_files()

    def _discard_partial_files(self) -> None:
        for tmp in [*self.cells_dir.glob(".*.tmp"), *self.models_dir.glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)
        for path in [*self.cells_dir.glob("*.json"), *self.models_dir.glob("*.json")]:
            try:
                json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                warnings.warn(f"{path} is damaged; its cell will be redone", stacklevel=2)
                path.unlink()

    def path(self, cell: Cell) -> Path:
        return self.cells_dir / f"{cell.key}.json"

    def done(self) -> set[str]:
        """Keys of the finished cells."""
        return {p.stem for p in self.cells_dir.glob("*.json")}

    def pending(self) -> list[Cell]:
        """The config's cells that have no result yet, in grid order."""
        done = self.done()
        return [c for c in self.config.cells() if c.key not in done]

    def write(self, cell: Cell, record: dict[str, Any]) -> None:
        """Store a finished cell (append-only: an existing result is never overwritten).

        The record's ``theory`` (the model's data, truth and per-point theory, identical for all
        of a model's cells) is stored once per model under ``models/``, written before the cell.
        """
        path = self.path(cell)
        if path.exists():
            raise FileExistsError(f"cell {cell.key} is already stored; results are append-only")
        record = dict(record)
        theory = record.pop("theory")
        model_path = self.models_dir / f"{cell.model}.json"
        if not model_path.exists():
            _atomic_write_json(model_path, theory)
        _atomic_write_json(path, record)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every stored cell record, with its model's ``theory`` merged back in."""
        theories: dict[str, Any] = {}
        for path in sorted(self.cells_dir.glob("*.json")):
            record = json.loads(path.read_text())
            model = record["cell"]["model"]
            if model not in theories:
                theories[model] = json.loads((self.models_dir / f"{model}.json").read_text())
            record["theory"] = theories[model]
            yield record

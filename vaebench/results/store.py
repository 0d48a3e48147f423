"""Append-only, crash-safe, checksummed storage of sweep results: one JSON file per finished cell.

Each cell is written to a temporary file in the same directory and renamed into place
(`os.replace` is atomic on POSIX and Windows), so a file under ``cells/`` is either absent or
complete: killing the sweep at any moment loses at most the cells in flight. Every record
carries a schema version and a sha256 checksum (`vaebench.results.schema`), and so does each
model's truth file under ``models/``. On open, leftover temporaries are removed (unless a live
sweep holds the directory's lock: they are its cells in flight), records of a newer schema are
refused and left in place, and records or truth files that do not parse, fail their checksum or
break the schema are moved to ``quarantine/`` (named in a warning) so that their cells are redone. ``sweep.json``
pins the sweep's fingerprint and the keys of its cells: a directory holding another sweep is
refused instead of mixed in. The store knows nothing of how a sweep is configured.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

from vaebench.results.schema import RecordError, SchemaVersionError, checksum, seal, validate_record

__all__ = ["ResultStore", "ResultsMismatchError", "atomic_write_bytes", "atomic_write_json", "make_folder", "safe_name"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,199}$")


class ResultsMismatchError(ValueError):
    """The results directory belongs to a sweep with another configuration."""


def safe_name(name: str, what: str = "name", limit: int = 200) -> str:
    """``name`` if it can be a file name inside a results directory (no separators, no '..', at most
    ``limit`` characters: the names of models and variants are kept short enough that every cell
    file named after them fits the file system's 255 bytes)."""
    if not isinstance(name, str) or not _SAFE.match(name) or ".." in name or len(name) > limit:
        shown = name if not isinstance(name, str) or len(name) <= 80 else f"{name[:60]}... ({len(name)} characters)"
        raise ValueError(f"{what} must be letters, digits, '.', '_' or '-' (not starting with '.', no '..', at most "
                         f"{limit} characters) to be used as a file name, got {shown!r}")
    return name


def make_folder(path: str | os.PathLike, what: str = "--out") -> Path:
    """Create the output folder ``path`` (and its parents), or say in one sentence why it cannot be one."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.is_symlink() and not folder.exists():
            raise ValueError(f"{what} {path}: {folder} is a symbolic link to {os.readlink(folder)}, which does not "
                             "exist; create the target folder or give another path")
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} exists and is not a folder; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{what} {path} cannot be created: {exc.strerror or exc}") from None
    return path


def _umask_mode() -> int:
    """0o666 under the process umask: the mode any other tool gives a new file (mkstemp's is 0o600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never a partial file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, json.dumps(payload, separators=(",", ":")).encode())


def seal_theory(theory: dict[str, Any]) -> dict[str, Any]:
    """A model's truth and theory as stored: with its sha256, so that an edit is found on read."""
    body = {k: v for k, v in theory.items() if k not in ("sha256", "schema")}
    return {**body, "sha256": checksum(body)}


def open_theory(payload: Any, where: str) -> dict[str, Any]:
    """The truth and theory of a stored model file, its checksum verified (files written before
    checksums, without ``sha256``, are read as they are)."""
    if not isinstance(payload, dict) or "truth" not in payload or not isinstance(payload["truth"], (list, type(None))):
        raise RecordError(f"{where}: no 'truth' list")
    body = {k: v for k, v in payload.items() if k != "sha256"}
    if "sha256" in payload and payload["sha256"] != checksum(body):
        raise RecordError(f"{where}: checksum mismatch (the stored truth was edited or damaged)")
    return body


def _other_writer_alive(root: Path) -> bool:
    """Does a live process other than this one hold the sweep lock of ``root`` (``.lock``, its PID)?"""
    try:
        pid = int((root / ".lock").read_text().strip() or "0")
    except (OSError, ValueError):
        return False
    return pid > 0 and pid != os.getpid() and process_alive(pid)


def process_alive(pid: int) -> bool:
    """Is process ``pid`` running (a lock's owner)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ResultStore:
    """The results directory of one sweep.

    Parameters
    ----------
    root : path
        Created if absent. Holds ``sweep.json`` (fingerprint, config, cell keys),
        ``cells/*.json`` (one record per finished cell) and ``models/*.json`` (each model's truth
        and theory).
    fingerprint, config, keys : optional
        Required to create a store (the sweep's fingerprint, its config as a dict, and the keys
        of all its cells); when opening an existing one the fingerprint must match.
    """

    def __init__(self, root: str | Path, fingerprint: str | None = None, config: dict | None = None,
                 keys: list[str] | None = None) -> None:
        self.root = Path(root)
        self.cells_dir = self.root / "cells"
        self.models_dir = self.root / "models"
        self.quarantine_dir = self.root / "quarantine"
        meta_path = self.root / "sweep.json"
        if meta_path.exists():
            try:
                stored = json.loads(meta_path.read_text())
                stored_fp, stored_config = stored["fingerprint"], stored["config"]
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
                raise RecordError(f"{meta_path} is damaged; delete the directory or choose another --out") from None
            if fingerprint is not None and stored_fp != fingerprint:
                raise ResultsMismatchError(
                    f"{self.root} holds results of another sweep (config fingerprint {stored_fp}, this config "
                    f"{fingerprint}); choose another --out directory or delete it")
            self.fingerprint, self.config = stored_fp, stored_config
            self.keys = stored.get("keys")
        elif fingerprint is None:
            raise FileNotFoundError(f"{self.root} is not a vaebench results directory (no sweep.json)")
        else:
            make_folder(self.root, "the results folder")
            atomic_write_json(meta_path, {"fingerprint": fingerprint, "config": config, "keys": keys})
            self.fingerprint, self.config, self.keys = fingerprint, config, keys
        self.cells_dir.mkdir(parents=True, exist_ok=True)
        self.models_dir.mkdir(exist_ok=True)
        self._check_files()

    # ------------------------------------------------------------------ integrity
    def _quarantine(self, path: Path, reason: str) -> None:
        self.quarantine_dir.mkdir(exist_ok=True)
        target = self.quarantine_dir / f"{path.parent.name}__{path.name}"
        os.replace(path, target)
        warnings.warn(f"{path} is damaged ({reason}); moved to {target}, its cell will be redone", stacklevel=3)

    def _check_files(self) -> None:
        # A running sweep's temporaries are its cells in flight: only the lock's owner, or anyone once
        # the owner is gone, may remove them (a reader such as `vaebench report` never does).
        if not _other_writer_alive(self.root):
            for tmp in [*self.cells_dir.glob(".*.tmp"), *self.models_dir.glob(".*.tmp")]:
                tmp.unlink(missing_ok=True)
        broken_models = set()
        for path in self.models_dir.glob("*.json"):
            try:
                open_theory(json.loads(path.read_text()), str(path))
            except (json.JSONDecodeError, UnicodeDecodeError, RecordError) as exc:
                self._quarantine(path, str(exc))
                broken_models.add(path.stem)
        for path in self.cells_dir.glob("*.json"):
            try:
                record = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                self._quarantine(path, str(exc))
                continue
            try:
                validate_record(record, str(path))
            except SchemaVersionError as exc:  # written by a newer vaebench: refuse, and leave it where it is
                raise SchemaVersionError(f"{exc}; nothing in {self.root} was changed") from None
            except RecordError as exc:
                self._quarantine(path, str(exc))
                continue
            try:
                if record["cell"]["model"] in broken_models or not (
                        self.models_dir / f"{record['cell']['model']}.json").exists():
                    raise RecordError("its model's truth file is missing or damaged")
                truth = json.loads((self.models_dir / f"{record['cell']['model']}.json").read_text())["truth"]
                if truth is not None and record["log_px"] is not None and len(truth) != len(record["log_px"]):
                    raise RecordError(f"{len(record['log_px'])} estimates for {len(truth)} data points")
            except (json.JSONDecodeError, UnicodeDecodeError, RecordError, KeyError, TypeError) as exc:
                self._quarantine(path, str(exc))

    # ------------------------------------------------------------------ cells
    def path(self, key: str) -> Path:
        return self.cells_dir / f"{safe_name(key, 'cell key')}.json"

    def done(self) -> set[str]:
        """Keys of the finished cells."""
        return {p.stem for p in self.cells_dir.glob("*.json")}

    def pending_keys(self) -> list[str]:
        """Keys of the sweep's cells without a result (empty where the sweep did not list them)."""
        done = self.done()
        return [k for k in (self.keys or []) if k not in done]

    def write(self, key: str, record: dict[str, Any]) -> None:
        """Store a finished cell (append-only: an existing result is never overwritten).

        The record's ``theory`` (the model's data, truth and per-point theory, identical for all
        of a model's cells) is stored once per model under ``models/``, written before the cell.
        """
        path = self.path(key)
        if path.exists():
            raise FileExistsError(f"cell {key} is already stored; results are append-only")
        record = dict(record)
        theory = record.pop("theory")
        model_path = self.models_dir / f"{safe_name(record['cell']['model'], 'model name')}.json"
        if not model_path.exists():
            atomic_write_json(model_path, seal_theory(theory))
        sealed = seal(record)
        validate_record(sealed, key)
        atomic_write_json(path, sealed)

    def retire(self, key: str) -> Path:
        """Take a stored cell out of the results so that it runs again, its record kept under
        ``retried/`` (numbered, never overwritten): results stay append-only in what they hold."""
        path = self.path(key)
        folder = self.root / "retried"
        folder.mkdir(exist_ok=True)
        for n in itertools.count(1):
            target = folder / f"{path.stem}.{n}.json"
            if not target.exists():
                os.replace(path, target)
                return target
        raise AssertionError("unreachable")

    def records(self, failed: bool = False) -> Iterator[dict[str, Any]]:
        """Every stored cell record (validated), with its model's ``theory`` merged back in; the
        records of failed cells instead with ``failed=True``."""
        finished, failures = self.records_and_failures()
        yield from (failures if failed else finished)

    def records_and_failures(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The finished and the failed cells' records, from one pass over the files."""
        theories: dict[str, Any] = {}
        finished, failures = [], []
        for path in sorted(self.cells_dir.glob("*.json")):
            record = validate_record(json.loads(path.read_text()), str(path))
            model = record["cell"]["model"]
            if model not in theories:
                model_path = self.models_dir / f"{model}.json"
                theories[model] = open_theory(json.loads(model_path.read_text()), str(model_path))
            record["theory"] = theories[model]
            (failures if record.get("error") is not None else finished).append(record)
        return finished, failures

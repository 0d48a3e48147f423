"""The schema of a cell record: its version, its checksum and its validation on read.

A record holds ``cell`` (model, estimator, K, replicate, device, dtype), ``log_px`` (one estimate
per data point), optional diagnostics (``ess``, ``stderr``, ``khat``), ``tags``, ``meta``,
``seconds``, ``timing`` and ``peak_bytes``; a failed cell holds ``error`` (the message) and
``log_px`` null instead.

A record is plain JSON. Version 2 adds ``schema`` (this version) and ``sha256`` (of the record's
canonical JSON without that field), so that a record damaged on disk, even one that is still
valid JSON, is detected and redone rather than read. Version 1 records (no checksum) are read
with their structure validated; a record of a newer version is refused with a clear message.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

__all__ = ["SCHEMA_VERSION", "RecordError", "SchemaVersionError", "checksum", "seal", "validate_record"]

SCHEMA_VERSION = 2


class RecordError(ValueError):
    """A stored record is damaged or does not follow the schema."""


class SchemaVersionError(RecordError):
    """A record was written by a vaebench with another schema version."""


def checksum(record: dict[str, Any]) -> str:
    """sha256 of the record's canonical JSON, without its ``sha256`` field."""
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """The record with ``schema`` and ``sha256`` set (what the store writes)."""
    sealed = {**record, "schema": SCHEMA_VERSION}
    sealed.pop("sha256", None)
    sealed["sha256"] = checksum(sealed)
    return sealed


_CELL_KEYS = {"model": str, "estimator": str, "num_samples": int, "replicate": int, "device": str, "dtype": str}


def _number_list(value: Any, length: int | None, what: str, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise RecordError(f"{what} must be a list of {length} numbers, got {type(value).__name__}"
                          + (f" of length {len(value)}" if isinstance(value, list) else ""))
    for v in value:
        if not (isinstance(v, (int, float)) and not isinstance(v, bool)) and v is not None:
            raise RecordError(f"{what} holds a non-number {v!r}")


def validate_record(record: Any, where: str = "record") -> dict[str, Any]:
    """``record`` if it is a well-formed cell record; else `RecordError` saying what is wrong."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a record is a JSON object, got {type(record).__name__}")
    version = record.get("schema", 1)
    if version != 1 and version != SCHEMA_VERSION:
        raise SchemaVersionError(f"{where}: schema version {version!r}, but this vaebench reads versions 1 and "
                                 f"{SCHEMA_VERSION}; re-render with a matching vaebench or re-run the sweep")
    if version == SCHEMA_VERSION and record.get("sha256") != checksum(record):
        raise RecordError(f"{where}: checksum mismatch (the file was changed or damaged after it was written)")
    cell = record.get("cell")
    if not isinstance(cell, dict) or any(not isinstance(cell.get(k), t) for k, t in _CELL_KEYS.items()):
        raise RecordError(f"{where}: 'cell' must hold {sorted(_CELL_KEYS)}")
    if record.get("error") is not None:  # a failed cell: its message, and no estimates
        if not isinstance(record["error"], str) or record.get("log_px") is not None:
            raise RecordError(f"{where}: a failed cell has an 'error' message and log_px null")
        return record
    log_px = record.get("log_px")
    _number_list(log_px, None, f"{where}: log_px", allow_none=False)
    if not log_px:
        raise RecordError(f"{where}: log_px is empty")
    if any(v is None or (isinstance(v, float) and (math.isnan(v) or v == math.inf)) for v in log_px):
        raise RecordError(f"{where}: log_px holds NaN or +inf")
    for key in ("ess", "stderr", "khat"):
        _number_list(record.get(key), len(log_px), f"{where}: {key}")
    if not isinstance(record.get("tags"), dict) or not isinstance(record.get("meta"), dict):
        raise RecordError(f"{where}: 'tags' and 'meta' must be objects")
    if not isinstance(record.get("seconds"), (int, float)):
        raise RecordError(f"{where}: 'seconds' must be a number")
    return record

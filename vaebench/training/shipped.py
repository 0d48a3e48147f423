"""Checkpoints shipped with vaebench, so that its presets and ``nox -s bench`` never train them.

They live in ``vaebench/training/checkpoints/`` under their cache names (``DATA-KEY.pt``, the key a
hash of the full training configuration and the data), listed in ``manifest.json`` with the sha256
of each file, the preset, the command that trained it and what the training reached. A shipped
file is used only when its name matches the configuration and data asked for, its file sha256
matches the manifest, and it then passes every check of `trainer.load_checkpoint` (weights_only
loading, the weights' own sha256, finite weights, the same configuration).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["SHIPPED_DIR", "ShippedCheckpointError", "add_to_manifest", "file_sha256", "manifest", "shipped_checkpoint"]

SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"
MANIFEST = "manifest.json"


class ShippedCheckpointError(RuntimeError):
    """A shipped checkpoint does not match its manifest: the installation is damaged or was edited."""


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest(folder: Path = SHIPPED_DIR) -> dict[str, dict[str, Any]]:
    """{file name: entry} of the shipped checkpoints (empty where none are shipped)."""
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ShippedCheckpointError(f"{path} cannot be read ({exc}); reinstall vaebench") from None
    if not isinstance(entries, dict) or not all(isinstance(e, dict) and "sha256" in e for e in entries.values()):
        raise ShippedCheckpointError(f"{path} is not a manifest of {{file: {{sha256, ...}}}}; reinstall vaebench")
    return entries


def shipped_checkpoint(file_name: str, folder: Path = SHIPPED_DIR) -> Path | None:
    """The shipped checkpoint called ``file_name`` (``DATA-KEY.pt``) once its sha256 matches the manifest;
    None where none is shipped under that name. A mismatch raises `ShippedCheckpointError`."""
    entry = manifest(folder).get(file_name)
    if entry is None:
        return None
    path = folder / file_name
    if not path.is_file():
        raise ShippedCheckpointError(f"the manifest lists {file_name} but {folder} does not hold it; reinstall vaebench")
    if file_sha256(path) != entry["sha256"]:
        raise ShippedCheckpointError(f"the shipped checkpoint {path} does not match the sha256 in its manifest: it "
                                     "was damaged or edited; reinstall vaebench (nothing was loaded)")
    return path


def add_to_manifest(path: Path, entry: dict[str, Any], folder: Path = SHIPPED_DIR) -> dict[str, Any]:
    """Record ``path`` (already in ``folder``) in the manifest with its sha256 and ``entry`` (preset, command, ...)."""
    from vaebench.results.store import atomic_write_bytes

    entries = manifest(folder)
    entries[path.name] = {**entry, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    atomic_write_bytes(folder / MANIFEST, (json.dumps(entries, indent=2, sort_keys=True) + "\n").encode())
    return entries[path.name]

"""The reference file: a CSV table of per-point log p(x) behind a ``#`` header that records how it
was made (command, UTC time, versions, provenance) and the sha256 of the table, verified on every
read. `vaebench reference`, `vaebench evaluate` and the benchmark scripts write it; the report,
`evaluate` and the scripts read it. An edited table is refused (`ReferenceIntegrityError`), never used.
"""

from __future__ import annotations

import os
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ReferenceIntegrityError", "read_reference", "seal_reference", "untrustworthy", "write_reference"]


class ReferenceIntegrityError(ValueError):
    """A reference file whose table no longer matches the checksum in its header (or has none)."""


def _table_digest(body: str) -> str:
    import hashlib

    return hashlib.sha256(body.encode()).hexdigest()


def _table_digest(body: str) -> str:
    import hashlib

    return hashlib.sha256(body.encode()).hexdigest()


def _torch_version() -> str:
    import torch

    return torch.__version__


def _command_line() -> str:
    """This process's command line, as a person would type it."""
    args = sys.argv[1:]
    if sys.argv and Path(sys.argv[0]).name in ("__main__.py", "vaebench"):
        return "vaebench " + shlex.join(args)
    return shlex.join(sys.argv)


def write_reference(path: str | os.PathLike, table: pd.DataFrame, *, command: str | None = None,
                    **provenance: Any) -> Path:
    """Write ``table`` as CSV behind a ``#`` header: the command (default: this process's command
    line), UTC time, ``provenance`` and ``table_sha256`` (of the CSV table as written), which
    `read_reference` verifies."""
    from vaebench.version import __version__

    header = {"generated-by": "vaebench " + __version__, "command": command or _command_line(),
              "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "torch": _torch_version(),
              **provenance}
    return _write(Path(path), header, table.to_csv(index=False))


def _write(path: Path, header: dict[str, Any], body: str) -> Path:
    from vaebench.results.store import atomic_write_bytes

    header = {k: v for k, v in header.items() if k != "table_sha256"}
    header["table_sha256"] = _table_digest(body)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"# {key}: {value}\n" for key, value in header.items()) + body
    atomic_write_bytes(path, text.encode())
    return path


def seal_reference(path: str | os.PathLike) -> Path:
    """Add (or renew) the ``table_sha256`` of a reference file written before files carried one."""
    header, body = _split(Path(path))
    return _write(Path(path), header, body)


def _split(path: Path) -> tuple[dict[str, str], str]:
    header: dict[str, str] = {}
    lines = path.read_text().splitlines(keepends=True)
    first = 0
    for first, line in enumerate(lines):  # noqa: B007 - the index of the first table line is wanted
        if not line.startswith("# "):
            break
        key, _, value = line[2:].rstrip("\n").partition(": ")
        header[key] = value
    else:
        first = len(lines)
    return header, "".join(lines[first:])


def read_reference(path: str | os.PathLike) -> tuple[pd.DataFrame, dict[str, str]]:
    """The table and the header of a reference file, verified against its ``table_sha256``.

    Raises
    ------
    ReferenceIntegrityError
        The table was changed after it was written, or the file carries no checksum.
    """
    import io

    header, body = _split(Path(path))
    digest = header.get("table_sha256")
    if digest is None:
        raise ReferenceIntegrityError(f"reference file {path} carries no table_sha256: its numbers cannot be verified; "
                                      "regenerate it with the command in its header")
    if _table_digest(body) != digest:
        raise ReferenceIntegrityError(f"reference file {path} was changed after it was written (its table does not "
                                      "match the table_sha256 in its header): not used; regenerate it with the command "
                                      "in its header, or restore it")
    return pd.read_csv(io.StringIO(body)), header


def untrustworthy(table: pd.DataFrame) -> pd.Series:
    """Rows whose estimate should not be trusted: ESS below 10 or Pareto k̂ above 0.7."""
    return (table["ess"] < 10) | (table["khat"] > 0.7)

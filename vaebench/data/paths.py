"""Where data sets are found: an explicit path, ``$VAEBENCH_DATA``, or this checkout's ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "ENV_VAR"]

ENV_VAR = "VAEBENCH_DATA"
# A development checkout sits beside the project's shared folder: <root>/main/vaebench/data/paths.py.
_CHECKOUT_FALLBACK = Path(__file__).resolve().parents[3] / "shared" / "data"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The data directory: ``path`` if given, else ``$VAEBENCH_DATA``, else ../shared/data.

    Raises
    ------
    FileNotFoundError
        Naming every place looked at and how to point vaebench at the data.
    """
    candidates = [Path(path)] if path is not None else []
    if path is None and os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    if path is None:
        candidates.append(_CHECKOUT_FALLBACK)
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"no data directory found (looked at: {looked}); pass a path (--data PATH) or set {ENV_VAR}"
    )

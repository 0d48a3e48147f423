"""What a report figure is (its file name, title, drawing function, caption and input table), and how it is saved."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from vaebench.results.store import atomic_write_bytes

__all__ = ["Figure", "save_figure"]


def save_figure(fig, path: Path) -> None:
    """PNG written atomically: a full disk leaves the old file or none, never a truncated one."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(Path(path), buffer.getvalue())


@dataclass(frozen=True)
class Figure:
    """One figure of the report: its file name, title, function, caption and input table."""

    name: str
    title: str
    draw: Callable[[pd.DataFrame, Path], Path | None]
    caption: str
    source: str = "summary"  # or "points", "bdmc"

"""The look every figure shares: matplotlib settings, estimator colours, log axes, one legend, model panels."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vaebench.report.figures.figure import save_figure  # noqa: E402

__all__ = ["STYLE", "ModelPanels", "color_map", "legend_right", "log_axes"]

STYLE = {"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9, "legend.fontsize": 8}


def color_map(names: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {n: cycle[i % len(cycle)] for i, n in enumerate(sorted(names))}


def log_axes(ax) -> None:
    """Log-log axes labelled at powers of ten (no '3×10⁰, 2×10⁰' clutter), or at 1-2-5 steps where the data
    span less than a decade and a half (call after plotting)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    drawn = [np.asarray(getattr(line, f"get_{a}data")(), dtype=float) for line in ax.get_lines() for a in "xy"]
    xs = np.concatenate([drawn[i] for i in range(0, len(drawn), 2)] or [np.array([])])
    ys = np.concatenate([drawn[i] for i in range(1, len(drawn), 2)] or [np.array([])])
    if not ((xs > 0) & np.isfinite(xs)).any() or not ((ys > 0) & np.isfinite(ys)).any():
        return  # nothing positive to draw on a log axis (e.g. a panel whose cells all failed): stay linear
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        low, high = sorted(limits)
        narrow = low > 0 and high / low < 30
        axis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5) if narrow else (1.0,), numticks=12))
        if narrow:
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def legend_right(fig, axes_with_handles) -> None:
    """One legend for the figure, outside the data on the right (entries collected from every panel)."""
    seen: dict[str, object] = {}
    for ax in axes_with_handles:
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="center right", bbox_to_anchor=(0.998, 0.5), frameon=False)


class ModelPanels:
    """A grid of panels, one per model (at most 3 across), with one legend outside on the right:
    ``with ModelPanels(models, path) as panels: for ax, model in panels: ...``."""

    def __init__(self, models: list[str], path: Path, legend_inches: float = 2.0) -> None:
        self.models, self.path, self.legend_inches = models, path, legend_inches

    def __enter__(self) -> "ModelPanels":
        self._style = plt.rc_context(STYLE)
        self._style.__enter__()
        cols = min(3, len(self.models))
        rows = -(-len(self.models) // cols)
        self.fig, self.axes = plt.subplots(rows, cols, figsize=(4.4 * cols + self.legend_inches, 3.2 * rows),
                                           squeeze=False)
        return self

    def __iter__(self):
        return iter(zip(self.axes.flat, self.models))

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                for ax in list(self.axes.flat)[len(self.models):]:
                    ax.set_visible(False)
                legend_right(self.fig, self.axes.flat)
                self.fig.tight_layout(rect=(0, 0, 1 - self.legend_inches / self.fig.get_figwidth(), 1))
                save_figure(self.fig, self.path)
        finally:
            plt.close(self.fig)
            self._style.__exit__(*exc)

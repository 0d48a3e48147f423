"""Reports from saved sweep results: figures, Markdown and self-contained HTML."""

from vaebench.report.render import render_report, verdicts

__all__ = ["render_report", "verdicts"]

"""The report page of one evaluated model: Markdown and a self-contained HTML page."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from vaebench.evaluation.advice import Advice

__all__ = ["markdown", "html_page"]

_CAVEAT = ("All estimators here are stochastic lower bounds of log p(x) (the ELBO and importance sampling in "
           "expectation, AIS in expectation of its log): the headline is a lower bound too. BDMC bounds the error of "
           "AIS on data simulated from the model, where reverse AIS can start from exact posterior samples; on real "
           "data it is an indication, not a guarantee (Grosse et al., 2015; Wu et al., 2017).")


def _sections(advice: Advice, summary: pd.DataFrame, checks: pd.DataFrame, bdmc: pd.DataFrame | None,
              bdmc_reason: str | None, conventions: dict[str, str], truth: dict[str, Any] | None) -> list[tuple]:
    shown = summary.copy()
    shown["below_headline"] = [advice.below_headline.get(r, (0.0, 0.0))[0] for r in shown["rung"]]
    shown["T"] = shown["T"].map(lambda v: "" if pd.isna(v) else int(v))
    out: list[tuple] = [("Headline", [advice.headline]),
                        ("Advice for this model", advice.lines),
                        ("Estimates by estimator and setting", shown),
                        ("Stderr check (replicates)", checks if len(checks) else ["no replicates run"])]
    if bdmc is not None:
        out.append(("BDMC on data simulated from the model", bdmc))
    else:
        out.append(("BDMC on data simulated from the model", [f"not run: {bdmc_reason}"]))
    if truth is not None:
        out.append(("Check against the model's exact log p(x) (not used by the advice)", [
            f"headline minus truth: {truth['headline_error']:.4f} ± {truth['headline_error_se']:.4f} nats (mean over "
            f"points ± SE); {truth['first_accurate_text']}"]))
    out.append(("Conventions", pd.DataFrame({"convention": list(conventions), "value": list(conventions.values())})))
    out.append(("Caveat", [_CAVEAT]))
    return out


def markdown(title: str, *args: Any) -> str:
    """The page as Markdown."""
    lines = [f"# {title}", ""]
    for heading, body in _sections(*args):
        lines += [f"## {heading}", ""]
        if isinstance(body, pd.DataFrame):
            lines += [body.to_markdown(index=False, floatfmt=".4g"), ""]
        else:
            lines += [*(f"- {b}" if len(body) > 1 else b for b in body), ""]
    return "\n".join(lines)


def html_page(title: str, *args: Any) -> bytes:
    """The page as one self-contained HTML file."""
    from vaebench.report.render import html_document

    body = [f"<h1>{html.escape(title)}</h1>"]
    for heading, content in _sections(*args):
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, pd.DataFrame):
            body.append(content.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0))
        else:
            body.append("<ul>" + "".join(f"<li>{html.escape(str(c))}</li>" for c in content) + "</ul>")
    return html_document(title, body)

"""Rendering a results directory into ``index.html`` (self-contained), ``report.md``, PNGs and CSVs.

The report reads the stored records only, so it can be re-rendered at any time without
recomputing anything: ``vaebench report DIR``.
"""

from __future__ import annotations

import base64
import gzip
import html
from pathlib import Path

import numpy as np
import pandas as pd

from vaebench.results.bdmc import bdmc_table, load_bdmc_dir
from vaebench.results.metrics import cells_table, points_table, summarize
from vaebench.results.references import REFERENCES, reference_comparisons
from vaebench.results.store import ResultStore, atomic_write_bytes, make_folder
from vaebench.report import advice, figures

__all__ = ["html_document", "render_report", "results_dir_of", "verdicts"]

_CLAIMS = {"unbiased_in_p": "unbiased in p", "lower_bound": "lower bound", "upper_bound": "upper bound",
           "consistent": "consistent"}


def results_dir_of(path: str | Path) -> Path:
    """The results directory: ``path`` itself if it holds sweep.json (or only BDMC results), else ``path/results``."""
    path = Path(path)
    own = (path / "sweep.json").exists() or ((path / "bdmc").is_dir() and not (path / "results").is_dir())
    return path if own else path / "results"


def _si(value: float) -> str:
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _worst_point(points: pd.DataFrame | None, at: pd.Series) -> str:
    """'worst point #i: RMSE r (ESS e, k̂ k)' at the judged K, from the per-estimate table."""
    if points is None or at.get("worst_point", -1) < 0:
        return ""
    sel = points[(points["model"] == at["model"]) & (points["estimator"] == at["estimator"])
                 & (points["num_samples"] == at["num_samples"]) & (points["device"] == at["device"])
                 & (points["dtype"] == at["dtype"]) & (points["point"] == at["worst_point"])]
    if sel.empty:
        return ""
    rmse = float(np.sqrt((sel["error"] ** 2).mean()))
    diag = [f"{name} {sel[col].mean():.3g}" for name, col in (("ESS", "ess"), ("k̂", "khat"))
            if sel[col].notna().any() and np.isfinite(sel[col]).any()]
    return f"; worst point #{int(at['worst_point'])}: RMSE {rmse:.3g}" + (f" ({', '.join(diag)})" if diag else "")


def verdicts(summary: pd.DataFrame, tags: dict[str, dict], points: pd.DataFrame | None = None) -> pd.DataFrame:
    """One plain-language line per (model, estimator, device, dtype), judged at K = 1000 (or the
    largest K below it): claims · RMSE (theory; per-point median, 90th percentile and the worst point
    with its ESS and k̂) · bias (theory) · best throughput."""
    rows = []
    for (model, est, device, dtype), g in summary.groupby(["model", "estimator", "device", "dtype"], sort=False):
        g = g.sort_values("num_samples")
        at = g[g["num_samples"] <= 1000].iloc[-1] if (g["num_samples"] <= 1000).any() else g.iloc[0]
        claims = [text for tag, text in _CLAIMS.items() if tags.get(est, {}).get(tag)]
        parts = ["claims: " + (", ".join(claims) or "none") + " (tested: see Claims)"]
        broken = int(g["nonfinite_estimates"].sum()) if "nonfinite_estimates" in g else 0
        if broken:
            worst = g.loc[g["nonfinite_estimates"] > 0].iloc[0]
            parts.append(f"BROKEN: {broken} estimates of log p(x) are infinite or absurd (e.g. "
                         f"{worst['nonfinite_example']:.3g} at K={worst['num_samples']}) on a model with known truth")
        if not g.get("has_truth", pd.Series([True])).any():
            parts.append("no ground truth: throughput only")
        elif not np.isfinite(at["rmse"]):
            parts.append(f"no finite error at K={at['num_samples']} (see BROKEN)")
        else:
            rmse = f"RMSE {at['rmse']:.3g} nats at K={at['num_samples']}"
            if np.isfinite(at["theory_rmse"]):
                rmse += f" (theory {at['theory_rmse']:.3g})"
            elif np.isinf(at.get("chi2_mean", np.nan)):
                rmse += " (χ² = ∞: no √K rate)"
            rmse += f"; per point median {at['rmse_point_median']:.3g}, 90th percentile {at['rmse_point_p90']:.3g}"
            rmse += _worst_point(points, at)
            parts.append(rmse)
            bias = f"bias {at['bias']:+.3g} ± {2 * at['bias_se']:.2g}"
            if np.isfinite(at["theory_bias"]):
                agrees = abs(at["bias"] - at["theory_bias"]) <= 3 * at["bias_se"] + 1e-12
                bias += f" ({'matches' if agrees else 'departs from'} theory {at['theory_bias']:+.3g})"
            parts.append(bias)
        if "samples_per_s" in g and g["samples_per_s"].notna().any():
            best = g.loc[g["samples_per_s"].idxmax()]
            parts.append(f"{_si(best['samples_per_s'])} samples/s (K={best['num_samples']})")
        rows.append({"model": model, "estimator": est, "device": device, "dtype": dtype,
                     "rmse_at_k": at["rmse"], "k": at["num_samples"], "verdict": " · ".join(parts)})
    return pd.DataFrame(rows)


def _best_lines(verdict: pd.DataFrame) -> dict[str, str]:
    """Per model: the most accurate estimator at the judged K."""
    out = {}
    for model, g in verdict.groupby("model", sort=False):
        finite = g[np.isfinite(g["rmse_at_k"])]
        if not len(finite):
            out[model] = ("no ground truth: throughput only" if not g["rmse_at_k"].notna().any()
                          else "no estimator has a finite error")
            continue
        best = finite.loc[finite["rmse_at_k"].idxmin()]
        out[model] = f"most accurate at K={best['k']}: {best['estimator']} (RMSE {best['rmse_at_k']:.3g} nats)"
    return out


def _tags(records: list[dict]) -> dict[str, dict]:
    return {r["cell"]["estimator"]: r["tags"] for r in records}


def _cautions(records: list[dict]) -> dict[str, str]:
    """Per estimator label, the caution its spec carries (records of older runs have none)."""
    return {r["cell"]["estimator"]: r["estimator"].get("caution", "") for r in records}


def _meta_lines(records: list[dict], cells: pd.DataFrame, store: ResultStore) -> list[str]:
    meta = records[0]["meta"]
    times = sorted(r["meta"]["utc"] for r in records)
    devices = ", ".join(f"{d}: {n}" for d, n in cells[["device", "device_name"]].drop_duplicates().itertuples(index=False))
    pending = store.pending_keys()
    not_run = ""
    if pending:
        by_model = pd.Series([key.split("__")[0] for key in pending]).value_counts()
        not_run = "; not run: " + ", ".join(f"{m} ({n} cells)" for m, n in by_model.items())
    total = f" of {len(store.keys)}" if store.keys and len(records) <= len(store.keys) else ""
    return [
        f"Cells: {len(records)}{total} (measured {times[0]} to {times[-1]} UTC{not_run})",
        f"Devices: {devices}; CPU threads: {', '.join(map(str, sorted(cells['threads'].unique())))}",
        f"vaebench {meta['vaebench']}, torch {meta['torch']}, Python {meta['python']}, commit {meta['commit'] or 'unknown'}",
    ]


def _problem_lines(failed: list[dict], cells: pd.DataFrame) -> list[str]:
    """One line per failed cell, and one per contaminated timing (another process took CPU)."""
    groups: dict[tuple, list[dict]] = {}
    for r in failed:  # one line per (model, estimator, device, dtype, message), with the count
        c = r["cell"]
        groups.setdefault((c["model"], c["estimator"], c["device"], c["dtype"], r["error"]), []).append(c)
    lines = [f"{model}/{est}/{device}/{dtype}: {len(cells)} cell(s) failed (K = "
             f"{', '.join(str(k) for k in sorted({c['num_samples'] for c in cells}))}): {error}"
             for (model, est, device, dtype, error), cells in groups.items()]
    if "contaminated" in cells:
        timed = cells[cells["median_seconds"].notna()]
        bad = timed[timed["contaminated"].fillna(False).astype(bool)]
        for (model, device), g in bad.groupby(["model", "device"], sort=False):
            total = ((timed["model"] == model) & (timed["device"] == device)).sum()
            used = g["others_cores"].max()
            waited = g["waited_cores"].max() if "waited_cores" in g else np.nan
            why = (f"other processes used up to {used:.2f} cores" if np.isfinite(used) else
                   f"its threads waited up to {waited:.2f} cores' worth for a CPU")
            lines.append(f"{model} on {device}: {len(g)} of {total} timings contaminated ({why} while they ran): "
                         "their throughput is unreliable")
    return lines


_TABLE_COLUMNS = ["model", "estimator", "device", "dtype", "num_samples", "bias", "bias_se", "theory_bias", "std",
                  "theory_std", "rmse", "rmse_lo", "rmse_hi", "rmse_point_median", "rmse_point_p90", "ess_over_k",
                  "khat_mean", "samples_per_s", "peak_mib"]


_BDMC_TEXT = ("Forward AIS from q(z|x) and reverse AIS from the latents that generated each simulated point, K chains "
              "per point and direction: gap = mean(upper − lower) over points (± its SE), which bounds the error of "
              "both at that T. Where log p(x) is known: each bound's mean error (± SE) and whether the sandwich "
              "E[lower] ≤ log p(x) ≤ E[upper] holds within 5 SE plus the truth's stated error (bdmc.csv).")


def _real_text(header: dict) -> str:
    if "integrity_error" in header:
        return f"Rejected: {header['integrity_error']}."
    subset = header.get("subset", "test points (subset not stated in the file)")
    return (f"Per test point, the AIS reference minus each estimate (positive: the estimate is below it), on "
            f"{subset}, under {header.get('checkpoint', 'the shipped checkpoint')}; the reference's own BDMC gap on data simulated "
            f"from the model: {header.get('bdmc_gap_of_reference', 'not measured')}. Shipped in benchmarks/ground_truth/ "
            "(made by benchmarks/mnist_vs_ais.py) and copied into this run's results/references/.")


def _bdmc_columns(bdmc: pd.DataFrame) -> pd.DataFrame:
    keep = ["model", "num_steps", "points", "chains", "gap", "gap_se", "gap_median", "forward_bias", "forward_bias_se",
            "reverse_bias", "reverse_bias_se", "sandwich", "seconds"]
    shown = bdmc[[c for c in keep if c in bdmc]].rename(columns={"num_steps": "T"})
    return shown


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def html_document(title: str, body: list[str]) -> bytes:
    style = ("body{font-family:system-ui,sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#222}"
             "img{max-width:100%;border:1px solid #ddd;margin:.5em 0}table{border-collapse:collapse;font-size:12px}"
             "td,th{padding:2px 8px;text-align:right;border-bottom:1px solid #eee}th{background:#f4f4f4}"
             "table.verdicts td,table.text td{text-align:left}.wide{overflow-x:auto}nav{margin:1em 0;line-height:1.8}"
             "details{margin:.3em 0}summary{cursor:pointer;font-weight:600}td:first-child{white-space:nowrap}"
             "table.text th{text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>").encode()


def _img(p: Path) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}" alt="{p.stem}">'


def _render_bdmc_only(payloads: list[dict], out: Path) -> Path:
    """A report of BDMC results alone (what ``vaebench bdmc --out`` wrote)."""
    make_folder(out)
    bdmc = bdmc_table(payloads)
    atomic_write_bytes(out / "bdmc.csv", bdmc.to_csv(index=False).encode())
    figure = next(f for f in figures.FIGURES if f.source == "bdmc")
    png = figure.draw(bdmc, out / f"{figure.name}.png")
    shown = _bdmc_columns(bdmc)
    md = ["# vaebench BDMC report", "", _BDMC_TEXT, "", shown.to_markdown(index=False, floatfmt=".4g"), "",
          f"## {figure.title}", "", figure.caption, "", f"![{figure.title}]({png.name})"]
    atomic_write_bytes(out / "report.md", ("\n".join(md) + "\n").encode())
    body = ["<h1>vaebench BDMC report</h1>", f"<p>{html.escape(_BDMC_TEXT)}</p>",
            shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0),
            f"<h2>{html.escape(figure.title)}</h2>", f"<p>{html.escape(figure.caption)}</p>", _img(png)]
    atomic_write_bytes(out / "index.html", html_document("vaebench: BDMC", body))
    return out / "index.html"


def _tables(stores: list[ResultStore]) -> tuple[list[dict], list[dict], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Finished records, failures, and the points, cells and summary tables of ``stores`` (the first sets the seed)."""
    records, failed = [], []
    for s in stores:  # one pass over each directory's files
        finished, failures = s.records_and_failures()
        records += finished
        failed += failures
    points, cells = points_table(records), cells_table(records)
    summary = summarize(points, cells, seed=stores[0].config['seed'])
    # Which installed estimator (and which T, for annealing) each label of the sweep ran: variants
    # such as ais-T16 are the same estimator at another option value.
    ran = {r["cell"]["estimator"]: r.get("estimator") or {"name": r["cell"]["estimator"], "options": {}}
           for r in records}
    summary["base_estimator"] = summary["estimator"].map(lambda e: ran[e]["name"])
    summary["num_steps"] = summary["estimator"].map(lambda e: ran[e]["options"].get("num_steps", np.nan))
    return records, failed, points, cells, summary


def _bdmc_of(stores: list[ResultStore]) -> pd.DataFrame:
    return bdmc_table([body for s in stores for body in load_bdmc_dir(s.root)])


def figure_tables(path: str | Path) -> dict[str, pd.DataFrame]:
    """The tables the figures draw from (`Figure.source`: summary, points, bdmc) for the results under ``path``."""
    stores = [ResultStore(results_dir_of(path))]
    _, _, points, _, summary = _tables(stores)
    return {"summary": summary, "points": points, "bdmc": _bdmc_of(stores)}


def render_report(path: str | Path, out: str | Path | None = None, also: list[str | Path] = ()) -> Path:
    """Render the report of the results under ``path`` (and of the results directories in ``also``,
    e.g. another device's sweep of the same models, shown side by side); returns ``index.html``."""
    out = Path(out) if out is not None else (Path(path) if results_dir_of(path) != Path(path) else Path(path).parent)
    if not (results_dir_of(path) / "sweep.json").exists():
        payloads = load_bdmc_dir(results_dir_of(path))
        if not payloads:
            raise ValueError(f"{path} holds no results: no sweep.json and no bdmc/*.json (run `vaebench bench` or "
                             "`vaebench bdmc --out DIR/results/bdmc/MODEL.json`)")
        return _render_bdmc_only(payloads, out)
    store = ResultStore(results_dir_of(path))
    make_folder(out)
    seen = {results_dir_of(path).resolve()}
    for other in also:
        where = results_dir_of(other).resolve()
        if where in seen:
            raise ValueError(f"--also {other}: these results are already in the report (each results folder once)")
        seen.add(where)
    stores = [store, *(ResultStore(results_dir_of(p)) for p in also)]
    records, failed, points, cells, summary = _tables(stores)
    tags, cautions = _tags(records), _cautions(records)
    verdict = verdicts(summary, tags, points)
    atomic_write_bytes(out / "summary.csv", summary.to_csv(index=False).encode())
    # mtime=0: re-rendering the same results gives the same bytes (gzip stamps the time otherwise)
    atomic_write_bytes(out / "points.csv.gz", gzip.compress(points.to_csv(index=False).encode(), mtime=0))
    atomic_write_bytes(out / "verdicts.csv", verdict.to_csv(index=False).encode())

    bdmc = _bdmc_of(stores)
    atomic_write_bytes(out / "bdmc.csv", bdmc.to_csv(index=False).encode())
    tables = {"summary": summary, "points": points, "bdmc": bdmc}
    figs = [(f.title, f.draw(tables[f.source], out / f"{f.name}.png"), f.caption) for f in figures.FIGURES]
    figs = [(t, p, c) for t, p, c in figs if p is not None]
    meta = _meta_lines(records, cells, store)
    table = summary[[c for c in _TABLE_COLUMNS if c in summary]]

    best = _best_lines(verdict)
    sections = [
        ("Models", "Each model's size and encoder, and the theory that predicts how the estimators behave on it, as "
                   "median / 90th percentile / max over its data points: χ²(p(z|x) ‖ q) sets importance sampling's "
                   "variance (∞: no √K rate), KL the ELBO's gap, Var[log w] the ELBO's noise.",
         advice.models_table(records, store.config)),
        ("Which estimator, which K", f"Per model and estimator: the smallest K (with its wall time) at which |bias| and "
                                     f"the RMSE of the median point, or of the worst decile of points, are below "
                                     f"{advice.TARGET_NATS:g} nats; whether the reported standard error matches the "
                                     "actual spread there (within 1.5x); and how often estimates flagged by Pareto k̂ > "
                                     "0.7 or ESS < 10 were within the target, against those not flagged.",
         advice.recommendations(summary, points)),
        ("Which estimator wins at a given wall time", "Per model and budget of wall time per call (all the sweep's "
                                                      "points at once): the estimator with the lowest RMSE among the "
                                                      "K it ran within that time, as estimator (K, RMSE in nats). "
                                                      "Estimators handed exact posterior draws are left out (a real "
                                                      "model has none); ⚠ marks one with a caution (see the claims).",
         advice.winners_at_budget(summary, tags, cautions)),
        ("Claims and what this run verified", "What each estimator claims (its tags), beside what this run's data "
                                              "tested: bounds by a one-sided 5σ test of the mean error at every K, "
                                              "unbiasedness in log p by a two-sided one, consistency by the RMSE "
                                              "falling with K; and the caution an estimator carries.",
         advice.claims_and_verified(summary, tags, cautions)),
    ]
    sections = [(t, c, d) for t, c, d in sections if not d.empty]
    md = [f"# vaebench report: {store.config['name']}", "", *[f"- {m}" for m in meta]]
    for title, caption, frame in sections:
        md += ["", f"## {title}", "", caption, "", frame.to_markdown(index=False)]
    md += ["", "## Verdicts"]
    for model, g in verdict.groupby("model", sort=False):
        md += ["", f"### {model}: {best[model]}", "",
               g[["estimator", "device", "dtype", "verdict"]].to_markdown(index=False)]
    for title, p, caption in figs:
        md += ["", f"## {title}", "", caption, "", f"![{title}]({p.name})"]
    bdmc_shown = _bdmc_columns(bdmc)
    if not bdmc.empty:
        md += ["", "## Bidirectional Monte Carlo (AIS sandwich)", "", _BDMC_TEXT, "",
               bdmc_shown.to_markdown(index=False, floatfmt=".4g")]
    real = reference_comparisons(store.root / REFERENCES)
    for name, header, gaps in real:
        md += ["", f"## Real data: nats below the reference {header.get('reference', name)}", "",
               _real_text(header), ""] + ([gaps.to_markdown(index=False, floatfmt=".3f")] if gaps is not None else [])
    problems = _problem_lines(failed, cells)
    if problems:
        md += ["", "## Failed cells and contaminated timings", "", *[f"- {line}" for line in problems]]
    md += ["", "## Summary table", "", table.to_markdown(index=False, floatfmt=".4g"), "",
           "Tables: [summary.csv](summary.csv), [points.csv.gz](points.csv.gz) (every estimate), [verdicts.csv](verdicts.csv)."]
    atomic_write_bytes(out / "report.md", ("\n".join(md) + "\n").encode())

    anchors = [t for t, _, _ in sections] + ["Verdicts"] + [t for t, _, _ in figs]
    body = [f"<h1>vaebench report: {html.escape(store.config['name'])}</h1>",
            "<ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in meta) + "</ul>",
            '<nav><b>Contents</b>: ' + " · ".join(f'<a href="#{_anchor(t)}">{html.escape(t)}</a>' for t in anchors)
            + ' · <a href="#summary-table">Summary table</a></nav>']
    for title, caption, frame in sections:
        body += [f'<h2 id="{_anchor(title)}">{html.escape(title)}</h2>', f"<p>{html.escape(caption)}</p>",
                 '<div class="wide">', frame.to_html(index=False, border=0, classes="text"), "</div>"]
    body += [f'<h2 id="{_anchor("Verdicts")}">Verdicts</h2>']
    for model, g in verdict.groupby("model", sort=False):
        body += [f"<h3>{html.escape(model)}: {html.escape(best[model])}</h3>",
                 g[["estimator", "device", "dtype", "verdict"]].to_html(index=False, border=0, classes="verdicts")]
    for title, p, caption in figs:
        body += [f'<h2 id="{_anchor(title)}">{html.escape(title)}</h2>', f"<p>{html.escape(caption)}</p>", _img(p)]
    if not bdmc.empty:
        body += ["<h2>Bidirectional Monte Carlo (AIS sandwich)</h2>", f"<p>{html.escape(_BDMC_TEXT)}</p>",
                 bdmc_shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)]
    for name, header, gaps in real:
        body += [f"<h2>Real data: nats below the reference {html.escape(header.get('reference', name))}</h2>",
                 f"<p>{html.escape(_real_text(header))}</p>"]
        if gaps is not None:
            body.append(gaps.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0))
    if problems:
        body += ["<h2>Failed cells and contaminated timings</h2>",
                 "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in problems) + "</ul>"]
    body += ['<h2 id="summary-table">Summary table</h2>']
    for model, part in table.groupby("model", sort=False):
        body += [f"<details><summary>{html.escape(model)} ({len(part)} rows)</summary>", '<div class="wide">',
                 part.drop(columns="model").to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0),
                 "</div></details>"]
    body += [
             '<p>Tables: <a href="summary.csv">summary.csv</a>, <a href="points.csv.gz">points.csv.gz</a>, '
             '<a href="verdicts.csv">verdicts.csv</a>.</p>']
    atomic_write_bytes(out / "index.html", html_document(f"vaebench: {store.config['name']}", body))
    return out / "index.html"

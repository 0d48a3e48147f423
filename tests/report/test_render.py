"""The report reads only the run folder it is given: shipped references reach it as copies in the run."""

from __future__ import annotations

import shutil

from tests.bench.test_sweep import tiny_config
from vaebench.bench import load_config, run_sweep
from vaebench.bench.config import GROUND_TRUTH_DIR
from vaebench.report import render_report
from vaebench.results.references import REFERENCES


def test_the_report_reads_its_references_from_the_run_only(tmp_path):
    shipped = sorted(p.name for p in GROUND_TRUTH_DIR.glob("*.vs-estimators.csv"))
    assert shipped, "the shipped comparisons are missing"
    run = tmp_path / "run"
    run_sweep(load_config(tiny_config(tmp_path, replicates=1)), run / "results", quiet=True)
    copies = run / "results" / REFERENCES
    assert sorted(p.name for p in copies.glob("*.csv")) == shipped
    assert all((copies / name).read_bytes() == (GROUND_TRUTH_DIR / name).read_bytes() for name in shipped)
    render_report(run)
    text = (run / "report.md").read_text()
    assert "nats below the reference" in text and "on the first 1000 of the 10000 points of the test split" in text

    shutil.rmtree(copies)  # a run without them: the report shows none, whatever the repository holds
    render_report(run)
    assert "nats below the reference" not in (run / "report.md").read_text()

    copies.mkdir()  # an edited copy in the run is rejected there, not replaced by the shipped file
    text = (GROUND_TRUTH_DIR / shipped[0]).read_text().splitlines(keepends=True)
    row = next(i for i, line in enumerate(text) if not line.startswith("#") and line[0].isdigit())
    text[row] = text[row].replace(",", ",1", 1)
    (copies / shipped[0]).write_text("".join(text))
    render_report(run)
    assert "Rejected: reference file" in (run / "report.md").read_text()

"""Sessions: ``nox -s tests`` (the CI gate), ``nox -s kit`` (the slow tests, CI's second step), ``nox -s bench``
(the report), ``nox -s microbench``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]  # `nox` alone; `nox -s bench` runs the report
nox.options.reuse_existing_virtualenvs = True

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _local_torch_wheel() -> tuple[str, str] | None:
    """(version, folder) of a torch wheel in pip's find-links folders, if there is one.

    Some machines keep a CPU build of torch in a local find-links folder. uv does not read pip's
    configuration, and an unpinned torch would resolve to a multi-GB CUDA build, so the local
    wheel is pinned explicitly when it exists.
    """
    folders = os.environ.get("PIP_FIND_LINKS", "").split()
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=30
        ).stdout
        folders += [v for k, v in re.findall(r"^([\w.:-]*find-links)='([^']*)'", out, re.M)]
    except (OSError, subprocess.SubprocessError):
        pass
    for folder in folders:
        path = Path(folder.removeprefix("file://"))
        wheels = sorted(path.glob("torch-*.whl")) if path.is_dir() else []
        if wheels:
            return wheels[-1].name.split("-")[1], str(path)
    return None


def install_project(session: nox.Session, *extras: str) -> None:
    """Install torch (the local CPU wheel when there is one), then vaebench with ``extras``."""
    local = _local_torch_wheel()
    if local:
        version, folder = local
        session.install(f"torch=={version}", "--find-links", folder)
    target = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", target, *(["--find-links", local[1]] if local else []))


EXAMPLE_PLUGIN = "examples/vaebench-defensive-is"


def _workers(posargs: list[str]) -> list[str]:
    """pytest-xdist workers: one per core, at most 4 (each imports torch: about 0.5 GB), unless -n is given."""
    if any(a == "-n" or a.startswith("-n") or a.startswith("--numprocesses") for a in posargs):
        return []
    return ["-n", str(max(1, min(4, os.cpu_count() or 1)))]


def _test_environment(session: nox.Session) -> None:
    install_project(session, "test", "distributed", "pythae", "pyro")  # the adapters' tests need both
    session.install("-e", EXAMPLE_PLUGIN, "--no-deps")
    # One torch thread per test process: with one thread per core, any other busy process stalls
    # every parallel region (measured up to 200x on 2 cores); the tests time nothing.
    session.env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (all but the `slow` tests) with the example plug-in installed."""
    _test_environment(session)
    session.run("pytest", *_workers(session.posargs), *session.posargs)


@nox.session(python=PYTHON, default=False)
def kit(session: nox.Session) -> None:
    """Run the `slow` tests (the whole kit on the annealing estimators, their zoo, the long statistics and
    sweeps), then the example plug-in's own tests (the kit as a plug-in runs it in its pytest)."""
    _test_environment(session)
    session.run("pytest", "-m", "slow", *_workers(session.posargs), *session.posargs)
    session.run("pytest", f"{EXAMPLE_PLUGIN}/tests", "-p", "no:cacheprovider", *_workers(session.posargs),
                *session.posargs)


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Sweep the default profile and write reports/<name>/ (pass e.g. `-- --profile full` or `-- --out DIR`)."""
    install_project(session)
    session.run("vaebench", "bench", *session.posargs)


@nox.session(python=PYTHON, default=False)
def microbench(session: nox.Session) -> None:
    """Run the pytest-benchmark suites in benchmarks/, save JSON under .benchmarks/, print the ratios."""
    install_project(session, "test")
    session.run(
        "pytest", "benchmarks", "--benchmark-only", "--benchmark-autosave", "--benchmark-columns=min,median,max",
        *session.posargs,
    )
    session.run("python", "-m", "benchmarks.ratios")

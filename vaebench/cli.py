"""Command-line interface: ``vaebench list | estimate | check | bench | report | train | reference``."""

from __future__ import annotations

import argparse
import ast
import json
import shlex
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Sequence

import torch

from vaebench.base import EstimatorTags
from vaebench.models import ENCODER_FAMILIES, available_models, get_model
from vaebench.registry import get_estimator, list_estimators
from vaebench.runtime import keep_freed_memory

__all__ = ["main"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _claims(tags: EstimatorTags) -> str:
    on = [f.name for f in fields(tags) if getattr(tags, f.name) and f.name != "stochastic"]
    return ", ".join(on) or "-"


def _origin(spec: Any) -> str:
    return getattr(spec.estimate, "__module__", "?").split(".")[0]


def _cmd_list(args: argparse.Namespace) -> int:
    specs = list_estimators()
    if args.json:
        rows = [
            {"name": n, "package": _origin(s), "description": s.description, "tags": asdict(s.tags),
             "options": [{"name": o.name, "type": o.type.__name__, "default": repr(o.default),
                          "choices": list(o.choices), "description": o.description} for o in s.options]}
            for n, s in specs.items()
        ]
        print(json.dumps({"estimators": rows, "models": available_models()}, indent=2))
        return 0
    width = max(len(n) for n in [*specs, *available_models()])
    print("Estimators:")
    for name, spec in specs.items():
        print(f"  {name:<{width}}  [{_origin(spec)}]  {spec.description}")
        print(f"  {'':<{width}}  claims: {_claims(spec.tags)}")
        for option in spec.options:
            print(f"  {'':<{width}}  option  {option.describe()}")
    print("Models:")
    for name, desc in available_models().items():
        print(f"  {name:<{width}}  {desc}")
    return 0


def _model_arg(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--model-arg takes KEY=VALUE (e.g. data_dim=50), got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _estimator_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--option takes KEY=VALUE (e.g. chunk_size=64), got {text!r}")
    return key, value


def _parse_options(spec: Any, pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``--option`` pairs typed by the estimator's declarations; unknown names are errors."""
    options: dict[str, Any] = {}
    for key, text in pairs:
        declared = spec.option(key)
        if declared is None:
            spec.validate_options({key: text})  # raises, naming the declared options
        if key in options:
            raise ValueError(f"--option {key} is given twice")
        options[key] = declared.parse(text, f"estimator {spec.name!r}")
    return options


def _summary(values: torch.Tensor) -> dict[str, float]:
    v = values.double()
    return {"mean": v.mean().item(), "std": v.std().item() if v.numel() > 1 else 0.0,
            "min": v.min().item(), "max": v.max().item()}


def _cmd_estimate(args: argparse.Namespace) -> int:
    spec = get_estimator(args.estimator)
    model = get_model(args.model, seed=args.model_seed, **dict(args.model_arg))
    if args.encoder is not None or args.encoder_scale != 1.0 or args.encoder_shift != 0.0:
        if not hasattr(model, "with_encoder"):
            raise ValueError(f"model {args.model!r} has no configurable encoder")
        model = model.with_encoder(args.encoder or "mean-field", scale=args.encoder_scale, shift=args.encoder_shift)
    model = model.to(_DTYPES[args.dtype], args.device)
    g = torch.Generator(device=args.device).manual_seed(args.seed)
    x = model.sample(args.batch_size, generator=g)
    options = _parse_options(spec, args.option)
    if args.chunk_size is not None:
        if spec.option("chunk_size") is None:
            raise ValueError(f"--chunk-size: estimator {spec.name!r} declares no chunk_size option")
        options.setdefault("chunk_size", spec.option("chunk_size").validate(args.chunk_size, "--chunk-size"))
    if spec.option("keep_log_weights") is not None:  # the CLI prints no weights: do not keep them
        options.setdefault("keep_log_weights", False)
    start = time.perf_counter()
    result = spec(model, x, args.num_samples, generator=g, **options)
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    seconds = time.perf_counter() - start
    exact = model.log_marginal(x) if hasattr(model, "log_marginal") else None
    est = result.log_px.double().cpu()
    report: dict[str, Any] = {
        "model": repr(model), "estimator": spec.name, "num_samples": args.num_samples,
        "batch_size": args.batch_size, "seed": args.seed, "seconds": seconds,
        "samples_per_second": args.num_samples * args.batch_size / seconds,
        "estimate": _summary(est),
    }
    per_point: dict[str, list[float]] = {"estimate": est.tolist()}
    if exact is not None:
        exact = exact.cpu()
        report["exact"] = _summary(exact)
        report["error"] = _summary(est - exact)
        report["rmse"] = (est - exact).pow(2).mean().sqrt().item()
        per_point.update(exact=exact.tolist(), error=(est - exact).tolist())
    for name in ("stderr", "ess"):
        value = getattr(result, name)
        if value is not None:
            report[name] = _summary(value.cpu())
            per_point[name] = value.double().cpu().tolist()
    if args.json:
        print(json.dumps({**report, "per_point": per_point}, indent=2))
        return 0
    print(f"{spec.name} on {report['model']}")
    print(f"K = {args.num_samples}, B = {args.batch_size} data points, seed {args.seed}: "
          f"{seconds:.3f} s, {report['samples_per_second']:.3g} samples/s")
    print(f"\nPer data point (over {args.batch_size} points):")
    print(f"  {'':<10}{'mean':>12}{'std':>12}{'min':>12}{'max':>12}")
    for key in ("estimate", "exact", "error", "stderr", "ess"):
        if key in report:
            s = report[key]
            print(f"  {key:<10}{s['mean']:>12.5g}{s['std']:>12.5g}{s['min']:>12.5g}{s['max']:>12.5g}")
    if "rmse" in report:
        print(f"\nRMSE against the exact log p(x): {report['rmse']:.5g} nats")
    if args.per_point:
        print("\n  " + "".join(f"{k:>14}" for k in per_point))
        for row in zip(*per_point.values()):
            print("  " + "".join(f"{v:>14.6g}" for v in row))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from vaebench.testing import check_estimator

    spec = get_estimator(args.estimator)

    def progress(result: Any) -> None:
        if not args.json:
            print(f"  {result.verdict.upper():<5} {result.check}: {result.explanation}", flush=True)

    if not args.json:
        print(f"Conformance checks for {spec.name!r} (claims: {_claims(spec.tags)})")
    table = check_estimator(spec, progress=progress, random_state=args.random_state, checks=args.only or None)
    bad = ["fail", "error", "warn"] if args.strict else ["fail", "error"]
    failed = table[table["verdict"].isin(bad)]
    if args.json:
        rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        print(json.dumps({"estimator": spec.name, "passed": table.attrs["passed"], "checks": rows}, indent=2))
    else:
        counts = table["verdict"].value_counts().to_dict()
        summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        print(f"\n{spec.name}: {'PASSED' if failed.empty else 'FAILED'} ({summary}) in {table['seconds'].sum():.1f} s")
    return 0 if failed.empty else 1


def _cmd_bench(args: argparse.Namespace) -> int:
    from vaebench.bench import load_config, make_executor, profile_path, run_sweep
    from vaebench.report import render_report

    config = load_config(args.config if args.config else profile_path(args.profile))
    out = Path(args.out) if args.out else Path("reports") / config.name
    executor, shutdown, in_flight = make_executor(args.workers, args.scheduler)
    try:
        run_sweep(config, out / "results", executor=executor, in_flight=in_flight, quiet=args.quiet)
    finally:
        shutdown()
    index = render_report(out)
    if not args.quiet:
        print(f"report: {index} (and {index.with_name('report.md')})")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from vaebench.report import render_report

    index = render_report(args.results, args.out)
    print(f"report: {index}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from vaebench.models.presets import preset_config
    from vaebench.models.training import load_or_train

    config = preset_config(args.preset, epochs=args.epochs, seed=args.seed)
    model, path, payload = load_or_train(config, data_path=args.data, cache=args.cache, device=args.device,
                                         progress=not args.quiet)
    history = payload["history"]
    print(f"{args.preset}: {len(history)} epochs, best validation ELBO "
          f"{max(h['valid_elbo'] for h in history):.3f} nats")
    print(f"checkpoint: {path}")
    return 0


def _cmd_reference(args: argparse.Namespace) -> int:
    from vaebench.data import load
    from vaebench.models.presets import preset_config
    from vaebench.models.reference import reference_log_marginal, write_reference
    from vaebench.models.training import load_or_train

    config = preset_config(args.preset, epochs=args.epochs)
    model, checkpoint, _ = load_or_train(config, data_path=args.data, cache=args.cache, progress=not args.quiet)
    model.requires_grad_(False)
    x = load(config.data, args.split, path=args.data)[: args.points]
    start = time.perf_counter()
    table = reference_log_marginal(model, x, args.num_samples, seed=args.seed)
    out = write_reference(args.out, table, command="vaebench " + shlex.join(args.argv), preset=args.preset,
                          checkpoint=checkpoint.name, split=args.split, num_samples=args.num_samples, seed=args.seed)
    print(f"{args.preset} {args.split}[:{len(x)}]: mean log p(x) {table['log_px'].mean():.3f} nats "
          f"(median stderr {table['stderr'].median():.2g}, min ESS {table['ess'].min():.1f}) "
          f"in {time.perf_counter() - start:.0f} s -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(prog="vaebench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list installed estimators and available models")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("estimate", help="run one estimator on data simulated from a model with known log p(x)")
    p.add_argument("--model", default="linear-gaussian", help="model name (see `vaebench list`)")
    p.add_argument("--model-arg", action="append", type=_model_arg, default=[], metavar="KEY=VALUE",
                   help="model option, repeatable (e.g. data_dim=50, latent_dim=3, condition_number=100)")
    p.add_argument("--model-seed", type=int, default=0, help="seed of the model's random parameters")
    p.add_argument("--estimator", required=True, help="estimator name (see `vaebench list`)")
    p.add_argument("--num-samples", "-K", type=int, required=True, help="K, samples per data point")
    p.add_argument("--batch-size", "-B", type=int, default=64, help="data points simulated from the model")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the estimator's random stream")
    p.add_argument("--encoder", choices=ENCODER_FAMILIES, help="q(z|x) family of a linear-Gaussian model")
    p.add_argument("--encoder-scale", type=float, default=1.0, help="multiply q's standard deviations")
    p.add_argument("--encoder-shift", type=float, default=0.0, help="shift q's mean, in posterior std units")
    p.add_argument("--dtype", choices=sorted(_DTYPES), default="float64")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    p.add_argument("--chunk-size", type=int, help="samples per chunk (default: bounded memory); same as "
                   "--option chunk_size=N")
    p.add_argument("--option", action="append", type=_estimator_option, default=[], metavar="KEY=VALUE",
                   help="an option the estimator declares (see `vaebench list`), repeatable, e.g. analytic_kl=true")
    p.add_argument("--per-point", action="store_true", help="also print one row per data point")
    p.add_argument("--json", action="store_true", help="machine-readable output with per-point values")
    p.set_defaults(func=_cmd_estimate)

    p = sub.add_parser("check", help="run the conformance kit on an installed estimator (exit 1 on a correctness "
                       "failure; with --strict also on a warning)")
    p.add_argument("estimator", help="estimator name (see `vaebench list`)")
    p.add_argument("--json", action="store_true", help="machine-readable table")
    p.add_argument("--strict", action="store_true",
                   help="also exit 1 on scalability warnings (e.g. memory that grows with K)")
    p.add_argument("--random-state", type=int, default=None, metavar="SEED",
                   help="seed of the checks' random streams (default 0); another seed is another independent draw")
    p.add_argument("--only", action="append", metavar="CHECK", help="run only this check (repeatable)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("bench", help="run a sweep (resumable) and write its report")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--profile", default="default", help="a profile shipped in benchmarks/profiles (default: default)")
    which.add_argument("--config", help="a sweep config TOML file")
    p.add_argument("--out", help="report directory; results go to OUT/results (default: reports/<name>)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (timings are contended when > 1)")
    p.add_argument("--scheduler", help="dask.distributed scheduler address (needs vaebench[distributed])")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("train", help="train a preset VAE (or find it in the cache) and print where its checkpoint is")
    p.add_argument("preset", help="mnist-iwae50, mnist-2d or synthetic-2d")
    p.add_argument("--epochs", type=int, help="maximum epochs (default: the preset's)")
    p.add_argument("--seed", type=int, help="training seed (default: the preset's)")
    p.add_argument("--data", help="data directory (default: $VAEBENCH_DATA, then ../shared/data)")
    p.add_argument("--cache", help="checkpoint cache (default: $VAEBENCH_CACHE, then ~/.cache/vaebench)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("reference", help="reference log p(x) of a preset's test points by large-K importance sampling")
    p.add_argument("preset")
    p.add_argument("--num-samples", "-K", type=int, default=100_000)
    p.add_argument("--points", type=int, default=1000, help="the first N points of the split")
    p.add_argument("--split", default="test")
    p.add_argument("--out", required=True, help="CSV file to write (header records this command)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data")
    p.add_argument("--cache")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_reference)

    p = sub.add_parser("report", help="re-render a report from saved results, without recomputing")
    p.add_argument("results", help="a report directory (with results/) or a results directory")
    p.add_argument("--out", help="where to write the report (default: beside the results)")
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vaebench`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()
    try:
        return args.func(args)
    except (ValueError, TypeError, KeyError, NotImplementedError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"vaebench {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

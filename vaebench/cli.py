"""Command-line interface: ``vaebench list | estimate | check | bench | report | train | reference | evaluate | bdmc``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Sequence


from vaebench.base import EstimatorTags
from vaebench.models import ENCODER_FAMILIES
from vaebench.registry import get_estimator, list_estimators, list_models
from vaebench.runtime import choose_threads, keep_freed_memory

__all__ = ["main"]



def _claims(tags: EstimatorTags) -> str:
    on = [f.name if f.name != "bias_order" else f"bias O(1/K^{tags.bias_order})" for f in fields(tags)
          if getattr(tags, f.name) and f.name != "stochastic"]
    return ", ".join(on) or "-"


def _model_descriptions() -> dict[str, str]:
    return {name: spec.description for name, spec in list_models().items()}


def _origin(spec: Any) -> str:
    return getattr(spec.estimate, "__module__", "?").split(".")[0]


def _cmd_list(args: argparse.Namespace) -> int:
    specs = list_estimators()
    if args.json:
        rows = [
            {"name": n, "package": _origin(s), "description": s.description, "tags": asdict(s.tags), "caution": s.caution,
             "options": [{"name": o.name, "type": o.type.__name__, "default": repr(o.default),
                          "choices": list(o.choices), "description": o.description} for o in s.options]}
            for n, s in specs.items()
        ]
        print(json.dumps({"estimators": rows, "models": _model_descriptions()}, indent=2))
        return 0
    width = max(len(n) for n in [*specs, *_model_descriptions()])
    print("Estimators:")
    for name, spec in specs.items():
        print(f"  {name:<{width}}  [{_origin(spec)}]  {spec.description}")
        print(f"  {'':<{width}}  claims: {_claims(spec.tags)}")
        if spec.caution:
            print(f"  {'':<{width}}  CAUTION: {spec.caution}")
        for option in spec.options:
            print(f"  {'':<{width}}  option  {option.describe()}")
    print("Models:")
    for name, desc in _model_descriptions().items():
        print(f"  {name:<{width}}  {desc}")
    return 0


def _model_arg(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--model-arg takes KEY=VALUE (e.g. data_dim=50), got {text!r}")
    return key, value


def _estimator_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"--option takes KEY=VALUE (e.g. chunk_size=64), got {text!r}")
    return key, value


def _model_options(model: str, args: argparse.Namespace) -> dict[str, Any]:
    """``--model-arg`` pairs and the family flags, typed by the model's declared options."""
    from vaebench.registry import get_model_spec

    spec = get_model_spec(model)
    pairs = list(args.model_arg)
    for flag, key in (("model_seed", "seed"), ("encoder", "encoder"), ("encoder_scale", "encoder_scale"),
                      ("encoder_shift", "encoder_shift")):
        value = getattr(args, flag, None)
        if value is not None:
            if any(k == key for k, _ in pairs):
                raise ValueError(f"--{flag.replace('_', '-')} and --model-arg {key}=... both set {key}; give one")
            pairs.append((key, str(value)))
    return spec.parse_options(pairs, "--model-arg")


def _cmd_estimate(args: argparse.Namespace) -> int:
    from vaebench.bench.single import estimate_on_model

    spec = get_estimator(args.estimator)
    options = spec.parse_options(args.option, "--option")
    if args.chunk_size is not None:
        if spec.option("chunk_size") is None:
            raise ValueError(f"--chunk-size: estimator {spec.name!r} declares no chunk_size option")
        if "chunk_size" in options:
            raise ValueError("--chunk-size and --option chunk_size=... both given; give one")
        options["chunk_size"] = spec.option("chunk_size").validate(args.chunk_size, "--chunk-size")
    report = estimate_on_model(args.model, spec.name, args.num_samples, model_options=_model_options(args.model, args),
                               batch_size=args.batch_size, seed=args.seed, dtype=args.dtype, device=args.device,
                               options=options, progress=not args.json, force=args.force, timeout=args.timeout)
    per_point = report.pop("per_point")
    seconds = report["seconds"]
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
        if spec.kit_options:
            shown = ", ".join(f"{k}={v!r}" for k, v in spec.kit_options)
            print(f"  run with its kit_options {shown} unless a check sets them (claims hold for every value)")
    if args.budget is not None and args.budget < 1:
        raise ValueError(f"--budget must be a number of cases >= 1, got {args.budget}")
    budget = args.budget if args.budget is not None else ("thorough" if args.thorough else "default")
    table = check_estimator(spec, progress=progress, random_state=args.random_state, checks=args.only or None,
                            budget=budget)
    bad = ["fail", "error", "warn"] if args.strict else ["fail", "error"]
    failed = table[table["verdict"].isin(bad)]
    if args.json:
        rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
        print(json.dumps({"estimator": spec.name, "passed": table.attrs["passed"], "checks": rows}, indent=2))
    else:
        counts = table["verdict"].value_counts().to_dict()
        summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        for check, root in zip(table["check"], table.get("explained_by", [""] * len(table))):
            if root:
                print(f"  {check} may follow from {root}: fix that first")
        print(f"\n{spec.name}: {'PASSED' if failed.empty else 'FAILED'} ({summary}) in {table['seconds'].sum():.1f} s")
    return 0 if failed.empty else 1


def _cmd_bench(args: argparse.Namespace) -> int:
    from vaebench.bench import load_config, make_executor, profile_path, run_sweep
    from vaebench.report import render_report

    config = load_config(args.config if args.config else profile_path(args.profile))
    if args.timeout is not None:
        from dataclasses import replace

        from vaebench.bench.config import check_timeout

        config = replace(config, timeout=check_timeout(args.timeout, "--timeout"))
    out = Path(args.out) if args.out else Path("reports") / config.name
    threads, others = choose_threads()
    if not args.quiet:
        busy = f"other processes use {others:.1f} cores" if others is not None else "load unknown"
        print(f"[bench] {threads} CPU thread(s) for torch ({busy}; set VAEBENCH_THREADS to choose)", file=sys.stderr)
    executor, shutdown, in_flight = make_executor(args.workers, args.scheduler)
    try:
        run_sweep(config, out / "results", executor=executor, in_flight=in_flight, quiet=args.quiet, force=args.force)
    finally:
        shutdown()
    index = render_report(out)
    if not args.quiet:
        print(f"report: {index} (and {index.with_name('report.md')})")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from vaebench.report import render_report

    index = render_report(args.results, args.out, also=args.also)
    print(f"report: {index}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from vaebench.training.presets import preset_config
    from vaebench.training.trainer import load_or_train

    config = preset_config(args.preset, epochs=args.epochs, seed=args.seed)
    model, path, payload = load_or_train(config, data_path=args.data, cache=args.cache, device=args.device,
                                         progress=not args.quiet)
    history = payload["history"]
    bound = "ELBO" if config.objective == "elbo" else f"IWAE bound (K = {config.num_samples})"
    print(f"{args.preset}: {len(history)} epochs, best validation {bound} "
          f"{max(h['valid_objective'] for h in history):.3f} nats")
    print(f"checkpoint: {path}")
    return 0


def _cmd_reference(args: argparse.Namespace) -> int:
    from vaebench.results.reference_file import read_reference, untrustworthy
    from vaebench.training.reference import make_reference

    start = time.perf_counter()
    spec = get_estimator(args.estimator)
    options = spec.parse_options(args.option, "--option")
    table, out = make_reference(args.preset, args.out, num_samples=args.num_samples, points=args.points,
                                split=args.split, epochs=args.epochs, seed=args.seed, data=args.data, cache=args.cache,
                                device=args.device, progress=not args.quiet,
                                command="vaebench " + shlex.join(args.argv), estimator=spec.name, options=options,
                                bdmc_points=args.bdmc_points)
    bad = int(untrustworthy(table).sum())
    subset = read_reference(out)[1].get("subset", f"{args.split}[:{len(table)}]")
    se = table["log_px"].std() / len(table) ** 0.5 if len(table) > 1 else float("nan")
    print(f"{args.preset}, {subset}: mean log p(x) {table['log_px'].mean():.3f} ± {se:.3f} nats (± SE over points) "
          f"(median stderr {table['stderr'].median():.2g}, min ESS {table['ess'].min():.1f}) "
          f"in {time.perf_counter() - start:.0f} s -> {out}")
    if bad:
        print(f"warning: {bad} of {len(table)} rows have ESS < 10 or Pareto k-hat > 0.7: their estimates and "
              "standard errors are unreliable (raise -K, or use a better proposal)", file=sys.stderr)
    return 0


def _cmd_bdmc(args: argparse.Namespace) -> int:
    from vaebench.bench.bdmc import bdmc_payload
    from vaebench.bench.bdmc_settings import bdmc_settings
    from vaebench.bench.dtypes import BDMC_DTYPES, storage_dtype
    from vaebench.bench.single import _device
    from vaebench.registry import get_model_spec
    from vaebench.results.bdmc import bdmc_table, write_bdmc

    if args.seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {args.seed}")
    options = get_estimator("ais").parse_options(args.option, "--option")
    settings = bdmc_settings((args.model,), list(args.steps), args.num_samples, args.points, options, args.dtype,
                             {"steps": "--steps", "num_chains": "-K", "num_points": "--points", "options": "--option",
                              "dtype": "--dtype"})
    spec = get_model_spec(args.model)
    model_options = _model_options(args.model, args)
    model = spec.build(**model_options).to(storage_dtype(args.dtype, "--dtype", BDMC_DTYPES), _device(args.device))
    say = None if args.json else (lambda text: print(f"[bdmc] {text}", file=sys.stderr, flush=True))
    payload = bdmc_payload(args.model, model, settings, args.seed, settings.fingerprint(
        {"model": args.model, "options": model_options}, args.seed), say)
    payload["model_options"] = {k: repr(v) for k, v in model_options.items()}
    rows = bdmc_table([payload]).to_dict(orient="records")
    if args.out:
        path = write_bdmc(Path(args.out), payload)
        if not args.json:
            print(f"per-point bounds: {path}")
    if args.json:
        print(json.dumps({"model": args.model, "summary": rows, "runs": payload["runs"]}, indent=2))
        return 0
    print(f"BDMC on {args.model}: {args.points} points simulated with their latents, K = {args.num_samples} chains "
          f"per point and direction, {args.dtype}, seed {args.seed}")
    has_truth = "forward_bias" in rows[0]
    head = f"{'T':>7}{'lower':>11}{'upper':>11}{'gap':>10}{'± SE':>8}{'median':>9}"
    head += f"{'lower−true':>12}{'upper−true':>12}{'covered':>9}" if has_truth else ""
    print(head + f"{'seconds':>9}")
    for r in rows:
        line = (f"{r['num_steps']:>7}{r['lower']:>11.4f}{r['upper']:>11.4f}{r['gap']:>10.4f}{r['gap_se']:>8.3f}"
                f"{r['gap_median']:>9.4f}")
        if has_truth:
            line += f"{r['forward_bias']:>12.4f}{r['reverse_bias']:>12.4f}{r['covered']:>9.0%}"
        print(line + f"{r['seconds']:>9.1f}")
    print("gap = upper − lower bound of log p(x), mean over points: it bounds the error of both at that T"
          + ("; lower−true and upper−true: mean error of each bound against the exact log p(x)" if has_truth else ""))
    return 0


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers (e.g. 1,10,100), got {text!r}") from None
    return values


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from vaebench.bench.dtypes import ESTIMATE_DTYPES, storage_dtype
    from vaebench.bench.single import _device
    from vaebench.evaluation import EvaluationSettings, evaluate, resolve_data, resolve_model, folder_name

    device = _device(args.device)
    settings = EvaluationSettings(importance_k=args.importance_k, elbo_k=args.elbo_k, ais_steps=args.ais_steps,
                                  ais_chains=args.ais_chains, bdmc_points=args.bdmc_points,
                                  check_points=args.check_points, replicates=args.replicates, accuracy=args.accuracy,
                                  batch_size=args.batch_size, seed=args.seed)
    out = Path(args.out) if args.out else Path("evaluations") / folder_name(
        f"{args.model or args.factory}-{args.data}-{args.points or 'all'}")
    from vaebench.results.store import make_folder

    make_folder(out)  # before any work: a bad --out is said at once
    from vaebench.training.presets import PRESETS

    catalogue = args.model is not None and args.model not in PRESETS
    model, provenance = resolve_model(args.model, factory=args.factory, options=_model_options(args.model, args)
                                      if catalogue else None, cache=args.cache, data_path=args.data_path,
                                      progress=not args.quiet)
    if device != "cpu" or args.dtype:
        model = model.to(storage_dtype(args.dtype, "--dtype", ESTIMATE_DTYPES) if args.dtype else None, device)
    x, data_provenance = resolve_data(args.data, model, points=args.points, data_path=args.data_path,
                                      seed=args.data_seed)
    progress = None if args.quiet else (lambda line: print(f"[evaluate] {line}", file=sys.stderr, flush=True))
    start = time.perf_counter()
    result = evaluate(model, x, settings=settings, out=out, provenance={**provenance, **data_provenance,
                      "command": "vaebench " + shlex.join(args.argv)}, progress=progress)
    print(result.advice.headline)
    for line in result.advice.lines:
        print(f"  {line}")
    print(f"{time.perf_counter() - start:.0f} s -> {out / 'index.html'}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from vaebench.registry import list_models

    models = list_models()
    if args.json:
        print(json.dumps([{"name": n, "truth": m.truth, "data": m.data, "description": m.description,
                           "options": [{"name": o.name, "type": o.type.__name__, "default": repr(o.default),
                                        "choices": list(o.choices), "description": o.description} for o in m.options]}
                          for n, m in models.items()], indent=2))
        return 0
    for name, m in models.items():
        print(f"{name}  [truth: {m.truth}{', needs ' + m.data if m.data else ''}]  {m.description}")
        for option in m.options:
            print(f"    option  {option.describe()}")
    return 0


def _shared_arguments() -> dict[str, argparse.ArgumentParser]:
    """Arguments that several commands take, each defined once (argparse parent parsers)."""
    groups = {name: argparse.ArgumentParser(add_help=False)
              for name in ("model", "device", "option", "budget", "checkpoints", "json", "quiet")}
    groups["model"].add_argument("--model-arg", action="append", type=_model_arg, default=[], metavar="KEY=VALUE",
                                 help="a catalogue model's option, repeatable (e.g. data_dim=50, latent_dim=3)")
    groups["model"].add_argument("--model-seed", type=int, default=None,
                                 help="seed of the model's random parameters (same as --model-arg seed=N; default 0)")
    groups["device"].add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    groups["option"].add_argument("--option", action="append", type=_estimator_option, default=[], metavar="KEY=VALUE",
                                  help="an option the estimator declares (see `vaebench list`), repeatable, e.g. "
                                  "num_steps=1000")
    groups["budget"].add_argument("--force", action="store_true", help="run even beyond the work budget (10^11 "
                                  "likelihood evaluations, 10^6 cells) that is otherwise refused up front")
    groups["checkpoints"].add_argument("--data", help="data directory (default: $VAEBENCH_DATA, then ../shared/data)")
    groups["checkpoints"].add_argument("--cache", help="checkpoint cache (default: $VAEBENCH_CACHE, then "
                                       "~/.cache/vaebench)")
    groups["json"].add_argument("--json", action="store_true", help="machine-readable output")
    groups["quiet"].add_argument("--quiet", action="store_true", help="no progress output")
    return groups


def _preset_names() -> str:
    from vaebench.training.presets import PRESETS

    names = list(PRESETS)
    return ", ".join(names[:-1]) + " or " + names[-1]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from vaebench.version import __version__

    parser = argparse.ArgumentParser(prog="vaebench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vaebench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    shared = _shared_arguments()

    p = sub.add_parser("list", help="list installed estimators and available models", parents=[shared["json"]])
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("estimate", help="run one estimator on data simulated from a model with known log p(x)",
                       parents=[shared["budget"], shared["model"], shared["device"], shared["option"], shared["json"]])
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="stop the estimate if it runs past this many seconds (default: no limit)")
    p.add_argument("--model", default="linear-gaussian", help="model name (see `vaebench list`)")
    p.add_argument("--estimator", required=True, help="estimator name (see `vaebench list`)")
    p.add_argument("--num-samples", "-K", type=int, required=True, help="K, samples per data point")
    p.add_argument("--batch-size", "-B", type=int, default=64, help="data points simulated from the model")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the estimator's random stream")
    p.add_argument("--encoder", choices=ENCODER_FAMILIES,
                   help="linear-Gaussian models: q(z|x) family (same as --model-arg encoder=...)")
    p.add_argument("--encoder-scale", type=float, default=None,
                   help="linear-Gaussian models: multiply q's standard deviations (--model-arg encoder_scale=...)")
    p.add_argument("--encoder-shift", type=float, default=None,
                   help="linear-Gaussian models: shift q's mean, in posterior std units (--model-arg encoder_shift=...)")
    p.add_argument("--dtype", choices=["float32", "float64", "bfloat16"], default="float32",
                   help="working precision of the model and the estimator (default float32, as the bench)")
    p.add_argument("--chunk-size", type=int, help="samples per chunk (default: bounded memory); same as "
                   "--option chunk_size=N")
    p.add_argument("--per-point", action="store_true", help="also print one row per data point")
    p.set_defaults(func=_cmd_estimate)

    p = sub.add_parser("check", help="run the conformance kit on an installed estimator (exit 1 on a correctness "
                       "failure; with --strict also on a warning)", parents=[shared["json"]])
    p.add_argument("estimator", help="estimator name (see `vaebench list`)")
    p.add_argument("--strict", action="store_true",
                   help="also exit 1 on scalability warnings (e.g. memory that grows with K)")
    p.add_argument("--random-state", type=int, default=None, metavar="SEED",
                   help="seed of the checks' random streams (default 0); another seed is another independent draw")
    p.add_argument("--only", action="append", metavar="CHECK", help="run only this check (repeatable)")
    p.add_argument("--thorough", action="store_true",
                   help="explore many more random configurations (the exploring checks' 'thorough' budget)")
    p.add_argument("--budget", type=int, default=None, metavar="CASES",
                   help="random configurations per exploring check (default: 14 exact, 10 statistical)")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("bench", help="run a sweep (resumable) and write its report",
                       parents=[shared["budget"], shared["quiet"]])
    which = p.add_mutually_exclusive_group()
    which.add_argument("--profile", default="default", help="a profile shipped in benchmarks/profiles (default: default)")
    which.add_argument("--config", help="a sweep config TOML file")
    p.add_argument("--out", help="report directory; results go to OUT/results (default: reports/<name>)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (timings are contended when > 1)")
    p.add_argument("--scheduler", help="dask.distributed scheduler address (needs vaebench[distributed])")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="seconds each estimator call of a cell may run (the "
                   "estimate, each timing repeat, the memory pass); a cell with a call past it is recorded as failed, "
                   "and runs again when the sweep is rerun with a longer timeout (default: the config's, else none)")

    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("train", help="train a preset VAE (or find it in the cache) and print where its checkpoint is",
                       parents=[shared["checkpoints"], shared["device"], shared["quiet"]])
    p.add_argument("preset", help=_preset_names())
    p.add_argument("--epochs", type=int, help="maximum epochs (default: the preset's)")
    p.add_argument("--seed", type=int, help="training seed (default: the preset's)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("reference", help="reference log p(x) of a preset's test points by large-K importance sampling "
                       "or by AIS", parents=[shared["checkpoints"], shared["device"], shared["option"], shared["quiet"]])
    p.add_argument("preset", help=f"a trained preset: {_preset_names()}")
    p.add_argument("--num-samples", "-K", type=int, default=100_000,
                   help="samples (importance) or chains (AIS) per point (default: %(default)s)")
    p.add_argument("--estimator", default="importance",
                   help="the estimator of the reference: importance or ais (default: %(default)s)")
    p.add_argument("--bdmc-points", type=int, default=0, metavar="N",
                   help="AIS: also run BDMC (forward and reverse AIS, same settings) on N points simulated from the "
                        "model and state the gap in the header (default: %(default)s, none)")
    p.add_argument("--points", type=int, default=None, help="only the first N points of the split (default: all; a "
                   "prefix of the MNIST test split is a biased subset)")
    p.add_argument("--split", default="test", help="data split: train, valid or test (default: %(default)s)")
    p.add_argument("--out", required=True, help="CSV file to write (its header records this command)")
    p.add_argument("--epochs", type=int, help="maximum training epochs if the model must be trained (default: the "
                   "preset's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the importance samples (default: %(default)s)")
    p.set_defaults(func=_cmd_reference)

    from vaebench.evaluation.ladder import EvaluationSettings

    EvaluationDefaults = EvaluationSettings()
    p = sub.add_parser("evaluate", help="your model, your number: log p(x) of a model on data, with error bars, "
                       "BDMC and the advice for that model (which estimator, which K or T, what to trust)",
                       parents=[shared["model"], shared["device"], shared["quiet"]])
    p.add_argument("model", nargs="?", help="a catalogue model or training preset (`vaebench models`, `vaebench train "
                   "--help`); or give --import")
    p.add_argument("--import", dest="factory", metavar="MODULE:ATTRIBUTE",
                   help="a model of your own: an attribute of an importable module (a model, or a function returning "
                   "one; pythae models are wrapped automatically); only this module is imported")
    p.add_argument("--data", required=True, help="NAME[:split] (e.g. binarized-mnist:test; split test by default), "
                   "'simulated' (drawn from the model), or a .npy/.npz/.pt file")
    p.add_argument("--points", type=int, default=None, help="evaluate the first N points (default: all)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of a dynamic binarization or of simulated data")
    p.add_argument("--data-path", default=None, help="data directory (default: $VAEBENCH_DATA, then ../shared/data)")
    p.add_argument("--importance-k", type=_int_list, default=EvaluationDefaults.importance_k, metavar="K,K,...",
                   help="the K ladder of importance sampling (default %(default)s)")
    p.add_argument("--elbo-k", type=int, default=EvaluationDefaults.elbo_k, help="samples of the ELBO (default %(default)s)")
    p.add_argument("--ais-steps", type=_int_list, default=EvaluationDefaults.ais_steps, metavar="T,T,...",
                   help="the T ladder of AIS; '' for none (default %(default)s)")
    p.add_argument("--ais-chains", type=int, default=EvaluationDefaults.ais_chains,
                   help="AIS chains per point (default %(default)s)")
    p.add_argument("--bdmc-points", type=int, default=EvaluationDefaults.bdmc_points,
                   help="points simulated from the model for BDMC (0: none; default %(default)s)")
    p.add_argument("--check-points", type=int, default=EvaluationDefaults.check_points,
                   help="points of the stderr check (default %(default)s)")
    p.add_argument("--replicates", type=int, default=EvaluationDefaults.replicates,
                   help="extra runs of the stderr check (0: none; default %(default)s)")
    p.add_argument("--accuracy", type=float, default=EvaluationDefaults.accuracy,
                   help="the accuracy in nats the advice is about (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=EvaluationDefaults.batch_size, help="points per estimator call")
    p.add_argument("--seed", type=int, default=0, help="seed of every estimate (default 0)")
    p.add_argument("--dtype", choices=["bfloat16", "float32", "float64"], default=None,
                   help="convert the model (default: its own dtype)")
    p.add_argument("--cache", default=None, help="checkpoint cache of training presets")
    p.add_argument("--out", default=None, help="output folder (default evaluations/<model>-<data>-<points>)")
    p.set_defaults(func=_cmd_evaluate)


    p = sub.add_parser("bdmc", help="bidirectional Monte Carlo: forward and reverse AIS on data simulated from a model, "
                       "per point lower and upper bounds of log p(x), their gap, and the truth where known",
                       parents=[shared["model"], shared["device"], shared["option"], shared["json"]])
    p.add_argument("model", help="a catalogue model that can simulate data (see `vaebench models`)")
    p.add_argument("--points", type=int, default=32, help="data points simulated from the model (default: %(default)s)")
    p.add_argument("--num-samples", "-K", type=int, default=16,
                   help="AIS chains per point in each direction (default: %(default)s)")
    p.add_argument("--steps", type=int, nargs="+", default=[10, 100, 1000], metavar="T",
                   help="numbers of annealing distributions to run (default: 10 100 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated data and the chains (default: %(default)s)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="working precision (default: %(default)s)")
    p.add_argument("--out", help="write the per-point bounds here (checksummed JSON; put it in <report>/results/bdmc/ "
                   "and `vaebench report` renders it)")
    p.set_defaults(func=_cmd_bdmc, encoder=None, encoder_scale=None, encoder_shift=None)


    p = sub.add_parser("models", help="list the model catalogue with each model's options and kind of truth",
                       parents=[shared["json"]])
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("report", help="re-render a report from saved results, without recomputing")
    p.add_argument("results", help="a report directory (with results/) or a results directory")
    p.add_argument("--out", help="where to write the report (default: beside the results)")
    p.add_argument("--also", action="append", default=[], metavar="DIR",
                   help="another results directory to show beside it (e.g. the same models on another device)")
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
    except KeyboardInterrupt:
        print(f"vaebench {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every library error becomes one line; --debug shows the traceback
        if args.debug:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        if isinstance(exc, OSError) and exc.errno == 28:
            message = f"no space left on the device ({exc.filename or 'a results file'}); free space and run again: " \
                      "finished results are kept"
        kind = "" if isinstance(exc, (ValueError, TypeError, KeyError, FileNotFoundError, PermissionError)) else f"{type(exc).__name__}: "
        print(f"vaebench {args.command}: error: {kind}{message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

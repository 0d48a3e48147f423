"""The cost of one AIS transition in decoder passes, and AIS memory against the number of chains.

One HMC transition (L = 10 leapfrog steps and the Metropolis step, `hmc.hmc_transition`)
on the IWAE architecture (784-200-200-50, Bernoulli decoder, float32), over chains × points rows,
timed against one forward ``log_likelihood`` pass over the same rows in the same run (the unit).
Also timed, to say what the transition costs beyond its gradients: one gradient evaluation
(`AnnealingPath.evaluate`: forward with autograd, and the backward passes for ∇A and ∇H).

Memory: torch's peak tensor memory of `ais` (T = 2, one transition) at K = 10² and K = 10⁴
chains per point, B = 1, 8 and 100.

    python -m benchmarks.ais_transition --out benchmarks/results [--rows 1600] [--repeats 15] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from vaebench import get_estimator
from vaebench.estimators.annealing import AnnealingPath
from vaebench.estimators.hmc import hmc_transition
from vaebench.registry import get_model_spec
from vaebench.runtime import Contention
from vaebench.testing.memory import peak_tensor_bytes

LEAPFROG = 10


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _interleaved_medians(fns: dict, repeats: int, device: str = "cpu") -> tuple[dict, float | None]:
    """Median time of each function, timed in turn within every repeat (so that a slow spell of
    the machine falls on all of them), device-synchronised, and the cores other processes used meanwhile."""
    for fn in fns.values():
        fn()
    _sync(device)
    times: dict = {name: [] for name in fns}
    with Contention() as c:
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                _sync(device)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, c.others


def transition_cost(points: int, chains: int, repeats: int, device: str = "cpu") -> dict:
    """Median times of a forward pass, a gradient evaluation and a transition, and their ratios."""
    model = get_model_spec("iwae-init").build().to(device=device)
    g = torch.Generator(device=device).manual_seed(0)
    x = (torch.rand(points, 784, generator=torch.Generator().manual_seed(0)) < 0.3).float().to(device)
    path = AnnealingPath(model, x, model.proposal(x))
    z = path.q0.sample((chains,))
    state = path.evaluate(z)
    step = torch.full((points,), 0.05, dtype=torch.float64, device=device)

    def forward():
        with torch.no_grad():
            model.log_likelihood(x, z)

    t, busy = _interleaved_medians({"forward": forward, "gradient": lambda: path.evaluate(z),
                                    "transition": lambda: hmc_transition(path, state, 0.5, step, LEAPFROG, g)},
                                   repeats, device)
    return {
        "rows": points * chains, "points": points, "chains": chains, "leapfrog_steps": LEAPFROG,
        "forward_s": t["forward"], "gradient_s": t["gradient"], "transition_s": t["transition"],
        "gradient_in_forward_passes": t["gradient"] / t["forward"],
        "transition_in_forward_passes": t["transition"] / t["forward"],
        "transition_beyond_gradients": t["transition"] / (LEAPFROG * t["gradient"]) - 1,
        "others_cores": busy or 0.0,
    }


def memory_against_k(points: int, ks: tuple[int, ...] = (100, 10_000), device: str = "cpu") -> dict:
    """Peak tensor memory of `ais` (T = 2, L = 10, without kept weights) per K."""
    model = get_model_spec("iwae-init").build().to(device=device)
    x = (torch.rand(points, 784, generator=torch.Generator().manual_seed(1)) < 0.3).float().to(device)
    ais = get_estimator("ais")
    peaks = {}
    for k in ks:
        peaks[k] = peak_tensor_bytes(lambda k=k: ais(model, x, k, generator=torch.Generator().manual_seed(2),
                                                     num_steps=2, keep_log_weights=False), device)
    return {"points": points, "peak_bytes": peaks, "ratio": peaks[ks[-1]] / peaks[ks[0]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for ais_transition.{json,md}")
    parser.add_argument("--rows", type=int, nargs="+", default=[1600, 6400], help="chains × points (16 chains each)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--repeats", type=int, default=15, help="timed repeats (median reported)")
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    runs = [transition_cost(r // 16, 16, args.repeats, args.device) for r in args.rows]
    memory = [memory_against_k(b, device=args.device) for b in (1, 8, 100)]
    result = {"machine": torch.cuda.get_device_name() if args.device.startswith("cuda") else
              (platform.processor() or platform.machine()), "device": args.device, "threads": torch.get_num_threads(),
              "torch": torch.__version__, "transition": runs, "memory": memory}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ais_transition.json").write_text(json.dumps(result, indent=2))
    lines = [f"# One AIS transition in decoder passes (IWAE architecture 784-200-200-50, float32, {result['machine']})", "",
             f"torch {torch.__version__}, {torch.get_num_threads()} threads. Unit: one forward `log_likelihood` "
             "over the same rows, timed in the same run. Target: ≤ 22 passes per transition (L = 10).", "",
             "| rows | forward (ms) | gradient (passes) | transition (passes) | beyond L gradients | others' cores |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['rows']} | {1e3 * r['forward_s']:.2f} | {r['gradient_in_forward_passes']:.2f} | "
                     f"{r['transition_in_forward_passes']:.2f} | {100 * r['transition_beyond_gradients']:+.1f}% | "
                     f"{r['others_cores']:.2f} |")
    lines += ["", "Peak tensor memory of `ais` (T = 2, no kept weights; bound: K = 10⁴ at most 1.5x K = 10²):", "",
              "| B | K = 10² (MiB) | K = 10⁴ (MiB) | ratio |", "|---|---|---|---|"]
    for m in memory:
        small, large = m["peak_bytes"].values()
        lines.append(f"| {m['points']} | {small / 2**20:.2f} | {large / 2**20:.2f} | {m['ratio']:.2f} |")
    (args.out / "ais_transition.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Ship a trained preset's checkpoint with vaebench (a maintainer's step, run once per preset and recipe).

    VAEBENCH_THREADS=1 vaebench train mnist-vae --cache /tmp/ckpt          # trains it, prints the checkpoint
    python benchmarks/ship_checkpoint.py mnist-vae --cache /tmp/ckpt \\
        --command "VAEBENCH_THREADS=1 vaebench train mnist-vae --cache /tmp/ckpt"

copies the cached checkpoint into ``vaebench/training/checkpoints/`` under its cache name and records
it in the manifest: its sha256, the preset, the command that trained it, the epochs run, the best
validation objective and the training seconds. `load_or_train` then finds it for the same
configuration and data, so nobody trains that preset again.
"""

from __future__ import annotations

import argparse
import shutil
import sys

import torch

from vaebench.training.presets import preset_config
from vaebench.training.shipped import SHIPPED_DIR, add_to_manifest
from vaebench.training.trainer import load_or_train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("preset")
    parser.add_argument("--cache", required=True, help="the cache the preset was trained into")
    parser.add_argument("--command", required=True, help="the command that trained it, recorded in the manifest")
    parser.add_argument("--data", default=None)
    args = parser.parse_args(argv)
    config = preset_config(args.preset)
    _, path, payload = load_or_train(config, cache=args.cache, data_path=args.data, progress=False)
    if path.parent.resolve() == SHIPPED_DIR.resolve():
        print(f"{args.preset} is already shipped as {path.name}", file=sys.stderr)
        return 0
    SHIPPED_DIR.mkdir(exist_ok=True)
    target = SHIPPED_DIR / path.name
    shutil.copyfile(path, target)
    history = payload["history"]
    entry = add_to_manifest(target, {
        "preset": args.preset, "command": args.command, "config": config.to_dict(), "torch": torch.__version__,
        "epochs_run": len(history), "best_valid_objective": max(h["valid_objective"] for h in history),
        "train_seconds": round(sum(h["seconds"] for h in history), 1),
        # a continuation (TrainConfig.warm_start): the checkpoint it started from, and that training's epochs
        **{k: payload[k] for k in ("warm_start_checkpoint", "warm_start_epochs_run") if k in payload}})
    print(f"shipped {target} ({entry['bytes'] / 2**20:.1f} MiB, sha256 {entry['sha256'][:12]}…)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

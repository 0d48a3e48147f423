"""The clamped Bernoulli log-density on probabilities: torch's binary_cross_entropy against the written-out form.

``vaebench.adapters.likelihoods`` evaluates pythae-style decoders (which return probabilities) on
``[K, B, D]`` outputs. On a CPU torch's ``binary_cross_entropy(reduction="none")`` is several times
slower than a select, a log and a clamp, which give the same values for binary x. This prints
the times of both on one output of the size a likelihood chunk has (K = 20, B = 100, D = 784).

    python -m benchmarks.bernoulli_probs_kernel
"""

from __future__ import annotations

import statistics
import time

import torch

from vaebench.adapters.likelihoods import _clamped_bernoulli_log_prob


def main(repeats: int = 30) -> None:
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(20, 100, 784, generator=g).clamp(1e-6, 1 - 1e-6)
    x = (torch.rand(100, 784, generator=g) < 0.2).float()

    def torch_bce() -> torch.Tensor:
        return -torch.nn.functional.binary_cross_entropy(probs, x.expand_as(probs), reduction="none").sum(-1)

    def written_out() -> torch.Tensor:
        return _clamped_bernoulli_log_prob(x, probs)

    print(f"max |difference|: {(torch_bce() - written_out()).abs().max().item():.2e} nats (float32 sums of 784 terms)")
    times = {}
    for fn in (torch_bce, written_out):
        fn()
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - start)
        times[fn.__name__] = statistics.median(runs)
        print(f"{fn.__name__:12s} {1e3 * times[fn.__name__]:.2f} ms (median of {repeats})")
    print(f"torch's BCE takes {times['torch_bce'] / times['written_out']:.1f}x the written-out form "
          f"({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()

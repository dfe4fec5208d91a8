#!/usr/bin/env python3
"""Time one Thompson-sampling draw over K arms the way a numpy loop does it:
one vectorised rng.beta over the arms, then argmax. Prints nanoseconds per
draw, wall clock and process CPU time (best of three runs each). The arms match benchArms in internal/bandit/bench_test.go:
alpha = 1 + s, beta = 1 + 1000 - s with s = 100 + 3i.

Usage: python3 hack/bandit/numpy_thompson.py [K] [draws]
"""

import sys
import time

import numpy as np


def main():
    k = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    draws = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
    s = 100 + 3 * np.arange(k, dtype=float)
    alphas, betas = 1 + s, 1 + 1000 - s
    rng = np.random.default_rng(1)
    wall, cpu = float("inf"), float("inf")
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(draws):
            samples = rng.beta(alphas, betas)
            i = samples.argmax()
        wall = min(wall, (time.perf_counter() - start) / draws)
        cpu = min(cpu, (time.process_time() - start_cpu) / draws)
    del i
    print(f"{wall * 1e9:.0f} {cpu * 1e9:.0f}")


if __name__ == "__main__":
    main()

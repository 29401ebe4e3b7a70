"""Correlated against white inputs through the one engine (issue 21). Run: ``python benchmarks/bench_correlated.py``.

The same K = 100 modes, T = 50 steps (inverse-exponential singular values, random scales and rates), integrated to
t = 20 with the default (batched) solver, once with white inputs (B's gram matrix G diagonal: the table of |b|^(2k))
and once with AR(1) inputs, rho = 0.6 (a full G: B a polynomial with odd powers, 2T - 1 coefficients per mode).
Also the right-hand side and Jacobian alone. The two are timed in alternation in this one process (the machine is
noisy), and the ratio correlated / white is taken pair by pair; the median is quoted. Goal: at most 1.5x.
"""
import argparse
import time

import numpy as np

from lrnn_theory import Task, compile_flow, integrate


def tasks(K: int, T: int, rho: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    common = dict(T=T, delta=rng.uniform(0.5, 1.5, K), lam=rng.uniform(0.5, 0.95, K),
                  init={"a": 0.1, "b": 0.1, "c": 0.1})
    return (Task.from_family("inverse_exponential", **common),
            Task.from_family("inverse_exponential", **common, input_covariance={"ar1": rho}))


def paired_ratio(first, second, pairs: int):
    """Median of second/first over alternating timed pairs, and the median times."""
    t1, t2 = [], []
    for _ in range(pairs):
        for fn, out in ((first, t1), (second, t2)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    ratios = np.array(t2) / np.array(t1)
    return float(np.median(ratios)), float(np.median(t1)), float(np.median(t2))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--K", type=int, default=100)
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--rho", type=float, default=0.6)
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args(argv)
    white, correlated = tasks(args.K, args.T, args.rho)
    print(f"K = {args.K}, T = {args.T}, AR(1) rho = {args.rho}; medians of {args.pairs} alternating pairs")

    flows = [compile_flow(t) for t in (white, correlated)]
    states = [np.asarray(f.initial_state()).reshape(args.K, 3).T.copy() for f in flows]

    def rates(i):
        return lambda: [flows[i].rates_rows(0.0, states[i]) for _ in range(200)]

    def jacobian(i):
        return lambda: [flows[i].jacobian_rows(0.0, states[i]) for _ in range(200)]

    for name, make in (("right-hand side (200 calls)", rates), ("Jacobian (200 calls)", jacobian)):
        ratio, tw, tc = paired_ratio(make(0), make(1), args.pairs)
        print(f"{name:30s} white {tw * 1e3:8.2f} ms   correlated {tc * 1e3:8.2f} ms   ratio {ratio:.2f}")

    runs = {}

    def run(i, task):
        def go():
            runs[i] = integrate(task, 20.0, n_points=11)
        return go

    ratio, tw, tc = paired_ratio(run(0, white), run(1, correlated), args.pairs)
    print(f"{'integrate to t = 20':30s} white {tw * 1e3:8.2f} ms   correlated {tc * 1e3:8.2f} ms   ratio {ratio:.2f}"
          f"   (goal <= 1.5)")
    print(f"solver steps (max per mode): white {runs[0].info['steps_max']}, correlated {runs[1].info['steps_max']}; "
          f"final u differs by up to {np.max(np.abs(runs[0].u[-1] - runs[1].u[-1])):.3f} (the covariance matters)")


if __name__ == "__main__":
    main()

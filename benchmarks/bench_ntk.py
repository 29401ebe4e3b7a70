"""Benchmark: the exact NTK against a finite-difference J J^T, its cost at N_h = 300, and the fig5 grid on a pool.

1. ``empirical_ntk`` (two Gram matrices and one contraction) against J J^T with J from central finite differences
   (two forward passes over all P sequences per weight entry), N_x = N_y = 4, N_h = 32, T = 8, P = 32, random
   unaligned weights; both timed in this run with single-threaded BLAS (``empirical_ntk`` uses it for N_h <= 128),
   best of ``--repeat``; the largest relative difference is printed.
2. ``empirical_ntk`` at N_h = 300, T = 8, P = 64 (final and every-step outputs), with the default BLAS threads
   (what it uses above N_h = 128) and single-threaded.
3. The fig5 kernel-distance grid (``lrnn_theory.validation.ntk.distance_grid``, aligned and unaligned panels) run
   serially and on a ``ProcessPoolExecutor`` through ``lrnn_theory.sweeps.run_jobs``; the quick grid (T = 1, 2, 8 x
   3 init scales) by default, the paper's 8 x 10 grid with ``--full``. The two must give identical distances.

Run: ``python benchmarks/bench_ntk.py [--repeat N] [--full] [--workers W]``. On a shared machine the times are noisy;
the ratios are measured side by side in one run.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from lrnn_theory.ntk import empirical_ntk


def forward(weights, X):
    W_x, W_h, W_y = weights
    h = np.zeros((X.shape[0], W_x.shape[0]))
    for t in range(X.shape[1]):
        h = h @ W_h.T + X[:, t] @ W_x.T
    return (h @ W_y.T).ravel()


def finite_difference_jjt(weights, X, eps=1e-5):
    """J J^T with J from central differences, one column per weight entry (vectorized over the samples)."""
    cols = []
    for j, W in enumerate(weights):
        for idx in np.ndindex(W.shape):
            plus, minus = list(weights), list(weights)
            plus[j], minus[j] = W.copy(), W.copy()
            plus[j][idx] += eps
            minus[j][idx] -= eps
            cols.append((forward(plus, X) - forward(minus, X)) / (2 * eps))
    J = np.array(cols).T
    return J @ J.T


def best_time(func, repeat):
    times, out = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - began)
    return min(times), out


def random_weights(rng, N_x, N_h, N_y):
    return [rng.normal(size=(N_h, N_x)) / np.sqrt(N_x), rng.normal(size=(N_h, N_h)) * 0.9 / np.sqrt(N_h),
            rng.normal(size=(N_y, N_h)) / np.sqrt(N_h)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="the paper's 8 x 10 fig5 grid (minutes)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    weights = random_weights(rng, 4, 32, 4)
    X = rng.normal(size=(32, 8, 4))
    t_exact, K = best_time(lambda: empirical_ntk(*weights, X), 10 * args.repeat)  # fast: more repeats
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # as empirical_ntk does for N_h <= 128: fair to both
        t_fd, K_fd = best_time(lambda: finite_difference_jjt(weights, X), max(1, args.repeat // 2))
    n_params = sum(W.size for W in weights)
    print(f"1. N_h=32, T=8, P=32, N_x=N_y=4 ({n_params} weights, kernel {K.shape[0]}x{K.shape[1]}):")
    print(f"   empirical_ntk {t_exact * 1e3:.2f} ms, finite-difference J J^T {t_fd * 1e3:.1f} ms: "
          f"{t_fd / t_exact:.0f}x faster; largest relative difference {np.max(np.abs(K - K_fd)) / np.max(np.abs(K)):.1e}")

    weights = random_weights(rng, 4, 300, 4)
    X = rng.normal(size=(64, 8, 4))
    for label, limit in (("default BLAS threads", None), ("single-threaded BLAS", 1)):
        with threadpool_limits(limits=limit, user_api="blas"):
            t_final, K = best_time(lambda: empirical_ntk(*weights, X), args.repeat)
            t_every, K_every = best_time(lambda: empirical_ntk(*weights, X, outputs="every_step"), args.repeat)
        print(f"2. N_h=300, T=8, P=64, {label}: final output {t_final * 1e3:.1f} ms (kernel {K.shape[0]}x"
              f"{K.shape[0]}), every step {t_every * 1e3:.1f} ms (kernel {K_every.shape[0]}x{K_every.shape[0]})")

    from concurrent.futures import ProcessPoolExecutor

    from lrnn_theory.validation.figures.ntk import FIG5, constant_tasks
    from lrnn_theory.validation.ntk import distance_grid

    mode = "full" if args.full else "quick"
    tasks = constant_tasks(FIG5["T"][mode], FIG5["modes"], FIG5["delta"])
    scales = FIG5["scales"][mode]

    def grids(executor):
        return [distance_grid(tasks, scales, init=init, hidden=FIG5["hidden"], executor=executor)
                for init in ("aligned", "random")]

    began = time.perf_counter()
    serial = grids(None)
    t_serial = time.perf_counter() - began
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        pooled = grids(pool)
    t_pool = time.perf_counter() - began
    same = all(np.array_equal(s["distance"], p["distance"], equal_nan=True) for s, p in zip(serial, pooled))
    n_cells = 2 * len(tasks) * len(scales)
    print(f"3. fig5 grid ({mode}: {n_cells} trained networks): serial {t_serial:.1f} s, process pool of "
          f"{args.workers} {t_pool:.1f} s: {t_serial / t_pool:.2f}x; identical distances: {same}")


if __name__ == "__main__":
    main()

"""Benchmark: a 200 x 50 grid sweep as one vectorized integration against point-by-point integration.

Task: "the last step breaks the pattern" on the constant family (Fig. 4, left), T = 5, delta in [0.05, 2] (200
values) x kappa in [0.05, 1.2] (50 values), integrated to t = 300 from a = b = c = 0.1, tolerances rtol = 1e-8,
atol = 1e-10 per grid point. Point-by-point integration of all 10 000 points would take several minutes, so it is
timed on a random subsample (``--sample``, default 200 points) and extrapolated linearly; the output says so. The
subsample also gives the largest difference between the two methods.

Then the same grid's end points (``endpoint="fixed_point"``: a loose 5-tau check, the fixed point, integration only
where that is not valid) against integrating every point to t_end: both timed (best of ``--repeat`` runs, the machine
may be shared), the largest end-point difference where both are valid (integrated end point converged, fixed point
not fallen back), the number of fallback points, and whether they are the same points as with the old tight check
(rtol 1e-8, no basin margin).

Run: ``python benchmarks/bench_sweep.py [--sample N] [--full] [--repeat R]`` (``--full`` times every point, no
extrapolation).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from lrnn_theory.fixed_points import flow_endpoints
from lrnn_theory.sweeps import ExecutionOptions, IntegrationOptions, TaskGrid, sweep, sweep_point_by_point


def best_time(func, repeat: int):
    """(best wall time of ``repeat`` runs, the last result)."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - began)
    return min(times), out


def bench_fixed_point_end_points(grid, t_end: float, repeat: int):
    """End points from fixed points against integration of the whole grid."""
    run = IntegrationOptions(t_end=t_end)
    fixed = IntegrationOptions(t_end=t_end, endpoint="fixed_point")
    t_int, integrated = best_time(lambda: sweep(grid, run), repeat)
    t_fix, ends = best_time(lambda: sweep(grid, fixed), repeat)
    fell_back = ends.integrated
    both = ~fell_back & (integrated.rate < 1e-9)  # both valid: the integration has converged, no fallback
    diff = max(float(np.max(np.abs(getattr(ends, q) - getattr(integrated, q))[both])) for q in ("a", "b", "c", "u"))
    tight = flow_endpoints(grid.task(), rtol=1e-8, atol=1e-10, margin=1e-300)
    same = np.array_equal(~tight.valid, fell_back.ravel())
    print(f"end points of the {fell_back.size} grid points (t_end={t_end:g}; best of {repeat} runs each):")
    print(f"    integrate every point to t_end:                 {t_int:.2f} s")
    print(f"    fixed points (loose check) + fallback:          {t_fix:.2f} s   speed-up {t_int / t_fix:.1f}x")
    print(f"    fallback points (integrated instead): {int(fell_back.sum())}; the same points as the old tight check "
          f"(rtol 1e-8, no margin, {int((~tight.valid).sum())} points): {same}")
    print(f"    max |a, b, c, u difference| fixed point - integrated, on the {int(both.sum())} points where both are "
          f"valid (integrated rate < 1e-9, no fallback): {diff:.1e}")
    print(f"    integrated points still moving at t_end (rate > 1e-9): {int((integrated.rate >= 1e-9).sum())}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=200, help="grid points timed point by point (default 200)")
    parser.add_argument("--full", action="store_true", help="time every grid point point by point")
    parser.add_argument("--T", type=int, default=5)
    parser.add_argument("--t-end", type=float, default=300.0)
    parser.add_argument("--repeat", type=int, default=3, help="runs timed for the end-point comparison (best)")
    args = parser.parse_args(argv)

    axes = {"delta": np.linspace(0.05, 2.0, 200), "kappa": np.linspace(0.05, 1.2, 50)}
    run = IntegrationOptions(t_end=args.t_end)
    grid = TaskGrid("last_step", args.T, axes, base="constant")
    n = 200 * 50
    sweep(TaskGrid("last_step", args.T, {"delta": [1.0]}, fixed={"kappa": 0.5}, base="constant"), run)  # compile
    print(f"grid: 200 x 50 = {n} points, family last_step (constant), T={args.T}, t_end={args.t_end:g}")
    bench_fixed_point_end_points(grid, args.t_end, args.repeat)

    began = time.perf_counter()
    vec = sweep(grid, run, ExecutionOptions(max_chunk=None))
    t_vec = time.perf_counter() - began
    began = time.perf_counter()
    chunked = sweep(grid, run)
    t_chunk = time.perf_counter() - began

    rng = np.random.default_rng(0)
    idx = np.arange(n) if args.full else np.sort(rng.choice(n, size=min(args.sample, n), replace=False))
    began = time.perf_counter()
    ref = sweep_point_by_point(grid, run, indices=idx)
    t_sub = time.perf_counter() - began
    t_pbp = t_sub * n / idx.size
    diff_b = np.nanmax(np.abs(vec.b.ravel()[idx] - ref.b.ravel()[idx]))
    diff_u = np.nanmax(np.abs(vec.u.ravel()[idx] - ref.u.ravel()[idx]))

    print(f"vectorized, one integration of {n} modes (max_chunk=None): {t_vec:.2f} s")
    print(f"vectorized, default chunks of {chunked.info['chunk_size']} modes ({chunked.info['n_chunks']} "
          f"integrations in this process): {t_chunk:.2f} s; max |b difference| to the single integration "
          f"{np.max(np.abs(chunked.b - vec.b)):.1e}")
    if idx.size == n:
        print(f"point by point (all {n} points): {t_pbp:.2f} s")
    else:
        print(f"point by point: {t_sub:.2f} s for {idx.size} random points, extrapolated to {n} points: "
              f"{t_pbp:.1f} s (EXTRAPOLATED, not measured)")
    print(f"speed-up (point by point / one integration): {t_pbp / t_vec:.1f}x")
    print(f"speed-up (point by point / default chunks): {t_pbp / t_chunk:.1f}x")
    print(f"max |b difference| = {diff_b:.2e}, max |u difference| = {diff_u:.2e} on the {idx.size} compared points")


if __name__ == "__main__":
    main()

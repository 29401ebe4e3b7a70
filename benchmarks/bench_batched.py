"""Benchmarks of the batched per-mode solver (issue 10), all measured side by side in one run.

(a) K = 100, T = 50, from a = b = c = 0.1 until every |rate| < 1e-8: the old default (LSODA, banded Jacobian,
    convergence event) against the new default (Batched: RODAS4, one step size per mode), and the Batched run at
    the loosest tolerance whose error is no larger than the old default's; errors are measured against a tight
    reference (LSODA, rtol 1e-12) at 21 times on [0, t_converged]. Floor: the largest per-mode step count times one
    vectorized right-hand side over all K modes (``rates_rows``, the call the solver makes). RODAS4's own cost: the
    same steps times its 6 right-hand sides and 1 Jacobian per step (what any implementation of the method must
    spend; the rest is bookkeeping).
(b) time against K = 10 ... 1e5 at T = 20 (Batched to convergence; LSODA up to K = 1000).
(c) the 200 x 50 sweep of ``benchmarks/bench_sweep.py`` (last_step on constant, T = 5, t_end = 300): today's way
    (LSODA, chunks of 1000 modes, tolerances divided by sqrt(3K)) against the new default (Batched, one integration,
    per-mode tolerances), with the largest difference of the final b and u.
(d) the table of powers b^0..b^(T-1): running product (np.cumprod, the old form) against repeated squaring.

Run: ``python benchmarks/bench_batched.py [--quick]`` (``--quick``: K up to 1e4). The machine is
shared and noisy: every timing is the best of a few repeats where cheap, a single run otherwise; the ratios are
what to read.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from lrnn_theory import Task, compile_flow, integrate
from lrnn_theory.task_sums import TaskSums
from lrnn_theory.sweeps import IntegrationOptions, TaskGrid, sweep


def timed(func, repeats=1, clock=time.perf_counter):
    best, out = np.inf, None
    for _ in range(repeats):
        start = clock()
        out = func()
        best = min(best, clock() - start)
    return best, out


def max_error(traj, ref):
    return max(float(np.max(np.abs(getattr(traj, q) - getattr(ref, q)))) for q in ("a", "b", "c"))


def bench_k100(repeats):
    task = Task(np.random.default_rng(0).uniform(0, 1, (100, 50)))
    integrate(task, 1.0)  # compile once (not timed)
    rows = []
    t_old, old = timed(lambda: integrate(task, 1e4, n_points=2, method="LSODA", converged_tol=1e-8))
    t_conv = float(old.t[-1])
    t_eval = np.linspace(0.0, t_conv, 21)
    ref = integrate(task, t_conv, t_eval=t_eval, method="LSODA", rtol=1e-12, atol=1e-14)
    err_old = max_error(integrate(task, t_conv, t_eval=t_eval, method="LSODA"), ref)
    rows.append(("LSODA (old default) rtol 1e-8", t_old, old.info["nfev"], "-", err_old))
    batched = {}
    for rtol in (1e-8, 1e-7, 1e-6, 1e-5):
        atol = rtol / 100
        wall, traj = timed(lambda: integrate(task, 1e4, n_points=2, rtol=rtol, atol=atol, converged_tol=1e-8),
                           repeats)
        err = max_error(integrate(task, t_conv, t_eval=t_eval, rtol=rtol, atol=atol), ref)
        batched[rtol] = (wall, traj, err)
        rows.append((f"Batched rtol {rtol:g}" + (" (new default)" if rtol == 1e-8 else ""), wall,
                     traj.info["nfev"], traj.info["steps_max"], err))
    same = max((r for r in batched if batched[r][2] <= err_old), default=1e-8)
    wall_same, traj_same, err_same = batched[same]
    flow = compile_flow(task)
    Yr = np.ascontiguousarray(flow.initial_state().reshape(task.K, 3).T)
    modes = np.arange(task.K)
    t_rhs, _ = timed(lambda: [flow.rates_rows(0.0, Yr, modes) for _ in range(200)], 5)
    t_jac, _ = timed(lambda: [flow.jacobian_rows(0.0, Yr, modes) for _ in range(200)], 5)
    t_rhs, t_jac = t_rhs / 200, t_jac / 200
    steps = traj_same.info["steps_max"]
    floor = steps * t_rhs
    # What RODAS4 itself must spend per step, before any solver bookkeeping: 6 rates and 1 Jacobian.
    method_bound = steps * (6 * t_rhs + t_jac)
    print(f"(a) K=100, T=50, a=b=c=0.1 until every |rate| < 1e-8 (t = {t_conv:.1f}); error = max |a, b, c - "
          f"reference| at 21 times")
    print(f"    {'run':<36} {'wall s':>8} {'rhs calls':>10} {'max steps':>10} {'error':>9}")
    for name, wall, nfev, steps_max, err in rows:
        print(f"    {name:<36} {wall:>8.3f} {nfev:>10} {steps_max:>10} {err:>9.1e}")
    print(f"    floor (max steps {steps} x one vectorized rhs {t_rhs * 1e6:.0f} us): {floor:.4f} s")
    print(f"    RODAS4's own cost at these steps (6 rhs + 1 Jacobian of {t_jac * 1e6:.0f} us per step, all {task.K} "
          f"modes every step): {method_bound:.4f} s = {method_bound / floor:.1f}x the floor")
    print(f"    speed-up old default / new default (rtol 1e-8, error {batched[1e-8][2]:.1e}): "
          f"{t_old / batched[1e-8][0]:.1f}x")
    print(f"    speed-up old default / Batched at the same accuracy (rtol {same:g}, error {err_same:.1e} <= "
          f"{err_old:.1e}): {t_old / wall_same:.1f}x; Batched / floor: {wall_same / floor:.1f}x; Batched / RODAS4's "
          f"own cost: {wall_same / method_bound:.2f}x")


def bench_k_scaling(Ks, lsoda_max_K):
    print("(b) time against K at T=20, random s in [0, 1), a=b=c=0.1 until every |rate| < 1e-8")
    print(f"    {'K':>7} {'Batched s':>10} {'per mode us':>12} {'max steps':>10} {'LSODA s':>9} {'LSODA rhs':>10}")
    rng = np.random.default_rng(1)
    integrate(Task(rng.uniform(0, 1, (2, 20))), 1.0)
    for K in Ks:
        task = Task(rng.uniform(0, 1, (K, 20)))
        wall, traj = timed(lambda: integrate(task, 1e4, n_points=2, converged_tol=1e-8))
        line = f"    {K:>7} {wall:>10.3f} {wall / K * 1e6:>12.1f} {traj.info['steps_max']:>10}"
        if K <= lsoda_max_K:
            w_old, old = timed(lambda: integrate(task, 1e4, n_points=2, method="LSODA", converged_tol=1e-8))
            line += f" {w_old:>9.3f} {old.info['nfev']:>10}"
        print(line)


def bench_sweep(with_lsoda: bool):
    axes = {"delta": np.linspace(0.05, 2.0, 200), "kappa": np.linspace(0.05, 1.2, 50)}
    grid, run = TaskGrid("last_step", 5, axes, base="constant"), IntegrationOptions(t_end=300.0)
    sweep(TaskGrid("last_step", 5, {"delta": [1.0]}, fixed={"kappa": 0.5}, base="constant"), run)  # compile
    t_new, new = timed(lambda: sweep(grid, run))
    print("(c) 200 x 50 sweep, last_step (constant), T=5, t_end=300, rtol 1e-8, atol 1e-10 per grid point")
    print(f"    new default (Batched, {new.info['n_chunks']} integration(s), per-mode tolerances): {t_new:.2f} s")
    t_fix, fix = timed(lambda: sweep(grid, IntegrationOptions(t_end=300.0, endpoint="fixed_point")))
    converged = new.rate < 1e-9
    diff_fix = max(float(np.max(np.abs(fix.b - new.b)[converged])), float(np.max(np.abs(fix.u - new.u)[converged])))
    print(f"    fixed-point end points (endpoint='fixed_point', the {int((~converged).sum())} grid points not "
          f"converged by t_end integrated): {t_fix:.2f} s; largest |b, u difference| on converged points: "
          f"{diff_fix:.1e}")
    if with_lsoda:
        t_old, old = timed(lambda: sweep(grid, IntegrationOptions(t_end=300.0, method="LSODA")))
        diff = max(float(np.max(np.abs(new.b - old.b))), float(np.max(np.abs(new.u - old.u))))
        print(f"    today's (LSODA, {old.info['n_chunks']} chunks of {old.info['chunk_size']}, tolerances / "
              f"sqrt(3K)): {t_old:.2f} s")
        print(f"    speed-up: {t_old / t_new:.1f}x (fixed-point end points: {t_old / t_fix:.1f}x); largest |b, u "
              f"difference| new - today's: {diff:.1e}")


def bench_powers():
    print("(d) table of powers b^0..b^(T-1)")
    print(f"    {'K':>7} {'T':>5} {'cumprod us':>11} {'squaring us':>12} {'ratio':>6}")
    for K, T in ((100, 50), (10_000, 20), (10_000, 50), (100, 1000)):
        b = np.random.default_rng(2).uniform(-1, 1, K)
        sums = TaskSums(np.ones((K, T)))

        def cumprod():
            P = np.empty((K, T))
            P[:, 0] = 1.0
            P[:, 1:] = b[:, None]
            return np.cumprod(P, axis=1, out=P)

        number = max(1, int(2e6 // (K * T)))
        t_old, _ = timed(lambda: [cumprod() for _ in range(number)], 5)
        t_new, _ = timed(lambda: [sums.powers(b) for _ in range(number)], 5)
        assert np.allclose(cumprod(), sums.powers(b), rtol=1e-11, atol=1e-280)  # denormals at T = 1000
        print(f"    {K:>7} {T:>5} {t_old / number * 1e6:>11.1f} {t_new / number * 1e6:>12.1f} "
              f"{t_old / t_new:>6.1f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K up to 1e4 (K = 1e5 alone takes ~20 min here)")
    args = parser.parse_args(argv)
    bench_powers()
    bench_k100(repeats=1 if args.quick else 3)
    bench_k_scaling([10, 100, 1000, 10_000] if args.quick else [10, 100, 1000, 10_000, 100_000], 1000)
    bench_sweep(with_lsoda=True)


if __name__ == "__main__":
    main()

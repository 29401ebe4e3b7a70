"""Finite learning rates: cost of the discrete mode map, flow-to-training error by learning rate, stable bounds.

1. Cost: the exact discrete mode map (``integrate(..., method=DiscreteGD(lr))``) against ``lrnn simulate`` (aligned
   population training, the harness) for K = N_h = 32 modes, T = 20, over the same steps and recorded times, in one
   run: wall times, their ratio, and the largest difference of a, b, c (rounding error).
2. Error tables: largest |training - theory| of a, b, c, u over t in [0, 30] (a = b = c = 0.1) on two tasks
   (inverse-exponential, delta = 1, lambda = 0.7, T = 6; and the two-mode task of the harness CLI tests), for the
   plain flow and the lr-corrected flow, at four learning rates, with the log-log slopes between neighbouring rates
   (expected 1 and 2).
3. Stable learning rate: the closed-form bound 2 / lambda_max per case, what the harness does at 0.95x and 1.05x, and
   the factor above the bound from which the harness reports divergence (bisection with the harness).

Run: ``python benchmarks/bench_finite_lr.py [cost] [errors] [bounds]`` (all three by default; a few minutes on a loaded 2-core machine; timings are noisy there).
BLAS runs single-threaded unless ``OPENBLAS_NUM_THREADS`` is set (as in bench_harness.py).
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from lrnn_theory import DivergenceError, Task, integrate  # noqa: E402
from lrnn_theory.finite_lr import DiscreteGD, stable_lr_bound  # noqa: E402
from lrnn_theory.validation import train_lrnn  # noqa: E402
from lrnn_theory.validation.compare import max_differences, theory_for  # noqa: E402


def cost(steps: int = 2000, lr: float = 0.005, repeats: int = 3) -> None:
    K, T = 32, 20
    rng = np.random.default_rng(0)
    task = Task.from_family("inverse_exponential", T=T, delta=list(rng.uniform(0.5, 1.5, K)),
                            lam=list(rng.uniform(0.3, 0.9, K)))
    record_every = steps // 100
    t_sim, t_map = [], []
    for _ in range(repeats):  # alternate, so that the machine's load hits both alike
        start = time.perf_counter()
        sim = train_lrnn(task, hidden=K, lr=lr, steps=steps, record_every=record_every, progress=False).trajectory
        t_sim.append(time.perf_counter() - start)
        start = time.perf_counter()
        disc = integrate(task, sim.t[-1], t_eval=sim.t, method=DiscreteGD(lr))
        t_map.append(time.perf_counter() - start)
    diff = max(np.max(np.abs(getattr(sim, q) - getattr(disc, q))) for q in "abc")
    print(f"1. K = N_h = {K}, T = {T}, {steps} steps of lr = {lr} (records every {record_every}), best of {repeats}:")
    print(f"   lrnn simulate (aligned, population) {min(t_sim):.3f} s   discrete map {min(t_map):.3f} s   "
          f"ratio {min(t_sim) / min(t_map):.1f}x   largest |difference| of a, b, c {diff:.2e}")


#: The two error tables: the demo's task, and the two-mode task of the harness CLI tests (tests/test_harness_cli.py).
ERROR_TASKS = {
    "inverse-exponential, delta=1, lambda=0.7, T=6": {"family": "inverse_exponential", "delta": 1.0, "lambda": 0.7,
                                                      "T": 6},
    "two modes, delta=(1, 0.6), lambda=(0.7, 1.1), T=5": {"family": "inverse_exponential", "delta": [1.0, 0.6],
                                                          "lambda": [0.7, 1.1], "T": 5},
}


def error_tables(lrs=(0.04, 0.02, 0.01, 0.005), t_end: float = 30.0) -> None:
    for label, spec in ERROR_TASKS.items():
        error_table(Task.from_dict(spec), label, lrs, t_end)


def error_table(task, label, lrs, t_end) -> None:
    rows = []
    for lr in lrs:
        steps = int(round(t_end / lr))
        sim = train_lrnn(task, lr=lr, steps=steps, record_every=max(1, steps // 300), progress=False).trajectory
        plain = max(max_differences(sim, theory_for(task, sim)).values())
        corrected = max(max_differences(sim, theory_for(task, sim, lr_correction=DiscreteGD(lr))).values())
        rows.append((lr, plain, corrected))
    r = np.array(rows)
    slopes = np.diff(np.log(r[:, 1:]), axis=0) / np.diff(np.log(r[:, :1]), axis=0)
    print(f"2. {label}, a = b = c = 0.1, t in [0, {t_end:g}], aligned training, largest |training - theory| "
          f"of a, b, c, u:")
    print("   lr       plain flow   corrected flow   slope plain   slope corrected")
    for i, (lr, p, c) in enumerate(rows):
        tail = f"   {slopes[i - 1, 0]:11.3f}   {slopes[i - 1, 1]:15.3f}" if i else ""
        print(f"   {lr:<8g} {p:10.3e}   {c:14.3e}{tail}")


def _outcome(task, lr, steps):
    try:
        res = train_lrnn(task, lr=lr, steps=steps, record_every=1, progress=False)
    except DivergenceError:
        return "diverges"
    last = res.losses[-4:]
    if last[-1] < 1e-20:
        return "converges"
    period2 = np.isclose(last[0], last[2], rtol=1e-8) and not np.isclose(last[0], last[1], rtol=1e-3)
    return f"period-2 orbit, loss {last[-1]:.2g}" if period2 else f"no convergence, loss {last[-1]:.2g}"


def bounds(steps: int = 2000) -> None:
    cases = [("constant", 2, {"delta": 1.0}), ("constant", 6, {"delta": 1.0}),
             ("inverse_exponential", 3, {"delta": 1.0, "lam": 0.5}),
             ("inverse_exponential", 6, {"delta": 1.0, "lam": 0.7}),
             ("exponential", 4, {"delta": 1.0, "lam": 0.8})]
    print(f"3. stable lr (sum_half) at the balanced zero-loss solution, training from a = b = c = 0.1, {steps} steps:")
    for family, T, params in cases:
        task = Task.from_family(family, T=T, **params)
        bound = stable_lr_bound(task)["lr_max"][0]
        lo, hi = 1.0, 4.0
        for _ in range(8):
            mid = (lo + hi) / 2
            lo, hi = (lo, mid) if _outcome(task, mid * bound, steps) == "diverges" else (mid, hi)
        label = ", ".join(f"{k}={v}" for k, v in params.items())
        print(f"   {family} T={T} {label}: lr_max = {bound:.4g}; 0.95x: {_outcome(task, 0.95 * bound, steps)}; "
              f"1.05x: {_outcome(task, 1.05 * bound, steps)}; the harness diverges from {hi:.3f}x "
              f"(at {lo:.3f}x: {_outcome(task, lo * bound, steps)})")


PARTS = {"cost": cost, "errors": error_tables, "bounds": bounds}

if __name__ == "__main__":
    import sys

    for part in sys.argv[1:] or PARTS:
        PARTS[part]()

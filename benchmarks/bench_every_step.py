"""Every-step outputs (App. M) against final-output tasks in the one engine (prints measured numbers; not a test).

1. Theory: K = 20 inverse-exponential modes at T = 20 and T = 200, ``integrate`` to t = 50 (201 output times, energy
   included), every-step task against the final-output task of the same family, side by side. Every-step tasks enter
   through the same task sums (alpha per power of b, weights T - k of B), so the right-hand side costs the same; the
   energy is summed per lag around the lag means (T, not T^2, per state).
2. Harness: N_h = 8 (K = 8 modes), T = 20, 500 gradient steps of the population gradient (lag targets and weights)
   and of sample BPTT (P = T N_x exactly whitened samples), every step against final output.

Run: ``python benchmarks/bench_every_step.py``. Times are noisy on a shared machine; the ratios come from one run.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from lrnn_theory import Task, integrate  # noqa: E402
from lrnn_theory.validation import train_lrnn  # noqa: E402


def _best_of(func, repeats=3):
    best = np.inf
    for _ in range(repeats):
        began = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - began)
    return best


def theory():
    lams = np.linspace(0.3, 0.9, 20)
    print("1. integrate to t = 50, K = 20 modes (best of 3)")
    for T in (20, 200):
        times = {}
        for outputs in ("final", "every_step"):
            task = Task.inverse_exponential(delta=1.0, lam=lams, T=T, outputs=outputs)
            integrate(task, 1.0)  # compile once
            times[outputs] = _best_of(lambda task=task: integrate(task, 50.0))
        print(f"   T={T:4d}: final {times['final']:.3f} s, every step {times['every_step']:.3f} s, "
              f"ratio every/final {times['every_step'] / times['final']:.2f}")


def harness():
    print("2. 500 gradient steps, N_h = K = 8, T = 20 (best of 3)")
    for data in ("population", "samples"):
        times = {}
        for outputs in ("final", "every_step"):
            task = Task.inverse_exponential(delta=1.0, lam=np.linspace(0.3, 0.9, 8), T=20, outputs=outputs)
            times[outputs] = _best_of(lambda task=task: train_lrnn(task, lr=1e-3, steps=500, record_every=100,
                                                                   data=data, progress=False))
        print(f"   {data:10s}: final {times['final']:.3f} s, every step {times['every_step']:.3f} s, "
              f"ratio every/final {times['every_step'] / times['final']:.2f}")


if __name__ == "__main__":
    theory()
    harness()

"""Benchmarks of the validation harness (prints measured numbers; not a test).

1. Theory against simulation: an aligned task with K = N_h = 32 modes and T = 20. Wall time of ``integrate`` and of
   ``simulate`` (population data) producing the same trajectory (same recorded times, to t = 20), their largest
   difference, and the time ratio; at two learning rates, since the simulation's error falls like lr.
2. Training throughput: N_h = 256, T = 50, P = 1024 exactly whitened samples (N_x = N_y = 16, the most that P allows
   with P >= T N_x), gradient steps per second of the vectorized BPTT against a straightforward per-sample
   implementation (a Python loop over samples and steps, matrix-vector products), in the same run, after checking
   that both compute the same gradient.

3. Per-step cost at small N (what the tests and quick figures train): aligned networks on population data, N = K =
   2, 4, 8, 32 modes, recorded every step and every 100 steps, in CPU microseconds per step (best of three runs);
   and small random networks on samples (the sensory figures' case: N = 4, T = 4, 48 samples, ``mean_half``).

Run: ``python benchmarks/bench_harness.py`` (about a minute on 2 cores); ``python benchmarks/bench_harness.py small``
runs case 3 alone (a few seconds). BLAS runs single-threaded unless
``OPENBLAS_NUM_THREADS`` is set: on a shared 2-core machine a multi-threaded OpenBLAS made the small (32 x 32)
products of case 1 more than ten times slower, which measures the machine's load rather than the code.
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from lrnn_theory import Task, integrate  # noqa: E402
from lrnn_theory.validation import LRNN, simulate, train_lrnn  # noqa: E402
from lrnn_theory.validation.data import (  # noqa: E402
    random_orthonormal, sample_targets, task_correlations, whitened_inputs)


def per_sample_loss_and_grad(net: LRNN, X: np.ndarray, Y: np.ndarray):
    """The straightforward BPTT: one sample at a time, one step at a time, with matrix-vector products."""
    W_x, W_h, W_y = net.weights
    g_x, g_h, g_y = np.zeros_like(W_x), np.zeros_like(W_h), np.zeros_like(W_y)
    loss = 0.0
    P, T, _ = X.shape
    for p in range(P):
        hs = [np.zeros(W_h.shape[0])]
        for t in range(T):
            hs.append(W_h @ hs[-1] + W_x @ X[p, t])
        r = W_y @ hs[-1] - Y[p]
        loss += 0.5 * float(r @ r)
        g_y += np.outer(r, hs[-1])
        delta = W_y.T @ r
        for t in range(T - 1, -1, -1):
            g_x += np.outer(delta, X[p, t])
            g_h += np.outer(delta, hs[t])
            delta = W_h.T @ delta
    return loss, (g_x, g_h, g_y)


def bench_theory_vs_simulation():
    K, T, t_end = 32, 20, 20.0
    rng = np.random.default_rng(0)
    task = Task.from_family("inverse_exponential", T=T, delta=rng.uniform(0.5, 1.5, K).tolist(),
                            lam=rng.uniform(0.3, 0.9, K).tolist(), init={"a": 0.1, "b": 0.1, "c": 0.1})
    integrate(Task.constant(T=2), 1.0)  # compile the lambdified flow once (a per-process cost, reported apart)
    print(f"[1] aligned task, K = N_h = {K} modes, T = {T}, population data, to t = {t_end:g}, 201 recorded times")
    for lr in (0.01, 0.001):
        steps = int(round(t_end / lr))
        start = time.perf_counter()
        sim = simulate(task, hidden=K, lr=lr, steps=steps, record_every=steps // 200, progress=False)
        t_sim = time.perf_counter() - start
        start = time.perf_counter()
        theory = integrate(task, t_end, t_eval=sim.t)
        t_theory = time.perf_counter() - start
        err = max(float(np.max(np.abs(getattr(sim, q) - getattr(theory, q)))) for q in "abcu")
        print(f"    lr={lr:g} ({steps} steps): simulate {t_sim:.3f} s, integrate {t_theory * 1e3:.1f} ms "
              f"(LSODA, {theory.info['nfev']} rhs calls), ratio simulate/integrate = {t_sim / t_theory:.0f}x; "
              f"largest |a,b,c,u difference| = {err:.2e}")


def bench_throughput():
    N_h, T, P, N = 256, 50, 1024, 16
    rng = np.random.default_rng(1)
    task = Task.from_family("inverse_exponential", T=T, delta=rng.uniform(0.5, 1.5, N).tolist(),
                            lam=rng.uniform(0.3, 0.9, N).tolist())
    print(f"[2] training throughput, N_h = {N_h}, T = {T}, P = {P} exactly whitened samples, N_x = N_y = {N}")
    steps = 10
    result = train_lrnn(task, hidden=N_h, lr=1e-3, steps=steps, data="samples", n_samples=P, init="random",
                        record_every=steps, progress=False)
    # the harness's steps per second include its loss, divergence checks and the two recorded read-outs
    vectorized = result.info["steps_per_second"]

    U, V = random_orthonormal(rng, N, N), random_orthonormal(rng, N, N)
    X = whitened_inputs(rng, P, T, N)
    Y = sample_targets(X, task_correlations(task.singular_values, U, V))
    net = result.network
    start = time.perf_counter()
    loss_v, grads_v = net.loss_and_grad_samples(X, Y)
    t_grad = time.perf_counter() - start
    start = time.perf_counter()
    loss_n, grads_n = per_sample_loss_and_grad(net, X, Y)
    t_naive = time.perf_counter() - start  # one gradient = one full-batch step (the update itself is negligible)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(grads_v, grads_n))
    scale = max(float(np.max(np.abs(g))) for g in grads_v)
    print(f"    vectorized BPTT (train_lrnn, {steps} steps): {vectorized:.2f} steps/s "
          f"(one gradient alone: {t_grad * 1e3:.0f} ms)")
    print(f"    per-sample loop:                     {1 / t_naive:.3f} steps/s ({t_naive:.1f} s per step)")
    print(f"    ratio vectorized/per-sample = {vectorized * t_naive:.0f}x; gradients agree to {diff:.1e} "
          f"(largest entry {scale:.2g}), losses {loss_v:.6g} vs {loss_n:.6g}")


def bench_small_steps():
    print("[3] CPU per training step at small N (aligned init, population data, sum_half), best of 3 runs")
    for K, T, steps in ((2, 5, 4000), (4, 10, 3000), (8, 10, 2000), (32, 20, 500)):
        task = Task.from_family("inverse_exponential", T=T, delta=np.linspace(0.5, 1.5, K).tolist(),
                                lam=np.linspace(0.3, 0.9, K).tolist(), init={"a": 0.1, "b": 0.1, "c": 0.1})
        row = []
        for every in (1, 100):
            best = np.inf
            for _ in range(3):
                start = time.process_time()
                train_lrnn(task, lr=0.01, steps=steps, record_every=every, progress=False)
                best = min(best, time.process_time() - start)
            row.append(f"record_every={every}: {best / steps * 1e6:6.1f} us/step")
        print(f"    N = K = {K:2d}, T = {T:2d}: " + ", ".join(row))
    rng = np.random.default_rng(0)
    X = rng.normal(0.5, 0.2, (48, 4, 4))
    Y = X.sum(axis=1) / 4
    best = np.inf
    for _ in range(3):
        start = time.process_time()
        train_lrnn(None, X=X, Y=Y, hidden=4, init="random", loss="mean_half", lr=0.1, steps=4000, record_every=100,
                   progress=False)
        best = min(best, time.process_time() - start)
    print(f"    samples, random init, N = 4, T = 4, P = 48, mean_half, record_every=100: "
          f"{best / 4000 * 1e6:6.1f} us/step")


if __name__ == "__main__":
    import sys

    print(f"BLAS threads: OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if sys.argv[1:] != ["small"]:
        bench_theory_vs_simulation()
        bench_throughput()
    bench_small_steps()

"""Benchmarks of the theory engine (issue 2). Run: ``python benchmarks/bench_flow.py [--quick]``.

(a) compiled right-hand side (lambdified derivation + task sums) against a hand-written vectorized numpy right-hand
    side of the same equations, K = 100, T = 50;
(b) derive + compile time and one evaluation for T = 10, 100, 1,000, 10,000;
(c) integration wall time and right-hand-side calls, K = 100, T = 50, from a = b = c = 0.1 until the energy stops
    changing, for LSODA (the default), BDF and RK45 in the same run.

All timings are measured side by side in this one process; the machine is noisy, so each uses the best of several
repeats.
"""
import argparse
import time

import numpy as np

from lrnn_theory import Task, compile_flow, integrate
from lrnn_theory.derivations import mode_flow
from lrnn_theory.compiled import flow_functions


def best_time(func, repeats=5, number=1):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            func()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def handwritten_rates(s, tau, running_product=False):
    """Hand-written vectorized numpy right-hand side of eqs. (5)-(7), from the residuals r_i.

    ``running_product=False`` is the direct transcription (np.power); ``True`` builds the powers of b by a
    running product, as a careful numpy programmer would.
    """
    K, T = s.shape
    k = np.arange(T - 1, -1, -1, dtype=float)
    k_minus_1 = np.maximum(k - 1, 0)
    s_rev = s[:, ::-1]  # column k multiplies b^k
    k_rev = k[::-1]

    def rates_direct(t, y):
        a, b, c = y[0::3], y[1::3], y[2::3]
        bk = b[:, None] ** k
        r = s - (a * c)[:, None] * bk
        g = np.sum(bk * r, axis=1)
        gb = np.sum(k * b[:, None] ** k_minus_1 * r, axis=1)
        out = np.empty_like(y)
        out[0::3], out[1::3], out[2::3] = c * g, a * c * gb, a * g
        return out / tau

    def rates_running_product(t, y):
        a, b, c = y[0::3], y[1::3], y[2::3]
        P = np.empty((K, T))
        P[:, 0] = 1.0
        P[:, 1:] = b[:, None]
        np.cumprod(P, axis=1, out=P)  # P[:, k] = b^k
        r = s_rev - (a * c)[:, None] * P
        g = np.sum(P * r, axis=1)
        gb = np.sum(k_rev[1:] * P[:, :-1] * r[:, 1:], axis=1)
        out = np.empty_like(y)
        out[0::3], out[1::3], out[2::3] = c * g, a * c * gb, a * g
        return out / tau

    return rates_running_product if running_product else rates_direct


def bench_rhs(rng):
    task = Task(rng.uniform(0, 1, (100, 50)), init={"a": rng.uniform(0, 1, 100), "b": rng.uniform(-0.9, 0.9, 100),
                                                     "c": rng.uniform(0, 1, 100)})
    flow = compile_flow(task)
    hand = handwritten_rates(task.singular_values, task.tau)
    hand_fast = handwritten_rates(task.singular_values, task.tau, running_product=True)
    y = flow.initial_state()
    assert np.allclose(flow.rates(0, y), hand(0, y), rtol=1e-10, atol=1e-12)
    assert np.allclose(flow.rates(0, y), hand_fast(0, y), rtol=1e-10, atol=1e-12)
    t_compiled = best_time(lambda: flow.rates(0, y), number=500)
    t_hand = best_time(lambda: hand(0, y), number=500)
    t_fast = best_time(lambda: hand_fast(0, y), number=500)
    print("(a) right-hand side, K=100, T=50")
    print(f"    compiled (lambdify + task sums):         {t_compiled * 1e6:8.1f} us/call")
    print(f"    hand-written numpy, np.power:            {t_hand * 1e6:8.1f} us/call")
    print(f"    hand-written numpy, running product:     {t_fast * 1e6:8.1f} us/call")
    print(f"    ratio compiled / hand-written (power):   {t_compiled / t_hand:8.2f}  (goal <= 1)")
    print(f"    ratio compiled / hand-written (product): {t_compiled / t_fast:8.2f}  (goal <= 1)")


def bench_derive(Ts):
    print("(b) derive + compile and one evaluation (K=1), by trajectory length T")
    print(f"    {'T':>6} {'derive+compile s':>17} {'one evaluation us':>18}")
    for T in Ts:
        task = Task.from_family("inverse_exponential", T=T, delta=1.0, lam=0.9, init={"b": 0.5})

        def derive_and_compile():
            flow_functions.cache_clear()
            mode_flow.derive_mode_flow(task)
            return compile_flow(task)

        t_derive = best_time(derive_and_compile, repeats=3)
        flow = derive_and_compile()
        y = flow.initial_state()
        t_eval = best_time(lambda: flow.rates(0, y), number=200)
        print(f"    {T:>6} {t_derive:>17.3f} {t_eval * 1e6:>18.1f}")


def bench_integrate(rng, methods):
    """The first method runs until every rate is below 1e-8 (the energy has stopped changing); the others then
    integrate to the same final time, with no convergence event, so that their costs compare like for like."""
    task = Task(rng.uniform(0, 1, (100, 50)))
    print("(c) integration to convergence (every |d theta/dt| < 1e-8), K=100, T=50, a=b=c=0.1")
    print(f"    {'method':>7} {'wall s':>8} {'rhs calls':>10} {'jac calls':>10} {'t reached':>10}")
    results = {}
    t_converged = None
    for method in methods:
        start = time.perf_counter()
        if t_converged is None:
            traj = integrate(task, 1e4, n_points=2, method=method, converged_tol=1e-8)
            t_converged = traj.t[-1]
        else:
            traj = integrate(task, t_converged, n_points=2, method=method)
        wall = time.perf_counter() - start
        results[method] = (wall, traj)
        print(f"    {method:>7} {wall:>8.2f} {traj.info['nfev']:>10} {traj.info['njev']:>10} {traj.t[-1]:>10.2f}")
    ref = results[methods[0]][1]
    for method in methods[1:]:
        wall, traj = results[method]
        diff = max(np.max(np.abs(traj.b[-1] - ref.b[-1])), np.max(np.abs(traj.u[-1] - ref.u[-1])))
        print(f"    {method} / {methods[0]} wall-time ratio: {wall / results[methods[0]][0]:.1f}; "
              f"largest difference of final b, u: {diff:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip T = 10,000 and RK45")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    bench_rhs(rng)
    bench_derive([10, 100, 1000] if args.quick else [10, 100, 1000, 10_000])
    bench_integrate(rng, ["LSODA", "BDF"] if args.quick else ["LSODA", "BDF", "RK45"])


if __name__ == "__main__":
    main()

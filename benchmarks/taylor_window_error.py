"""Windowed Taylor approximation of b(t) with u frozen (paper App. D): error against the ODE vs order and window.

Prints, for the three Fig. 2 (right) profiles (constant, inverse-exponential 0.7, exponential 0.7; T = 6, u frozen at
1, b(0) = 0.1, tau = 1), the largest |b_taylor - b_ode| over t in [0, T_END] (all three modes), where b_ode is
scipy's DOP853 at rtol 1e-12, and the wall time of each Taylor run. "diverged" means the series left its radius of
convergence (window too large for the local time scale |g'(b)|^-1 ~ 1/55 near b = 1 for the constant profile).

Run: python benchmarks/taylor_window_error.py [--t-end 3] [--orders 1 2 3 4 5 6 8 10] [--windows 0.05 0.02 ...]
"""
import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp

from lrnn_theory import DivergenceError, Task
from lrnn_theory.frozen import FlowFieldPolynomial, integrate_recurrent_taylor


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--t-end", type=float, default=3.0)
    parser.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8, 10])
    parser.add_argument("--windows", type=float, nargs="+", default=[0.1, 0.05, 0.02, 0.01, 0.005, 0.0025])
    args = parser.parse_args(argv)

    profiles = [Task.constant(1.0, T=6), Task.inverse_exponential(1.0, 0.7, T=6), Task.exponential(1.0, 0.7, T=6)]
    task = Task(np.vstack([p.singular_values for p in profiles]), init={"a": 1.0, "b": 0.1, "c": 1.0})
    t = np.linspace(0.0, args.t_end, 301)
    field = FlowFieldPolynomial(task.singular_values, np.ones(task.K))
    ref = solve_ivp(lambda _, b: field(b) / task.tau, (0, args.t_end), task.init.b, t_eval=t, rtol=1e-12,
                    atol=1e-14, method="DOP853").y.T
    integrate_recurrent_taylor(task, t[:2], window=0.1, order=max(args.orders))  # compile outside the timings

    print(f"max |b_taylor - b_ode| over t in [0, {args.t_end:g}] (3 profiles, T=6, u=1, b0=0.1); "
          f"wall time per run in ms")
    print("order " + "".join(f"{'window ' + format(w, 'g'):>22}" for w in args.windows))
    for order in args.orders:
        cells = []
        for window in args.windows:
            start = time.perf_counter()
            try:
                approx = integrate_recurrent_taylor(task, t, window=window, order=order).b
                err = f"{np.max(np.abs(approx - ref)):.2e}"
            except DivergenceError:
                err = "diverged"
            ms = 1e3 * (time.perf_counter() - start)
            cells.append(f"{err:>12} ({ms:6.1f})")
        print(f"{order:5d} " + "".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()

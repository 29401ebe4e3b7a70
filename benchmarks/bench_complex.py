"""Benchmark of complex (rotational) tasks against the real engine (issue 8). Run:
``python benchmarks/bench_complex.py [--quick]``.

K = 100 modes, T = 50 steps, integrated with the default solver (LSODA, analytic banded Jacobian: 3x3 blocks per mode
for the real task, 6x6 for the complex one) from a = b = c = 0.1 to t = 30:

* real: inverse-exponential, delta in [0.5, 1.5], lambda in [0.5, 0.95];
* complex: the same radii with phases, delta_phase in [-pi/4, pi/4] and lambda_phase in [-pi/3, pi/3].

Also the cost of one right-hand side and one Jacobian evaluation. All timings are side by side in this one process,
best of several repeats; the machine is shared, so the numbers are noisy. The goal is a complex/real ratio below 3.
"""
import argparse

import numpy as np
from bench_flow import best_time  # same directory: run as a script

from lrnn_theory import Task, compile_flow, integrate


def tasks(K=100, T=50):
    rng = np.random.default_rng(0)
    delta, lam = rng.uniform(0.5, 1.5, K), rng.uniform(0.5, 0.95, K)
    init = {"a": 0.1, "b": 0.1, "c": 0.1}
    real = Task.from_family("inverse_exponential", T=T, delta=delta, lam=lam, init=init, name="real")
    rotational = Task.from_family("inverse_exponential", T=T, delta=delta, lam=lam, init=init, name="complex",
                                  delta_phase=rng.uniform(-np.pi / 4, np.pi / 4, K),
                                  lambda_phase=rng.uniform(-np.pi / 3, np.pi / 3, K))
    return real, rotational


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    real, rotational = tasks()
    print(f"K={real.K}, T={real.T}, t_end=30, LSODA (default), best of {repeats}")
    rows = {}
    for task in (real, rotational):
        flow = compile_flow(task)
        y = flow.initial_state()
        rhs = best_time(lambda: flow.rates(0.0, y), repeats, 50)
        jac = best_time(lambda: flow.jacobian_banded(0.0, y), repeats, 20)
        traj = integrate(task, 30.0, n_points=31)
        wall = best_time(lambda: integrate(task, 30.0, n_points=31), repeats)
        rows[task.name] = (rhs, jac, wall, traj.info["nfev"], traj.info["njev"], float(traj.total_energy[-1]))
        print(f"{task.name:>8}: rhs {rhs * 1e6:8.1f} us, jacobian {jac * 1e6:8.1f} us, "
              f"integration {wall * 1e3:8.1f} ms "
              f"({traj.info['nfev']} rhs, {traj.info['njev']} jac calls), final energy {rows[task.name][5]:.3g}")
    r, c = rows["real"], rows["complex"]
    print(f"ratio complex/real: rhs {c[0] / r[0]:.2f}x, jacobian {c[1] / r[1]:.2f}x, integration {c[2] / r[2]:.2f}x "
          f"(goal < 3x)")


if __name__ == "__main__":
    main()

"""Speed where users wait (issue 25, items 1, 3 and 5 in part), measured side by side in one run.

(a) Output points: ``solve_blocks`` at K = 100, T = 50 to t = 200 with 2, 201 and 2001 output times, with the dense
    output as committed before (one pass per output time crossed, reproduced here as ``per_time_pass``) and as now
    (every output time crossed in a step in one evaluation); the largest difference of the two (0: the steps do not
    depend on the output times). ``integrate`` is shown too: beyond the solver it computes the energy at every
    output time (``mode_energy``).
(b) Runaway against converging: the Dirac task's recurrent branch (beta > kappa, T = 6, K = 2, t_end = 1e7; |b|^5
    reaches 1e8 at t = 1.57e5), reported before (the 20,000-step cap of the batched solver, then the fallback BDF)
    and now (the crossing predicted from the growth law), BDF on its own, and a converging run of the same size;
    the early-importance task (lambda = 1.2, T = 50, b0 = 1.3) that the old singularity test of W sent to the cap
    as well. "Before" is today's solver with the two old behaviours put back (``old_inverse_rows_3x3``, no growth
    watch), so both columns run on the same machine in the same process.
(c) ``lrnn demo`` start-up by phase, in fresh interpreters, before (lambdify's namespace from ``modules="numpy"``,
    sympy's pretty printer importing ``sympy.physics.units``) and now.

Run: ``python benchmarks/bench_speed.py [--quick]`` (``--quick``: skip the slow "before" runs of (b)). The machine is
shared and noisy: timings are the best of a few repeats where cheap; read the ratios.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

import numpy as np

from lrnn_theory import DivergenceError, Task, compile_flow, integrate
from lrnn_theory import solvers
from lrnn_theory.solvers import _hermite, solve_blocks

from bench_batched import timed  # benchmarks run as scripts from this folder


@contextlib.contextmanager
def patched(obj, **values):
    saved = {k: getattr(obj, k) for k in values}
    for k, v in values.items():
        setattr(obj, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(obj, k, v)


# ---- the committed behaviours, for the "before" columns -----------------------------------------------------------
def per_time_pass(out, t_eval, run, accepted, hs, t_new, y_new, f_new):
    """Dense output before issue 25: one Python pass per output time crossed."""
    n_out = t_eval.size
    nx = run.nx
    while True:
        pending = accepted & (nx < n_out)
        pending[pending] &= t_eval[nx[pending]] <= t_new[pending]
        rows = np.flatnonzero(pending)
        if rows.size == 0:
            break
        theta = (t_eval[nx[rows]] - run.t[rows]) / hs[rows]
        out[nx[rows], run.idx[rows]] = _hermite(theta, hs[rows], run.y[:, rows], run.f[:, rows], y_new[:, rows],
                                                f_new[:, rows]).T
        nx[rows] += 1


def old_inverse_rows_3x3(W):
    """3 x 3 inverses before issue 25: singular whenever |det| < 1e3 eps * Hadamard's bound."""
    cof, det, hadamard = solvers.adjugate_rows_3x3(W)
    singular = ~(np.abs(det) > 1e3 * np.finfo(float).eps * hadamard) | ~np.isfinite(det)
    cof /= np.where(singular, 1.0, det)
    if singular.any():
        cof[:, :, singular] = np.eye(3)[:, :, None]
    return cof, singular


def before():
    return patched(solvers, _inverse_rows_3x3=old_inverse_rows_3x3, GROWTH_WATCH_STEPS=10 ** 9)


# ---- (a) output points --------------------------------------------------------------------------------------------
def bench_output_points(repeats):
    task = Task(np.random.default_rng(0).uniform(0, 1, (100, 50)))
    flow = compile_flow(task)
    Y0 = flow.initial_state().reshape(task.K, 3)
    integrate(task, 1.0)  # compile once (not timed)
    rows = []
    for n in (2, 201, 2001):
        t_eval = np.linspace(0.0, 200.0, n)
        with patched(solvers, _interpolate_outputs=per_time_pass):
            t_old, old = timed(lambda: solve_blocks(flow, Y0, 200.0, t_eval, 1e-8, 1e-10), repeats)
        t_new, new = timed(lambda: solve_blocks(flow, Y0, 200.0, t_eval, 1e-8, 1e-10), repeats)
        t_int, _ = timed(lambda: integrate(task, 200.0, n_points=n), repeats)
        rows.append((n, t_old, t_new, t_int, float(np.max(np.abs(new.Y - old.Y)))))
    base_old, base_new, base_int = rows[0][1:4]
    print("(a) output points: solve_blocks at K=100, T=50 to t=200 (ratio: to 2 points of the same column)")
    print(f"    {'points':>6} {'per-time pass s':>16} {'ratio':>6} {'one pass s':>11} {'ratio':>6} "
          f"{'integrate s':>12} {'ratio':>6} {'max |diff|':>10}")
    for n, t_old, t_new, t_int, diff in rows:
        print(f"    {n:>6} {t_old:>16.3f} {t_old / base_old:>6.2f} {t_new:>11.3f} {t_new / base_new:>6.2f} "
              f"{t_int:>12.3f} {t_int / base_int:>6.2f} {diff:>10.1e}")


# ---- (b) runaway against converging -------------------------------------------------------------------------------
def report(task, t_end, **kw):
    """(wall s, outcome, steps) of one ``integrate``."""
    start = time.perf_counter()
    try:
        traj = integrate(task, t_end, n_points=2, **kw)
        outcome = (f"reached t={traj.t[-1]:g}" + (" after the fallback" if "attempts" in traj.info else "")
                   + f", b={traj.b[-1, -1]:.6g}")
        steps = traj.info.get("steps_max", "-")
    except DivergenceError as err:
        outcome, steps = f"diverged: mode {err.mode}, t={err.time:.7g}", "-"
    return time.perf_counter() - start, outcome, steps


def bench_runaway(quick):
    init = {"a": 0.5, "b": [0.1, 1.2], "c": 0.5}
    runaway = Task.dirac(beta=[0.3, 2.0], kappa=0.5, T=6, init=init)
    converging = Task.dirac(beta=[0.3, 0.45], kappa=0.5, T=6, init=init)
    early = Task.inverse_exponential(lam=1.2, T=50, init={"b": 1.3})
    integrate(runaway, 1.0)  # compile once (not timed)
    rows = []
    if not quick:
        with before():
            rows.append(("runaway, before (cap, then BDF)", *report(runaway, 1e7)))
    rows.append(("runaway, now (growth law)", *report(runaway, 1e7)))
    rows.append(("runaway, BDF alone", *report(runaway, 1e7, method="BDF")))
    rows.append(("converging, same size", *report(converging, 1e7)))
    if not quick:
        with before():
            rows.append(("early importance T=50, before", *report(early, 1e4)))
    rows.append(("early importance T=50, now", *report(early, 1e4)))
    conv = next(r[1] for r in rows if r[0].startswith("converging"))
    print("\n(b) runaway against converging (Dirac T=6, K=2, t_end=1e7; crossing of |b|^5 = 1e8 at t=157005.10 by "
          "Radau at rtol 1e-12)")
    print(f"    {'run':<34} {'wall s':>7} {'/ conv':>7} {'steps':>6}  outcome")
    for name, wall, outcome, steps in rows:
        print(f"    {name:<34} {wall:>7.2f} {wall / conv:>7.1f} {steps!s:>6}  {outcome}")


# ---- (c) demo start-up by phase -----------------------------------------------------------------------------------
PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import lrnn_theory.cli as cli
t1 = time.perf_counter()
import lrnn_theory.flow as flow, lrnn_theory.compiled as compiled
t2 = time.perf_counter()
import lrnn_theory.cli.reports as reports, lrnn_theory.cli.demo as demo
t3 = time.perf_counter()
if sys.argv[1] == "before":
    import sympy
    compiled.NUMPY = "numpy"
    reports._pretty = sympy.pretty
phase = {"import lrnn_theory.cli": t1 - t0, "import flow (sympy, derivations)": t2 - t1,
         "import reports": t3 - t2}
def timing(name, func):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            phase[name] = phase.get(name, 0.0) + time.perf_counter() - start
    return wrapper
reports.flow_report = timing("derive and print (flow_report)", reports.flow_report)
flow.integrate = timing("compile and integrate", flow.integrate)
demo.write_outputs = timing("plot and write (matplotlib)", demo.write_outputs)
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):
    cli.main(["demo", "--out", sys.argv[2]])
phase["total in process"] = time.perf_counter() - t0
print(json.dumps(phase))
"""


def demo_phases(variant, out_dir, repeats):
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", PHASES, variant, out_dir], capture_output=True, text=True,
                             check=True, env=dict(os.environ, COLUMNS="120"))
        phase = json.loads(res.stdout.strip().splitlines()[-1])
        phase["wall (fresh interpreter)"] = time.perf_counter() - start
        if best is None or phase["wall (fresh interpreter)"] < best["wall (fresh interpreter)"]:
            best = phase
    return best


def bench_demo(repeats):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        old = demo_phases("before", os.path.join(tmp, "before"), repeats)
        new = demo_phases("now", os.path.join(tmp, "now"), repeats)
        same = all(open(os.path.join(tmp, "before", f), "rb").read() == open(os.path.join(tmp, "now", f), "rb").read()
                   for f in ("demo.csv", "demo.png"))
    print(f"\n(c) lrnn demo start-up by phase (best of {repeats} fresh interpreters; outputs identical: {same})")
    print(f"    {'phase':<36} {'before s':>9} {'now s':>7} {'saved s':>8}")
    for name in old:
        print(f"    {name:<36} {old[name]:>9.3f} {new[name]:>7.3f} {old[name] - new[name]:>8.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the slow 'before' runs of (b)")
    args = parser.parse_args()
    bench_output_points(repeats=2)
    bench_runaway(args.quick)
    bench_demo(repeats=3)


if __name__ == "__main__":
    main()

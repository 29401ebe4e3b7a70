"""Speed where users wait (issue 25, items 1, 3 and 5 in part), measured side by side in one run.

(a) Output points: ``solve_blocks`` at K = 100, T = 50 to t = 200 with 2, 201 and 2001 output times, with the dense
    output as committed before (one pass per output time crossed: ``interpolate_outputs_per_time`` of
    tests/reference.py) and as now (every output time crossed in a step in one evaluation); the largest difference
    of the two (0: the steps do not depend on the output times). ``integrate`` is shown too: beyond the solver it
    computes the energy at every output time (``mode_energy``).
(b) Runaway against converging: the Dirac task's recurrent branch (beta > kappa, T = 6, K = 2, t_end = 1e7; |b|^5
    reaches 1e8 at t = 1.57e5), reported before (the 20,000-step cap of the batched solver, then the fallback BDF)
    and now (the crossing predicted from the growth law), BDF on its own, and a converging run of the same size;
    the early-importance task (lambda = 1.2, T = 50, b0 = 1.3) that the old singularity test of W sent to the cap
    as well. "Before" is today's solver with the two old behaviours put back (``old_inverse_rows_3x3``, no growth
    watch), so both columns run on the same machine in the same process.
(c) ``lrnn demo`` start-up by phase, in fresh interpreters, before (lambdify's namespace from ``modules="numpy"``,
    sympy's pretty printer importing ``sympy.physics.units``) and now.

(d) The solver's cost per iteration at small K (K = 1, 10, 100; T = 20, 50; to t = 20 at rtol 1e-8): the solver of
    commit ``BEFORE_COMMIT`` (read from git) on the compiled functions (``flow_functions``, lambdified; what
    ``rates_rows`` and ``jacobian_rows`` ran before the generated programs, ``CompiledFlow.ROW_PROGRAM_SIZE``
    = 0) against today's solver on the generated programs (``SumsProgram``), on the same task, and the two
    solutions' largest difference relative to the largest value (at K = 100, T = 50 both run the compiled
    functions: K T is above ``ROW_PROGRAM_SIZE``); also the bookkeeping alone (a linear system whose
    rates cost one numpy call). Then the rates and the Jacobian per call, compiled functions against programs. Both
    columns run today's Jacobian (cse over all nine entries, 34 -> 15 us at K = 32) and table of powers (one running
    product up to 64 modes): that gain is in both columns, not in the ratio.
(e) Theory and the exact discrete map against training at matched accuracy (issue 25): K = N = 32, T = 20, to
    t = 20, aligned population training. The learning rate is the largest on a halving grid from 1e-3 whose
    trajectory is within 1e-3 of the flow (max |a, b, c, u| difference at the recorded times, against a reference
    at rtol 1e-12); ``integrate`` runs at the loosest rtol of a grid whose error is within 1e-3; ``DiscreteGD`` at
    the training's learning rate (its error against the training is printed too). Training records 201 times; a
    short run also gives the cost of one step recorded at every step, with the singular values from SVDs (as
    before) and from the modes (the aligned read-out). The map's step is then shown against the previous per-step
    evaluation (rows + h * flow.rates_rows, what ``DiscreteGD.run`` did before ``GradientStep``), the two compared
    after the whole run, against the map of commit ``MAP_BEFORE_COMMIT`` (before its ring of states, logarithmic
    table of powers and allocation-free generated step), and the step split into its parts with their numpy calls
    and CPU time, now and at that commit side by side in one run: the floor of a step made of numpy calls at this K.
(f) Peak memory against K (T = 20, 201 output times, tracemalloc in a fresh interpreter per run): the solver
    alone (``solve_blocks``) and ``integrate`` (which adds the trajectory and its energy, ``mode_energy``).
(g) The runaways and the stiff explicit run whose tests (tests/test_runaway_speed.py, tests/test_solvers.py) count
    work instead of time, timed here in CPU seconds of this process, each against a reference of the same size: the
    s = 1e6 runaway (constant task, T = 3, c0 = 1e-26) to t = 20, diverging at the crossing predicted from its growth,
    against its mirror b0 = +1.409 that converges; the delta = 1e3 runaway to t = 500, plain RODAS4 stopped by the
    projection of its steps (``solvers._mark_hopeless``) then the balanced solver, against the balanced solver alone;
    ``lrnn integrate --t-end 50`` in process on the Dirac runaway (T = 4, beta = 3, kappa = 0.5) with its hint from
    the end state, against the hint restarted from t = 0 (as before) and the command without the hint
    (``suggest_t_end`` replaced); RK45 on ``Task.constant(1e6, T=4)`` to t = 50, stopped by the projection of its
    evaluations (``flow._ProjectedEvaluations``), against the default method. "Before" rows put the old behaviour
    back in this process (no balanced coordinates and no projection of steps, ``before_balanced``; no projection of
    evaluations); work: each solver run (batched: most steps of a mode; scipy: evaluations) and how it ended.

Sweep end points (issue 25.2) are benchmarked by ``benchmarks/bench_sweep.py``.

Run: ``python benchmarks/bench_speed.py [--quick] [--only d]`` (``--only``: those sections; ``--quick``: skip the
slow "before" runs of (b) and (g), K up to 1e4 in (f)). The machine is shared and noisy: timings are the best of a few
repeats where cheap, CPU time of this process where marked; read the ratios.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time

import numpy as np

from lrnn_theory import DivergenceError, IntegrationError, Task, compile_flow, integrate
from lrnn_theory import flow as flow_module
from lrnn_theory import native
from lrnn_theory import solvers
from lrnn_theory.compiled import map_step
from lrnn_theory.finite_lr import DiscreteGD
from lrnn_theory.flow_field import CompiledFlow
from lrnn_theory.cli import integrate as integrate_cli
from lrnn_theory.cli.runner import main as lrnn_main
from lrnn_theory.solvers import BatchedBalanced, solve_blocks

from bench_batched import timed  # benchmarks run as scripts from this folder

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))
from reference import interpolate_outputs_per_time  # noqa: E402  the "before" dense output, shared with the tests


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


@contextlib.contextmanager
def before_balanced():
    """No balanced coordinates in the fallback chain and no projection of a mode's remaining steps."""
    attempts = flow_module._attempts
    with patched(flow_module, _attempts=lambda *args, balanced=True: attempts(*args, balanced=False)), \
            patched(solvers, _mark_hopeless=lambda *args, **kwargs: None):
        yield


# ---- (a) output points --------------------------------------------------------------------------------------------
def bench_output_points(repeats):
    task = Task(np.random.default_rng(0).uniform(0, 1, (100, 50)))
    flow = compile_flow(task)
    Y0 = flow.initial_state().reshape(task.K, 3)
    integrate(task, 1.0)  # compile once (not timed)
    rows = []
    for n in (2, 201, 2001):
        t_eval = np.linspace(0.0, 200.0, n)
        with patched(solvers, _interpolate_outputs=interpolate_outputs_per_time):
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
    # a and c pinned to a curved manifold (a c ~ s / b^2, stiffness ~ s^2) while b grows like t^(1/3)
    huge = Task.from_family("constant", T=3, delta=1e6, init={"a": -0.2711, "b": -1.409, "c": 1.05e-26})
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
    if not quick:
        with before_balanced():
            rows.append(("s = 1e6 runaway to t=5, before", *report(huge, 5.0)))
    rows.append(("s = 1e6 runaway to t=5, now", *report(huge, 5.0)))
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



# ---- (d) the solver's cost per iteration ------------------------------------------------------------------------
#: The solver before issue 25's per-iteration work (``git show BEFORE_COMMIT:lrnn_theory/solvers.py``).
BEFORE_COMMIT = "8292437"


def committed_module(commit: str, name: str, rewrite=()):
    """The module ``lrnn_theory.<name>`` of ``commit`` as a module of the package, ``lrnn_theory._<name>_before``
    (None without git); ``rewrite``: (old, new) replacements of its source (e.g. to import other committed modules)."""
    import importlib.util
    import tempfile

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run(["git", "show", f"{commit}:lrnn_theory/{name}.py"], cwd=root, capture_output=True,
                         text=True)
    if res.returncode != 0:
        return None
    source = res.stdout
    for old, new in rewrite:
        source = source.replace(old, new)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(f"lrnn_theory._{name}_before", f.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    os.unlink(f.name)
    return module


def committed_solvers():
    """The solvers module of ``BEFORE_COMMIT`` as a module of the package (None without git)."""
    return committed_module(BEFORE_COMMIT, "solvers")


def cpu_timed(func, repeats=1):
    """(best CPU seconds of this process, result): steadier than wall time on a shared machine."""
    return timed(func, repeats, clock=time.process_time)


class LinearModes:
    """dy/dt = A y per mode, A 3 x 3: rates of one numpy call, so that a solver run measures the solver alone."""

    def __init__(self, K):
        A = -np.eye(3)[:, :, None] * np.random.default_rng(0).uniform(0.5, 50, (1, 1, K))
        A[0, 1] = 0.3
        self.A = A

    def rates_rows(self, t, Yr, modes):
        return np.einsum("ijk,jk->ik", self.A[:, :, modes], Yr)

    def jacobian_rows(self, t, Yr, modes):
        return self.A[:, :, modes]


def bench_iteration_cost(repeats):
    before = committed_solvers()
    if before is None:
        print("\n(d) skipped: git show of the committed solver failed")
        return
    t_eval = np.linspace(0.0, 20.0, 201)
    print(f"\n(d) solver cost per iteration (CPU us, best of {repeats}; before = commit {BEFORE_COMMIT}), to t=20, "
          f"rtol 1e-8, 201 output times")
    print(f"    {'system':<24} {'K':>4} {'T':>3} {'iterations':>10} {'before us':>10} {'now us':>8} {'ratio':>6} "
          f"{'max |diff|':>10}")
    per_call = []
    for K in (1, 10, 100):
        for T in (20, 50, None):
            if T is None:
                system, Y0, label = LinearModes(K), np.ones((K, 3)), "bookkeeping (linear)"
            else:
                rng = np.random.default_rng(0)
                task = Task.from_family("inverse_exponential", T=T, delta=rng.uniform(0.5, 1.5, K),
                                        lam=rng.uniform(0.3, 0.9, K), init={"a": 0.1, "b": 0.1, "c": 0.1})
                system = compile_flow(task)
                Y0, label = system.initial_state().reshape(K, 3), "mode flow"
            cost = {}
            now = ("now", solvers, CompiledFlow.ROW_PROGRAM_SIZE)
            for name, module, programs in (("before", before, 0), now) * repeats:  # interleaved
                with patched(CompiledFlow, ROW_PROGRAM_SIZE=programs):
                    if T is not None:
                        system = compile_flow(task)
                    wall, sol = cpu_timed(lambda: module.solve_blocks(system, Y0, 20.0, t_eval, 1e-8, 1e-10))
                cost[name] = min(cost.get(name, np.inf), wall / sol.njev)
                cost[name + " Y"] = sol.Y
            diff = float(np.max(np.abs(cost["before Y"] - cost["now Y"])) / np.max(np.abs(cost["now Y"])))
            print(f"    {label:<24} {K:>4} {T or '-'!s:>3} {sol.njev:>10} {cost['before'] * 1e6:>10.0f} "
                  f"{cost['now'] * 1e6:>8.0f} {cost['before'] / cost['now']:>6.2f} {diff:>10.1e}")
            if T is not None:
                per_call.append((K, T, row_call_costs(task, repeats)))
    print(f"    per call (CPU us): {'K':>4} {'T':>3} {'rates compiled':>15} {'programs':>9} {'ratio':>6} "
          f"{'Jacobian compiled':>18} {'programs':>9} {'ratio':>6}")
    for K, T, c in per_call:
        print(f"    {'':<19}{K:>4} {T:>3} {c['rates_rows', 0] * 1e6:>15.1f} {c['rates_rows', 1] * 1e6:>9.1f} "
              f"{c['rates_rows', 0] / c['rates_rows', 1]:>6.2f} {c['jacobian_rows', 0] * 1e6:>18.1f} "
              f"{c['jacobian_rows', 1] * 1e6:>9.1f} {c['jacobian_rows', 0] / c['jacobian_rows', 1]:>6.2f}")


def row_call_costs(task, repeats, count=2000) -> dict:
    """CPU seconds per call of ``rates_rows`` and ``jacobian_rows`` at the initial state: (name, 0) with the
    compiled functions, (name, 1) with the generated programs (interleaved, best of ``repeats``)."""
    costs = {}
    for programs in (0, 1) * repeats:
        with patched(CompiledFlow, ROW_PROGRAM_SIZE=10 ** 9 if programs else 0):
            flow = compile_flow(task)
            Yr = np.ascontiguousarray(flow.initial_state().reshape(task.K, -1).T)
            modes = np.arange(task.K)
            for name in ("rates_rows", "jacobian_rows"):
                call = getattr(flow, name)
                call(0.0, Yr, modes)
                wall, _ = cpu_timed(lambda: [call(0.0, Yr, modes) for _ in range(count)])
                costs[name, programs] = min(costs.get((name, programs), np.inf), wall / count)
    return costs


# ---- (e) theory and discrete map against training at matched accuracy --------------------------------------------
def matched_task():
    rng = np.random.default_rng(0)
    K = 32
    return Task.from_family("inverse_exponential", T=20, delta=rng.uniform(0.5, 1.5, K).tolist(),
                            lam=rng.uniform(0.3, 0.9, K).tolist(), init={"a": 0.1, "b": 0.1, "c": 0.1})


def trajectory_error(traj, ref):
    return max(float(np.max(np.abs(getattr(traj, q) - getattr(ref, q)))) for q in "abcu")


def bench_matched_accuracy():
    from lrnn_theory.validation import train_lrnn
    from lrnn_theory.validation.recorders import Recording

    task, t_end, target = matched_task(), 20.0, 1e-3
    integrate(task, 1.0)  # compile once (not timed)

    def reference(times):
        return integrate(task, t_end, t_eval=times, rtol=1e-12, atol=1e-14)

    # the learning rate: the largest on a halving grid whose run is within the target (first order in lr); the run
    # that passes is the one timed
    lr = 1e-3
    while True:
        steps = int(round(t_end / lr))
        every = steps // 200
        t_train, training = cpu_timed(lambda: train_lrnn(task, lr=lr, steps=steps,
                                                         recording=Recording(every=every, progress=False)))
        sim = training.trajectory
        exact = reference(sim.t)
        err_train = trajectory_error(sim, exact)
        if err_train <= target:
            break
        lr /= 2
    # the theory: the loosest tolerance of a grid whose error is within the target
    for rtol in (1e-2, 4e-3, 2e-3, 1e-3, 1e-4, 1e-6):
        theory = integrate(task, t_end, t_eval=sim.t, rtol=rtol, atol=rtol * 1e-2)
        err_theory = trajectory_error(theory, exact)
        if err_theory <= target:
            break
    t_theory, _ = cpu_timed(lambda: integrate(task, t_end, t_eval=sim.t, rtol=rtol, atol=rtol * 1e-2), 5)
    gd = DiscreteGD(lr=lr, backend="numpy")
    t_map, discrete = cpu_timed(lambda: integrate(task, t_end, t_eval=sim.t, method=gd), 2)
    err_map = trajectory_error(discrete, exact)
    map_vs_training = trajectory_error(discrete, sim)
    compiled = compiled_map_run(task, t_end, sim, lr, discrete) if native.available() else None
    how = f"{steps} steps"
    # one training step recorded at every step: singular values by SVD (before) and from the modes (now)
    per_step = {}
    for method in ("svd", "auto") * 2:
        wall, _ = cpu_timed(lambda: train_lrnn(task, lr=lr, steps=2000, recording=Recording(
            every=1, singular_values=method, progress=False)))
        per_step[method] = min(per_step.get(method, np.inf), wall / 2000)
    t_one, _ = cpu_timed(lambda: train_lrnn(task, lr=lr, steps=2000,
                                            recording=Recording(every=2000, progress=False)), 2)
    print(f"\n(e) theory and discrete map against training at matched accuracy (K = N = 32, T = 20, t = {t_end:g}, "
          f"error <= {target:g} against the flow; CPU s of this process)")
    print(f"    {'run':<52} {'CPU s':>8} {'error':>9} {'training / run':>14}")
    print(f"    {'training, lr=' + format(lr, 'g') + ' (' + how + ', 201 records)':<52} {t_train:>8.3f} "
          f"{err_train:>9.2e} {1.0:>14.0f}")
    print(f"    {'integrate, rtol=' + format(rtol, 'g'):<52} {t_theory:>8.4f} {err_theory:>9.2e} "
          f"{t_train / t_theory:>14.0f}")
    label = f"DiscreteGD(numpy) (exact map; vs training {map_vs_training:.1e})"
    print(f"    {label:<52} {t_map:>8.3f} {err_map:>9.2e} {t_train / t_map:>14.1f}")
    best_map = t_map
    if compiled is None:
        print("    DiscreteGD(backend='numba'): numba is not installed (pip install -e '.[fast]')")
    else:
        t_compiled, err_compiled, vs_numpy, t_load = compiled
        best_map = min(t_map, t_compiled)
        label = f"DiscreteGD(numba) (vs the numpy map {vs_numpy:.1e})"
        print(f"    {label:<52} {t_compiled:>8.3f} {err_compiled:>9.2e} {t_train / t_compiled:>14.1f}")
        load = t_load + numba_import_seconds()
        print(f"    the compiled map's first run in a process also loads it: {load:.2f} s CPU (numba's import and its "
              f"on-disk cache, or its compilation where the cache is cold); with the load the run is "
              f"{t_train / (t_compiled + load):.0f}x faster than training; backend='auto' takes "
              f"{DiscreteGD(lr=lr).backend_for(task, steps)} for this run")
    print(f"    goals: theory >= 1000x: {'met' if t_train / t_theory >= 1000 else 'NOT met'}; discrete map >= 50x "
          f"(per step, the compiled map once loaded): {'met' if t_train / best_map >= 50 else 'NOT met'}")
    map_step_cost(task, gd, steps, t_train)
    print(f"    one training step: {t_one / 2000 * 1e6:.0f} us recorded every 2000th step; at every step "
          f"{per_step['svd'] * 1e6:.0f} us with three SVDs, {per_step['auto'] * 1e6:.0f} us with the aligned "
          f"read-out ({per_step['svd'] / per_step['auto']:.2f}x)")


def compiled_map_run(task, t_end, sim, lr, numpy_run):
    """(CPU s of the compiled map's run once loaded, its error against the flow, its largest difference from the
    numpy map's run, CPU s its first run in this process adds: loading the compiled code from numba's disk cache, or
    compiling it when the cache is empty; numba's own import is timed apart, ``numba_import_seconds``)."""
    gd = DiscreteGD(lr=lr, backend="numba")
    t_first, _ = cpu_timed(lambda: integrate(task, t_end, t_eval=sim.t, method=gd))
    t_run, run = cpu_timed(lambda: integrate(task, t_end, t_eval=sim.t, method=gd), 2)
    exact = integrate(task, t_end, t_eval=sim.t, rtol=1e-12, atol=1e-14)
    return t_run, trajectory_error(run, exact), trajectory_error(run, numpy_run), t_first - t_run


def numba_import_seconds() -> float:
    """CPU seconds of ``import numba`` in a fresh interpreter."""
    probe = "import time; started = time.process_time(); import numba; print(time.process_time() - started)"
    return float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                timeout=120).stdout)


def previous_map_step(flow, h, rows, count):
    """The map as committed before its generated step: rows + h * the rates of the compiled functions (what
    ``flow.rates_rows`` ran then), one step at a time."""
    for _ in range(count):
        rows = rows + h * flow.layout.rates(rows, flow.sums)
    return rows


def numpy_calls(source: str) -> int:
    """Numpy calls of a generated step: its numpy.* calls and the binary operators of its expressions (the step as
    committed before ``MAP_BEFORE_COMMIT`` printed expressions, e.g. ``A_1 + B_1*x0``, inside its calls)."""
    body = source.replace("**", "^").splitlines()[1:]
    return sum(line.count("*") + line.count("+") + line.count(" - ") + line.count("^") + line.count("numpy.")
               for line in body)


#: The exact map before its ring of states, logarithmic table of powers and allocation-free generated step
#: (``git show MAP_BEFORE_COMMIT:lrnn_theory/flow_field.py``, with the ``compiled`` module of that commit).
MAP_BEFORE_COMMIT = "0d71108"


def committed_map():
    """``GradientStep`` of ``MAP_BEFORE_COMMIT`` (its flow_field module on its compiled module), or None."""
    compiled = committed_module(MAP_BEFORE_COMMIT, "compiled", [("from .derivations", "from lrnn_theory.derivations")])
    if compiled is None:
        return None
    relative = [("from .compiled import", "from lrnn_theory._compiled_before import"),
                ("from . import", "from lrnn_theory import"), ("from .", "from lrnn_theory.")]
    return committed_module(MAP_BEFORE_COMMIT, "flow_field", relative)


def map_step_cost(task, gd, steps, t_train, count=5000):
    """One step of the exact map against the previous per-step evaluation and against the map of
    ``MAP_BEFORE_COMMIT``, and what the step is made of: its parts before and after, side by side in one run (CPU time
    of this process, best of interleaved repeats), with their numpy calls (the floor of a step of numpy calls)."""
    flow = compile_flow(task)
    h = gd.time_step(task)
    rows = np.ascontiguousarray(flow.initial_state().reshape(task.K, -1).T)
    t_previous, _ = cpu_timed(lambda: previous_map_step(flow, h, rows, count), 2)
    stepper = flow.gradient_step(h)
    before_module = committed_map()
    before = None if before_module is None else before_module.compile_flow(task).gradient_step(h)
    t_step = t_before = np.inf
    for _ in range(3):  # interleaved: the machine's load changes both alike
        stepper.set_rows(rows)
        t_step = min(t_step, cpu_timed(lambda: stepper.advance(count))[0])
        if before is not None:
            before.set_rows(rows)
            t_before = min(t_before, cpu_timed(lambda: before.advance(count))[0])
    stepper.set_rows(rows)  # the whole run, against the previous evaluation (the same steps to rounding)
    stepper.advance(steps)
    previous = previous_map_step(flow, h, rows, steps)
    difference = float(np.max(np.abs(stepper.rows() - previous)) / np.max(np.abs(previous)))
    print(f"    one map step at K = {task.K}: {t_step / count * 1e6:.1f} us (previous per-step evaluation, rows + h * "
          f"flow.rates_rows: {t_previous / count * 1e6:.1f} us, {t_previous / t_step:.1f}x); training per step "
          f"{t_train / steps * 1e6:.0f} us, so 50x needs {t_train / steps / 50 * 1e6:.1f} us per map step; after "
          f"{steps} steps the two differ by {difference:.1e} of the largest value")
    if before is not None:
        before.set_rows(rows)
        before.advance(steps)
        change = float(np.max(np.abs(before.rows() - stepper.rows())) / np.max(np.abs(stepper.rows())))
        print(f"    the map of commit {MAP_BEFORE_COMMIT}: {t_before / count * 1e6:.1f} us per step "
              f"({t_before / t_step:.2f}x of now); after {steps} steps the two differ by {change:.1e}")
    generated = map_step(flow.layout.name)
    logarithmic = stepper.logarithmic  # the table: square, log, dot, exp; the sums: vecdot, constant terms
    calls_now = [4 if logarithmic else 1, 2 if logarithmic else 1,
                 sum(line.strip().startswith("numpy.") for line in generated.source.splitlines()), 1,
                 (4 + 5 * logarithmic) / stepper.ring_steps]
    calls_before = [1, 1, numpy_calls(before_module.map_step(flow.layout.name).source), 1, 2] if before else []
    a, c = stepper.state[0], stepper.state[2]
    out = np.empty_like(a)
    t_call, _ = cpu_timed(lambda: [np.multiply(a, c, out=out) for _ in range(count)], 3)
    print(f"    {'part of a step (now | before: the same part)':<48} {'calls':>5} {'CPU us':>7} {'| calls':>7} "
          f"{'CPU us':>7}")
    parts_before = list(before.parts().values()) if before else [None] * 5
    total = {"now": 0.0, "before": 0.0}
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for (name, part), calls, old, old_calls in zip(stepper.parts().items(), calls_now, parts_before,
                                                       calls_before or [0] * 5):
            per_step = stepper.ring_steps if "extremes" in name else 1  # the extremes: one ring's reductions
            runs = count // per_step
            cost = min(cpu_timed(lambda: [part() for _ in range(runs)])[0] for _ in range(3)) / (runs * per_step)
            old_cost = np.nan if old is None else min(cpu_timed(lambda: [old() for _ in range(count)])[0]
                                                      for _ in range(3)) / count
            total["now"] += cost
            total["before"] += old_cost
            label = name + (" (per step)" if "extremes" in name else "")
            print(f"    {label:<48} {calls:>5.3g} {cost * 1e6:>7.2f} {old_calls:>7} {old_cost * 1e6:>7.2f}")
    print(f"    {'sum of the parts':<48} {sum(calls_now):>5.3g} {total['now'] * 1e6:>7.2f} {sum(calls_before):>7} "
          f"{total['before'] * 1e6:>7.2f}")
    print(f"    floor of {sum(calls_now):.3g} calls at {t_call / count * 1e6:.2f} us per elementwise call of {task.K} "
          f"values: {sum(calls_now) * t_call / count * 1e6:.1f} us; the table (one exp over {stepper.monomials - 1} "
          f"powers of {task.K} modes) and the per-mode products of the task sums ({len(generated.slots)} sums "
          f"x {task.K} modes of {stepper.monomials} terms) cost several plain calls each")


# ---- (f) peak memory against K ------------------------------------------------------------------------------------
MEMORY = r"""
import sys, tracemalloc
import numpy as np
from lrnn_theory import Task, compile_flow, integrate
from lrnn_theory.cli import integrate as integrate_cli
from lrnn_theory.cli.runner import main as lrnn_main
from lrnn_theory.solvers import BatchedBalanced, solve_blocks
K, what = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
task = Task.from_family("inverse_exponential", T=20, delta=rng.uniform(0.5, 1.5, K), lam=rng.uniform(0.3, 0.9, K),
                        init={"a": 0.1, "b": 0.1, "c": 0.1})
integrate(Task.constant(T=2), 1.0)  # compiled functions (per process, not per run)
flow = compile_flow(task)
tracemalloc.start()
if what == "solver":
    solve_blocks(flow, flow.initial_state().reshape(K, 3), 20.0, np.linspace(0.0, 20.0, 201), 1e-8, 1e-10)
else:
    integrate(task, 20.0)
print(tracemalloc.get_traced_memory()[1])
"""


def bench_memory(quick):
    print("\n(f) peak memory against K (T = 20, to t = 20, 201 output times; tracemalloc, fresh interpreter each)")
    print(f"    {'K':>7} {'solver MB':>10} {'integrate MB':>13} {'ratio':>6}")
    for K in (100, 1000, 10_000) + (() if quick else (100_000,)):
        peak = {}
        for what in ("solver", "integrate"):
            res = subprocess.run([sys.executable, "-c", MEMORY, str(K), what], capture_output=True, text=True,
                                 check=True)
            peak[what] = int(res.stdout.strip().splitlines()[-1]) / 1e6
        print(f"    {K:>7} {peak['solver']:>10.1f} {peak['integrate']:>13.1f} "
              f"{peak['integrate'] / peak['solver']:>6.2f}")


# ---- (g) runaways and the stiff explicit run, timed where the tests count work ------------------------------------
@contextlib.contextmanager
def recorded_runs():
    """A list receiving (system or method, its work, how it ended) for every solver run from now on: a batched run's
    most steps of a mode, a scipy run's right-hand-side evaluations."""
    runs, batched, scipy = [], flow_module.solve_blocks, flow_module._integrate_scipy

    def recorded_batched(system, *args, **kw):
        sol = batched(system, *args, **kw)
        name = {"CompiledFlow": "plain", "BalancedModes": "balanced"}.get(type(system).__name__, type(system).__name__)
        runs.append((name, f"{int(sol.steps.max())}", "ok" if sol.failure is None else sol.failure.kind))
        return sol

    def recorded_scipy(flow, solver, *args, **kw):
        try:
            out = scipy(flow, solver, *args, **kw)
        except (IntegrationError, DivergenceError) as err:
            runs.append((solver.name, f"{flow.nfev} ev", "diverged" if isinstance(err, DivergenceError) else "failed"))
            raise
        runs.append((solver.name, f"{flow.nfev} ev", "ok"))
        return out

    with patched(flow_module, solve_blocks=recorded_batched, _integrate_scipy=recorded_scipy):
        yield runs


def cpu_work(func):
    """(CPU s of this process, outcome, work of its solver runs) of one ``func()``, which returns the outcome."""
    with recorded_runs() as runs:
        start = time.process_time()
        try:
            outcome = func()
        except DivergenceError as err:
            outcome = f"diverged: mode {err.mode}, t={err.time:.7g}"
        except IntegrationError as err:  # "... made N evaluations and reached only t=..., on course for ...: remedy"
            made = str(err).split(" and reached only ")[-1].split(": the flow")[0]
            outcome = "stopped at " + (made if "on course" in made else made + " (the cap)")
        cpu = time.process_time() - start
    return cpu, outcome, " + ".join(" ".join(run) for run in runs)


def integrated(task, t_end, **kw):
    traj = integrate(task, t_end, n_points=2, **kw)
    return (f"{traj.info['method']} to t={traj.t[-1]:g}" + (" after the fallback" if "attempts" in traj.info else "")
            + f", b={traj.b[-1, -1]:.7g}")


def cli_run(path, out):
    """``lrnn integrate PATH --t-end 50`` in process: its exit code and the hint ending its warning."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = lrnn_main(["integrate", path, "--t-end", "50", "--out", out])
    warning = buffer.getvalue().splitlines()[-1]  # "warning: ... still moving ...; HINT"
    hint = warning.split("; ", 1)[1] if "; " in warning else ""
    return f"exit {code}, " + (f"hint: {hint}" if hint.strip() else "no hint")


def bench_runaway_work(quick):
    import tempfile

    constant = {"a": -0.2711, "c": 1.05e-26}
    huge = Task.from_family("constant", T=3, delta=1e6, init={**constant, "b": -1.409})
    huge_mirror = Task.from_family("constant", T=3, delta=1e6, init={**constant, "b": 1.409})
    mid = Task.from_family("constant", T=3, delta=1e3, init={**constant, "b": -1.409})
    stiff = Task.constant(1e6, T=4)
    dirac = {"family": "dirac", "T": 4, "beta": 3, "kappa": 0.5}
    for task in (huge, Task.from_dict(dirac), stiff):
        integrate(task, 1e-3)  # compile once (not timed)
    restarted = integrate_cli.suggest_t_end

    def hint_from_zero(task, method, lr_correction, args, traj=None):  # before: the hint integrated again from t = 0
        return restarted(task, method, lr_correction, args, None)

    groups = []
    with tempfile.TemporaryDirectory() as tmp:
        path, out = os.path.join(tmp, "dirac.json"), os.path.join(tmp, "out.npz")
        with open(path, "w") as f:
            json.dump(dirac, f)
        rows = [("converging mirror b0=+1.409 (ref)", *cpu_work(lambda: integrated(huge_mirror, 20.0)))]
        if not quick:
            with before_balanced():
                rows.append(("before (cap, then scipy fallbacks)", *cpu_work(lambda: integrated(huge, 20.0))))
        rows.append(("now (crossing from the growth)", *cpu_work(lambda: integrated(huge, 20.0))))
        groups.append(("s = 1e6 runaway (constant, T=3, K=1) to t=20", rows))
        rows = [("balanced solver alone (ref)", *cpu_work(lambda: integrated(mid, 500.0, method=BatchedBalanced())))]
        if not quick:
            with before_balanced():
                rows.append(("before (cap, then scipy fallbacks)", *cpu_work(lambda: integrated(mid, 500.0))))
            with patched(solvers, _mark_hopeless=lambda *args, **kwargs: None):
                rows.append(("no projection (cap, then balanced)", *cpu_work(lambda: integrated(mid, 500.0))))
        rows.append(("now (projected, then balanced)", *cpu_work(lambda: integrated(mid, 500.0))))
        groups.append(("delta = 1e3 runaway (constant, T=3, K=1) to t=500", rows))
        with patched(integrate_cli, suggest_t_end=lambda *args, **kwargs: ""):
            rows = [("without the hint (ref)", *cpu_work(lambda: cli_run(path, out)))]
        with patched(integrate_cli, suggest_t_end=hint_from_zero):
            rows.append(("before (hint from t = 0)", *cpu_work(lambda: cli_run(path, out))))
        rows.append(("now (hint from the end state)", *cpu_work(lambda: cli_run(path, out))))
        groups.append(("lrnn integrate --t-end 50, Dirac T=4, beta=3, kappa=0.5 (in process)", rows))
    rows = [("default method (ref)", *cpu_work(lambda: integrated(stiff, 50.0)))]
    if not quick:
        with patched(flow_module, PROJECT_EVALUATIONS_FROM=10 ** 12):
            rows.append(("RK45 before (to the cap)", *cpu_work(lambda: integrated(stiff, 50.0, method="RK45"))))
    rows.append(("RK45 now (projected evaluations)", *cpu_work(lambda: integrated(stiff, 50.0, method="RK45"))))
    groups.append(("Task.constant(1e6, T=4) to t=50", rows))
    print("\n(g) runaways and the stiff explicit run (CPU s of this process; ratio: to the group's ref; work: each "
          "solver run as solver, most steps of a mode or evaluations (ev), how it ended)")
    print(f"    {'run':<36} {'CPU s':>6} {'/ ref':>6}  {'work':<45} outcome")
    for title, rows in groups:
        print(f"    {title}")
        for name, cpu, outcome, work in rows:
            print(f"    {name:<36} {cpu:>6.2f} {cpu / rows[0][1]:>6.2f}  {work:<45} {outcome}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="skip the slow 'before' runs of (b) and (g); K up to 1e4 in (f)")
    parser.add_argument("--only", help="the sections to run, e.g. 'd' or 'de' (default all)")
    args = parser.parse_args()
    sections = {"a": lambda: bench_output_points(repeats=2), "b": lambda: bench_runaway(args.quick),
                "c": lambda: bench_demo(repeats=3), "d": lambda: bench_iteration_cost(repeats=3),
                "e": bench_matched_accuracy, "f": lambda: bench_memory(args.quick),
                "g": lambda: bench_runaway_work(args.quick)}
    for name in args.only or "abcdefg":
        sections[name]()
    print("\nSweep end points against integration: python benchmarks/bench_sweep.py")


if __name__ == "__main__":
    main()

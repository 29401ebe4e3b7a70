"""The compiled exact map (``lrnn_theory.native``, the ``fast`` extra) against the numpy map it replaces.

Without numba the kernel runs as plain Python (its ``njit`` falls back to the function itself), so every test here
checks the kernel's logic on any install; with numba (``pip install -e ".[fast]"``) the same tests run the compiled
kernel, and the last test compares the compiled kernel with its plain-Python self.
"""
import os

import numpy as np
import pytest

from test_discrete_map import KINDS, make_task, previous_map

from lrnn_theory import DivergenceError, Task, compile_flow, integrate
from lrnn_theory import native, resources
from lrnn_theory.compiled import map_step
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.finite_lr import DiscreteGD
from lrnn_theory.native import NativeGradientStep


@pytest.fixture
def compiled_map(monkeypatch):
    """``DiscreteGD()`` (backend "auto") takes the compiled map at every run length, numba or not."""
    monkeypatch.setattr(resources, "COMPILED_LOAD_SECONDS", 0.0)
    monkeypatch.setattr(native, "available", lambda: True)


@pytest.mark.parametrize("layout", ["real", "complex"])
def test_scalar_statements_evaluate_the_generated_step(layout):
    """The generated numpy step on arrays of one value, and its statements read as scalar ones, give the same
    increments (the same operations in the same order: equal to the rounding of complex products, which numpy's
    array loops and Python's scalars round differently)."""
    step = map_step(layout)
    names = step.source.split("(", 1)[1].split(")", 1)[0].split(", ")
    inputs = len(names) - step.outputs - step.temporaries
    rng = np.random.default_rng(1)
    dtype = complex if layout == "complex" else float
    values = rng.standard_normal(inputs) + (1j * rng.standard_normal(inputs) if layout == "complex" else 0)
    arrays = [np.array([v], dtype) for v in values] + [np.empty(1, dtype) for _ in names[inputs:]]
    step.increments(*arrays)
    scope = dict(zip(names[:inputs], (dtype(v) for v in values)))
    exec("\n".join(native.scalar_statements(step.source)), {"numpy": np}, scope)  # noqa: S102 - our own statements
    for name, array in zip(("out_a", "out_b", "out_c"), arrays[inputs:]):
        assert abs(scope[name] - array[0]) <= 1e-15 * abs(array[0]), name


@pytest.mark.parametrize("kind", KINDS)
def test_compiled_map_equals_the_numpy_map(kind):
    """150 steps from the initial state, and single steps from random states: the same states and extremes to
    rounding (the task sums are added in another order)."""
    flow = compile_flow(make_task(kind))
    h = 0.03
    compiled, numpy_map = NativeGradientStep(flow, h), flow.gradient_step(h)
    for stepper in (compiled, numpy_map):
        stepper.set_rows(flow.initial_state().reshape(flow.K, -1).T)
        stepper.advance(150)
    scale = np.abs(numpy_map.state).max()
    np.testing.assert_allclose(compiled.state, numpy_map.state, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(compiled.highest, numpy_map.highest, rtol=0, atol=1e-13 * scale)
    np.testing.assert_allclose(compiled.lowest, numpy_map.lowest, rtol=0, atol=1e-13 * scale)
    assert compiled.highest.shape == numpy_map.highest.shape
    assert np.ptp(numpy_map.highest - numpy_map.lowest) > 1e-3  # the modes moved
    rng = np.random.default_rng(4)
    for _ in range(3):
        rows = rng.uniform(-1.2, 1.2, (flow.block_size, flow.K))
        for stepper in (compiled, numpy_map):
            stepper.set_rows(rows)
            stepper.advance(1)
        np.testing.assert_allclose(compiled.rows(), numpy_map.rows(), rtol=0,
                                   atol=1e-14 * np.abs(numpy_map.rows()).max())


@pytest.mark.parametrize("kind", ["real", "complex-every-step-correlated"])
def test_discrete_gd_runs_the_compiled_map_and_says_so(kind, compiled_map):
    """``integrate(method=DiscreteGD(...))`` through the compiled map: the per-step map before the generated step
    (tests/test_discrete_map.py) to 1e-12, at uneven records across check intervals; ``info["backend"]`` names it."""
    task = make_task(kind)
    gd = DiscreteGD(lr=0.02)
    h = gd.time_step(task)
    t_eval = np.array([0.0, 1, 2, 255, 256, 257, 400, 600]) * h
    record, rows = previous_map(task, gd, t_eval)
    traj = integrate(task, t_eval[-1], t_eval=t_eval, method=gd)
    assert traj.info["backend"] == "numba"
    reference = compile_flow(task).modes(rows.reshape(len(record), -1))
    for name, got, want in zip("abc", (traj.a, traj.b, traj.c), reference):
        assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want)), name
    assert integrate(task, t_eval[-1], method=DiscreteGD(lr=0.02, backend="numpy")).info["backend"] == "numpy"


def test_divergence_is_reported_at_the_same_step_by_the_compiled_map(compiled_map):
    """A fast divergence, one after two check intervals (the replay from the last stop), and an excursion between
    two stops: the step and mode of the per-step check, as the numpy map reports them."""
    fast = Task(np.array([[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]]))
    runaway = Task.dirac(beta=[0.3, 2.0], kappa=0.5, T=6, init={"a": 0.5, "b": [0.1, 1.2], "c": 0.5})
    for task, lr, t_steps, threshold in ((fast, 1.0, 100, 1e8), (runaway, 0.002, 3000, 30.0), (fast, 0.19, 300, 1.05)):
        gd = DiscreteGD(lr)
        h = gd.time_step(task)
        status, (step, mode) = previous_map(task, gd, [0.0, t_steps * h], threshold)
        assert status == "diverged"
        with pytest.raises(DivergenceError) as info:
            integrate(task, t_steps * h, method=gd, divergence_threshold=threshold, n_points=2)
        assert (round(info.value.time / h), info.value.mode) == (step, mode)


def test_nan_sticks_in_the_kernels_extremes():
    """A step to NaN makes the extremes NaN, and later finite values do not replace them (the divergence check fails
    on NaN, as ``GradientStep``'s reductions propagate it)."""
    flow = compile_flow(make_task("real"))
    stepper = NativeGradientStep(flow, 0.03)
    stepper.set_rows(flow.initial_state().reshape(flow.K, -1).T)
    stepper.state[1, 0] = np.nan
    stepper.advance(3)
    assert np.isnan(stepper.highest[:, 0]).all() and np.isnan(stepper.lowest[:, 0]).all()
    assert np.isfinite(stepper.highest[:, 1]).all()
    stepper._extremes[0, 0, 1, 0] = np.nan  # a NaN extreme of a finite mode stays
    stepper.advance(2)
    assert np.isnan(stepper.highest[0, 1]) and np.isfinite(stepper.lowest[0, 1])


def test_backend_choice_and_bad_backends(monkeypatch):
    """"auto" takes numba, when it is installed, where its estimate with the load is below the numpy map's (about
    100,000 steps of a small task) and K T is at most ``NATIVE_SUMS`` (a run's backend does not depend on what ran
    before it); "numba" without numba and an unknown backend are one-line errors naming the parameter."""
    small, large = make_task("real"), Task(np.ones((DiscreteGD.NATIVE_SUMS // 5 + 1, 5)))
    gd = DiscreteGD(lr=0.01)
    monkeypatch.setattr(native, "available", lambda: True)
    per_step = [resources.discrete_estimate(small.K, small.T, 1, 0, compiled).seconds
                - resources.COMPILED_LOAD_SECONDS * compiled for compiled in (False, True)]
    even = resources.COMPILED_LOAD_SECONDS / (per_step[0] - per_step[1])  # the steps where the two estimates meet
    assert 5e4 < even < 2e5
    assert gd.backend_for(small, 0.99 * even) == "numpy"
    assert gd.backend_for(small, 1.01 * even) == "numba"
    native.kernel("real")
    assert gd.backend_for(small, 10) == "numpy"
    assert gd.backend_for(large, 10 ** 9) == "numpy"  # the task sums dominate a step
    assert DiscreteGD(lr=0.01, backend="numpy").backend_for(small, 10 ** 9) == "numpy"
    assert DiscreteGD(lr=0.01, backend="numba").backend_for(large, 1) == "numba"
    monkeypatch.setattr(native, "available", lambda: False)
    assert gd.backend_for(small, 10 ** 9) == "numpy"
    with pytest.raises(LrnnInputError, match="'backend'.*numba installed.*fast"):
        DiscreteGD(lr=0.01, backend="numba")
    with pytest.raises(LrnnInputError, match="'backend' must be one of auto, numpy, numba, got 'fortran'"):
        DiscreteGD(lr=0.01, backend="fortran")


def test_a_chaotic_run_goes_where_rounding_sends_it(compiled_map):
    """A Dirac point of Fig. 4 (s_1 = 2.4, s_T = 0.2, T = 6) under the notes' protocol (init 0.5, lr 0.02), which
    drives b through sharp jumps: the compiled map and the numpy map agree to 1e-9 for 100 steps while b climbs to
    2, then their difference doubles about every step and rounding decides the run (on the figure's own grid the
    numpy map diverges at step 125, the compiled one does not; the differences of the task's last bits move that
    too). Which backend ran is in ``info``, so such a run can be repeated exactly."""
    task = Task(np.array([[2.4, 0.0, 0.0, 0.0, 0.0, 0.2]]), init={"a": 0.5, "b": 0.5, "c": 0.5})
    flow = compile_flow(task)
    h = DiscreteGD(lr=0.02).time_step(task)
    compiled, numpy_map = NativeGradientStep(flow, h), flow.gradient_step(h)
    b = []
    with np.errstate(over="ignore", invalid="ignore"):
        for stepper in (compiled, numpy_map):
            stepper.set_rows(flow.initial_state().reshape(1, 3).T)
            b.append([stepper.advance(1) or stepper.state[1, 0] for _ in range(130)])
    gap = np.abs(np.subtract(*b))
    assert gap[:100].max() < 1e-9 and b[0][99] > 1.9
    assert not gap[120:].max() < 0.1  # apart, or NaN on one side
    assert integrate(task, 50 * h, method=DiscreteGD(lr=0.02)).info["backend"] == "numba"


def test_kernel_source_is_written_once_to_the_cache_directory(tmp_path, monkeypatch):
    """The kernel's source goes to ``$LRNN_THEORY_CACHE`` (numba caches its machine code beside it) and is not
    written again while it is the same; a cache path that is not a directory falls back to the temporary one."""
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_KERNELS", {})
    native.kernel("complex")
    written = list(tmp_path.glob("lrnn_theory_map_complex_*.py"))
    assert len(written) == 1 and written[0].read_text() == native._kernel_source("complex")
    stamp = os.stat(written[0]).st_mtime_ns
    monkeypatch.setattr(native, "_KERNELS", {})
    native.kernel("complex")
    assert os.stat(written[0]).st_mtime_ns == stamp
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(blocked))
    monkeypatch.setattr(native, "_KERNELS", {})
    assert callable(native.kernel("real"))
    assert not list(tmp_path.glob("*/lrnn_theory_map_real_*.py"))


def test_numba_compiles_the_kernel_to_its_plain_python_values():
    """With numba installed: the compiled kernel and the plain-Python function it was compiled from agree to
    rounding over 200 steps of a complex every-step correlated task."""
    if not native.available():
        pytest.skip("numba is not installed (the fast extra)")
    flow = compile_flow(make_task("complex-every-step-correlated"))
    steppers = [NativeGradientStep(flow, 0.03) for _ in range(2)]
    steppers[1]._advance = steppers[1]._advance.py_func
    for stepper in steppers:
        stepper.set_rows(flow.initial_state().reshape(flow.K, -1).T)
        stepper.advance(200)
    np.testing.assert_allclose(steppers[0].state, steppers[1].state, rtol=0, atol=1e-14)
    np.testing.assert_allclose(steppers[0]._extremes, steppers[1]._extremes, rtol=0, atol=1e-14)

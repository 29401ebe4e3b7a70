"""The compiled exact map (``lrnn_theory.native``, the ``fast`` extra) against the numpy map it replaces.

Without numba the kernel runs as plain Python (its ``njit`` falls back to the function itself), so every test here
checks the kernel's logic on any install; with numba (``pip install -e ".[fast]"``) the same tests run the compiled
kernel, and the last test compares the compiled kernel with its plain-Python self.
"""
import getpass
import os
import tempfile

import numpy as np
import pytest

from test_discrete_map import KINDS, check_map_against_the_previous_evaluation, make_task, previous_map

from lrnn_theory import DivergenceError, Task, compile_flow, integrate
from lrnn_theory import cache, native, resources
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
    """The generated numpy step on arrays of one value, and its statements printed on scalars, give the same
    increments (the same operations in the same order: equal to the rounding of complex products, which numpy's
    array loops and Python's scalars round differently); one scalar statement per numpy statement."""
    step = map_step(layout)
    names = step.arguments
    assert step.source.startswith(f"def increments({', '.join(names)}):")
    assert len(step.scalar_statements) == len(step.source.strip().splitlines()) - 1
    inputs = len(names) - step.outputs - step.temporaries
    rng = np.random.default_rng(1)
    dtype = complex if layout == "complex" else float
    values = rng.standard_normal(inputs) + (1j * rng.standard_normal(inputs) if layout == "complex" else 0)
    arrays = [np.array([v], dtype) for v in values] + [np.empty(1, dtype) for _ in names[inputs:]]
    step.increments(*arrays)
    scope = dict(zip(names[:inputs], (dtype(v) for v in values)))
    exec("\n".join(step.scalar_statements), {"numpy": np}, scope)  # noqa: S102 - our own statements
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
    assert check_map_against_the_previous_evaluation(kind).info["backend"] == "numba"
    task = make_task(kind)
    assert integrate(task, 1.0, method=DiscreteGD(lr=0.02, backend="numpy")).info["backend"] == "numpy"


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
    """"auto" takes numba, when it can be imported, where its estimate with the load is below the numpy map's (about
    100,000 steps of a small task) and K is at most ``NATIVE_MODES`` (a run's backend does not depend on what ran
    before it); "numba" without numba and an unknown backend are one-line errors naming the parameter, the first
    with numba's own reason."""
    small, large = make_task("real"), Task(np.ones((DiscreteGD.NATIVE_MODES + 1, 2)))
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
    assert gd.backend_for(large, 10 ** 9) == "numpy"  # numpy's shared products are as fast
    assert DiscreteGD(lr=0.01, backend="numpy").backend_for(small, 10 ** 9) == "numpy"
    assert DiscreteGD(lr=0.01, backend="numba").backend_for(large, 1) == "numba"
    monkeypatch.setattr(native, "available", lambda: False)
    monkeypatch.setattr(native, "import_problem", lambda: "Numba needs NumPy 2.3 or less")
    assert gd.backend_for(small, 10 ** 9) == "numpy"
    with pytest.raises(LrnnInputError, match=r"'backend' is 'numba' but numba cannot be imported \(Numba needs "
                                             r"NumPy 2.3 or less\): pip install 'lrnn-theory\[fast\]'"):
        DiscreteGD(lr=0.01, backend="numba")
    with pytest.raises(LrnnInputError, match="'backend' must be one of auto, numpy, numba, got 'fortran'"):
        DiscreteGD(lr=0.01, backend="fortran")


def test_a_chaotic_run_goes_where_rounding_sends_it(compiled_map):
    """A Dirac point of Fig. 4 (s_1 = 2.4, s_T = 0.2, T = 6) under the notes' protocol (init 0.5, lr 0.02), which
    drives b through sharp jumps: the compiled map and the numpy map agree to 1e-9 for 100 steps while b climbs to
    2; after that rounding decides the run (on the figure's own grid the numpy map diverges at step 125, the
    compiled one does not; a change in the task's last bits moves that too), so nothing later is asserted. Which
    backend ran is in ``info``, so such a run can be repeated exactly."""
    task = Task(np.array([[2.4, 0.0, 0.0, 0.0, 0.0, 0.2]]), init={"a": 0.5, "b": 0.5, "c": 0.5})
    flow = compile_flow(task)
    h = DiscreteGD(lr=0.02).time_step(task)
    compiled, numpy_map = NativeGradientStep(flow, h), flow.gradient_step(h)
    b = []
    with np.errstate(over="ignore", invalid="ignore"):
        for stepper in (compiled, numpy_map):
            stepper.set_rows(flow.initial_state().reshape(1, 3).T)
            b.append([stepper.advance(1) or stepper.state[1, 0] for _ in range(130)])
    assert np.max(np.abs(np.subtract(b[0][:100], b[1][:100]))) < 1e-9 and b[0][99] > 1.9
    assert integrate(task, 50 * h, method=DiscreteGD(lr=0.02)).info["backend"] == "numba"


def test_kernel_source_is_written_once_to_the_cache_directory(tmp_path, monkeypatch):
    """The kernel's source goes to ``$LRNN_THEORY_CACHE`` (numba caches its machine code beside it), is not written
    again while it is the same, replaces a file of the same name that differs and removes the files of an older
    generator; a cache path that is not a directory falls back to a private temporary directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(cache))
    monkeypatch.setattr(native, "_KERNELS", {})
    native.kernel("complex")
    written = list(cache.glob("lrnn_theory_map_complex_*.py"))
    assert len(written) == 1 and written[0].read_text() == native._kernel_source("complex")
    assert written[0].stat().st_mode & 0o777 == 0o644
    stamp = os.stat(written[0]).st_mtime_ns
    monkeypatch.setattr(native, "_KERNELS", {})
    native.kernel("complex")
    assert os.stat(written[0]).st_mtime_ns == stamp
    written[0].write_bytes(b"\xff damaged")
    older = cache / "lrnn_theory_map_complex_0000000000000000.py"
    older.write_text("# an older generator's kernel")
    monkeypatch.setattr(native, "_KERNELS", {})
    native.kernel("complex")
    assert written[0].read_text() == native._kernel_source("complex") and not older.exists()
    blocked = tmp_path / "a file"
    blocked.write_text("")
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(blocked))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    (tmp_path / "temporary").mkdir()
    monkeypatch.setattr(native, "_KERNELS", {})
    assert callable(native.kernel("real"))
    fallback = list((tmp_path / "temporary").glob("lrnn-theory-*/lrnn_theory_map_real_*.py"))
    assert len(fallback) == 1 and fallback[0].parent.stat().st_mode & 0o777 == 0o700
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("LRNN_THEORY_CACHE", str(shared))  # others could plant machine code there: not used
    monkeypatch.setattr(native, "_KERNELS", {})
    assert callable(native.kernel("real")) and list(shared.iterdir()) == []


def test_a_temporary_directory_of_another_user_or_open_to_all_is_not_used(tmp_path, monkeypatch):
    """numba loads the machine code it finds beside the kernel, so the temporary directory must be this user's
    alone: one open to others gives way to a new directory of the process's own."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"lrnn-theory-{getpass.getuser()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    chosen = cache.private_temporary_directory()
    assert chosen != shared and chosen.parent == tmp_path and chosen.stat().st_mode & 0o077 == 0


def test_auto_runs_numpy_when_the_compiled_map_cannot_be_built(compiled_map, monkeypatch):
    """An optional accelerator must not stop a run: under "auto" a compiled map that cannot be built warns and the
    numpy map runs; ``backend="numba"`` raises the error itself."""
    def broken(flow, h):
        raise OSError("no directory takes the compiled map")

    monkeypatch.setattr(native, "NativeGradientStep", broken)
    task = make_task("real")
    with pytest.warns(RuntimeWarning, match="compiled map could not be built .*OSError.*running the numpy map"):
        traj = integrate(task, 1.0, method=DiscreteGD(lr=0.02))
    assert traj.info["backend"] == "numpy" and np.all(np.isfinite(traj.b))
    with pytest.raises(OSError, match="no directory"):
        integrate(task, 1.0, method=DiscreteGD(lr=0.02, backend="numba"))


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

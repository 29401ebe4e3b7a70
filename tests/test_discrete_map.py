"""The exact gradient-descent map (``DiscreteGD.run`` through ``GradientStep``) against the previous per-step
evaluation: rows + h * flow.rates_rows, one step at a time, with the divergence check at every step.

The reference below is the map as it was before its generated step (one explicit Euler step of the compiled flow's
rates per step, checked at every step); the map now folds h / tau into its coefficient tables, runs a generated
step function, keeps the extremes of every coordinate and checks them at stops (records and every
``DiscreteGD.CHECK_EVERY`` steps), replaying the steps since the last stop one by one when they fail the cheap bound.
Both must give the same states to rounding, for every kind of task, and the same divergence step, time and mode.
"""
import numpy as np
import pytest

from lrnn_theory import DivergenceError, Task, compile_flow, integrate
from lrnn_theory.compiled import map_step
from lrnn_theory.derivations.complex import partials
from lrnn_theory.finite_lr import DiscreteGD, compile_modified_flow
from lrnn_theory.flow_field import GradientStep, RealModes

T = 5
_M = np.random.default_rng(3).standard_normal((T, T))
COVARIANCE = np.stack([0.6 ** np.abs(np.subtract.outer(np.arange(T), np.arange(T))), _M @ _M.T / T + 0.3 * np.eye(T)])
REAL_INIT = {"a": [0.2, 0.1], "b": [0.1, -0.2], "c": [0.1, 0.15]}
COMPLEX_INIT = {"a": [0.2 + 0.1j, 0.1 - 0.05j], "b": [0.1 + 0.05j, 0.2 - 0.1j], "c": [0.1 - 0.05j, 0.15 + 0.1j]}


def make_task(kind: str) -> Task:
    """Two modes of each kind: real, complex (rotational), every-step outputs, inputs correlated across time."""
    family = {"delta": [1.0, 0.6], "lam": [0.7, 0.5]}
    complex_ = kind.startswith("complex")
    extra = {"lambda_phase": [0.4, -0.9]} if complex_ else {}
    if "every-step" in kind:
        extra["outputs"] = "every_step"
    if "correlated" in kind:
        extra["input_covariance"] = COVARIANCE
    return Task.from_family("inverse_exponential", T=T, **family, tau=1.3,
                            init=COMPLEX_INIT if complex_ else REAL_INIT, **extra)


KINDS = ("real", "complex", "every-step", "correlated", "complex-every-step-correlated")


def compiled_rates(flow, rows):
    """The rates from the lambdified functions of ``flow_functions`` (the path before ``SumsProgram``): independent
    of the generated programs that ``flow.rates_rows`` runs at few modes."""
    return flow.layout.rates(rows, flow.sums)


def previous_map(task, gd: DiscreteGD, t_eval, threshold=1e8):
    """The map before the generated step: (recorded steps, rows (records, m, K)), or (step, mode) of divergence."""
    h = gd.time_step(task)
    record = np.unique(np.rint(np.asarray(t_eval) / h).astype(np.int64))
    flow = compile_flow(task)
    m = flow.block_size
    rows = np.ascontiguousarray(flow.initial_state().reshape(task.K, m).T)
    out = []
    with np.errstate(over="ignore", invalid="ignore"):
        for n in range(int(record[-1]) + 1):
            a, b, c = flow.modes(rows.T.ravel())
            gains = np.column_stack([np.abs(a), np.abs(b) ** (task.T - 1), np.abs(c)])
            bad = ~np.all(np.isfinite(gains) & (gains <= threshold), axis=1)
            if bad.any():
                return "diverged", (n, int(np.argmax(bad)))
            if n in record:
                out.append(rows.T.copy())
            rows = rows + h * compiled_rates(flow, rows)
    return record, np.array(out)


@pytest.fixture(params=["running product", "logarithmic"])
def power_table(request, monkeypatch):
    """The map's table of powers of b at these few modes: the running product, or (as from
    ``RealModes.LOG_POWER_SIZE`` modes times powers) |b|^p = exp((p / 2) log b^2) with the signs of b folded into the
    coefficients."""
    if request.param == "logarithmic":
        monkeypatch.setattr(RealModes, "LOG_POWER_SIZE", 0)
    return request.param


def check_map_against_the_previous_evaluation(kind: str):
    """600 steps (more than two check intervals) of ``integrate(method=DiscreteGD(lr=0.02))``, recorded at uneven
    steps, against the per-step map to 1e-12 of the largest value; returns the trajectory."""
    task = make_task(kind)
    gd = DiscreteGD(lr=0.02)
    h = gd.time_step(task)
    t_eval = np.array([0.0, 1, 2, 255, 256, 257, 400, 600]) * h
    record, rows = previous_map(task, gd, t_eval)
    traj = integrate(task, t_eval[-1], t_eval=t_eval, method=gd)
    np.testing.assert_array_equal(np.rint(traj.t / h), record)
    flow = compile_flow(task)
    reference = flow.modes(rows.reshape(len(record), -1))
    for name, got, want in zip("abc", (traj.a, traj.b, traj.c), reference):
        assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want)), name
    assert np.max(np.abs(traj.b[-1] - traj.b[0])) > 1e-3  # the modes moved
    return traj


@pytest.mark.parametrize("kind", KINDS)
def test_map_equals_the_previous_per_step_evaluation(kind, power_table):
    """600 steps (more than two check intervals), recorded at uneven steps, to 1e-12 of the largest value."""
    assert check_map_against_the_previous_evaluation(kind).info["backend"] == "numpy"


@pytest.mark.parametrize("batched_modes", [GradientStep.BATCHED_MODES, 0])
@pytest.mark.parametrize("kind", KINDS)
def test_one_generated_step_is_h_times_the_rates_at_any_state(kind, batched_modes, power_table, monkeypatch):
    """At random states (not only the initial one), one step of ``GradientStep`` is rows + h * rates_rows, with the
    task sums as one batched product per mode (few modes) or as shared and per-mode products (many modes), and the
    table of powers of either kind."""
    monkeypatch.setattr(GradientStep, "BATCHED_MODES", batched_modes)
    task = make_task(kind)
    flow = compile_flow(task)
    h = 0.037
    stepper = flow.gradient_step(h)
    rng = np.random.default_rng(4)
    for _ in range(3):
        rows = rng.uniform(-1.2, 1.2, (flow.block_size, task.K))
        stepper.set_rows(rows)
        stepper.advance(1)
        expected = rows + h * compiled_rates(flow, rows)
        np.testing.assert_allclose(stepper.rows(), expected, rtol=0, atol=1e-14 * np.abs(expected).max())


@pytest.mark.parametrize("lr", [1.0, 0.55])
def test_divergence_is_reported_at_the_step_of_the_per_step_check(lr):
    """A fast divergence (within the first check interval): the step, time and mode of the per-step check."""
    task = Task(np.array([[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]]))
    gd = DiscreteGD(lr)
    h = gd.time_step(task)
    status, (step, mode) = previous_map(task, gd, [0.0, 100.0])
    assert status == "diverged"
    with pytest.raises(DivergenceError) as info:
        integrate(task, 100.0, method=gd)
    assert info.value.mode == mode
    assert info.value.time == pytest.approx(step * h, rel=1e-15)
    assert f"at step {step} " in str(info.value) and "largest stable lr of this mode" in str(info.value)


def test_divergence_beyond_the_first_check_interval_and_at_step_zero():
    """A runaway recurrent mode (Dirac task, beta > kappa) crosses a low threshold after two check intervals: the
    replay from the last stop finds the step; a state beyond the threshold at the start is step 0."""
    task = Task.dirac(beta=[0.3, 2.0], kappa=0.5, T=6, init={"a": 0.5, "b": [0.1, 1.2], "c": 0.5})
    gd = DiscreteGD(0.002)
    h = gd.time_step(task)
    threshold, t_end = 30.0, 3000 * h
    status, (step, mode) = previous_map(task, gd, [0.0, t_end], threshold)
    assert status == "diverged" and step > 2 * DiscreteGD.CHECK_EVERY and step % DiscreteGD.CHECK_EVERY != 0
    with pytest.raises(DivergenceError) as info:
        integrate(task, t_end, method=gd, divergence_threshold=threshold)
    assert (round(info.value.time / h), info.value.mode) == (step, mode)
    assert f"at step {step} " in str(info.value)
    with pytest.raises(DivergenceError, match="at step 0 "):
        integrate(task.with_init(a=1e5, b=0.1, c=0.1), 10.0, method=DiscreteGD(0.01), divergence_threshold=1e4)


def test_a_transient_excursion_between_two_stops_is_reported():
    """Gradient descent near its stable bound overshoots (|b|^2 peaks at 1.075 near step 14) and settles at 1: with
    the threshold at 1.05 only the steps between two stops exceed it. The per-step check reported that excursion;
    the extremes the stepper keeps still do."""
    task = Task(np.array([[0.5, 0.5, 0.5], [1.0, 1.0, 1.0]]))
    gd = DiscreteGD(0.19)
    h = gd.time_step(task)
    status, (step, mode) = previous_map(task, gd, [0.0, 300 * h], 1.05)
    assert status == "diverged" and 0 < step < DiscreteGD.CHECK_EVERY
    final = integrate(task, 300 * h, method=gd, n_points=2)
    assert np.max(np.abs(final.b[-1]) ** 2) < 1.05  # the last state is within the threshold
    with pytest.raises(DivergenceError) as info:
        integrate(task, 300 * h, method=gd, divergence_threshold=1.05, n_points=2)
    assert (round(info.value.time / h), info.value.mode) == (step, mode)


@pytest.mark.parametrize("ring_values", [GradientStep.RING_VALUES, 1])
def test_the_stepper_keeps_the_extremes_of_every_coordinate(ring_values, monkeypatch):
    """``highest`` and ``lowest`` against the states of single steps (real and complex modes), over more steps than
    the ring of states holds (its extremes are reduced once per ``RING`` steps, or at every step when the ring may
    hold only one); the state after them is the same."""
    monkeypatch.setattr(GradientStep, "RING_VALUES", ring_values)
    steps = 2 * GradientStep.RING + 22
    for kind in ("real", "complex"):
        flow = compile_flow(make_task(kind))
        stepper = flow.gradient_step(0.05)
        assert stepper.ring_steps == (GradientStep.RING if ring_values > 1 else 1)
        stepper.set_rows(flow.initial_state().reshape(flow.K, -1).T)
        states = [stepper.state.copy()]
        for _ in range(steps):
            stepper.advance(1)
            states.append(stepper.state.copy())
        stepper.set_rows(flow.initial_state().reshape(flow.K, -1).T)
        stepper.advance(steps)
        coordinates = np.array([s.view(float) for s in states])
        np.testing.assert_array_equal(stepper.highest, coordinates.max(axis=0))
        np.testing.assert_array_equal(stepper.lowest, coordinates.min(axis=0))
        np.testing.assert_array_equal(stepper.state, states[-1])
        assert np.ptp(coordinates[:, 1], axis=0).max() > 1e-3  # b moved


def test_logarithmic_power_table_gives_the_magnitudes_of_the_powers():
    """exp((p / 2) log b^2) against |b|^p computed by Python's own powers, at negative b, b = 0, tiny, large and
    non-finite b: the same values within the rounding of b^2 and of its logarithm, p (|log b^2| + 1) / 2 + 4 ulp, as
    a running product's p ulp near |b| = 1 (zero, underflow and non-finite values exactly)."""
    b = np.array([-1.7, -0.5, -1e-3, 0.0, 1e-200, 0.3, 0.999, 1.4, np.inf, -np.inf, np.nan])
    flow = compile_flow(Task(np.ones((b.size, 20)), init={"a": 0.1, "b": 0.1, "c": 0.1}))
    state = np.vstack([np.ones_like(b), b, np.ones_like(b)])
    for monomials in (2, 3, 4, 39, 40):
        table = np.empty((b.size, monomials - 1))
        powers = np.arange(1, monomials)
        with np.errstate(all="ignore"):
            flow.layout.map_magnitudes(monomials, state, table)()
            expected = np.array([[abs(float(x)) ** int(p) if np.isfinite(x) else abs(x) ** int(p) for p in powers]
                                 for x in b])
            ulps = powers * (np.abs(np.log(b * b)) + 1)[:, None] / 2 + 4
            difference = np.abs(table - expected)
        finite = np.isfinite(expected) & (expected != 0)
        assert np.all(difference[finite] <= (ulps * np.spacing(np.abs(expected)))[finite])
        np.testing.assert_array_equal(table[~finite], expected[~finite])  # NaN where b is NaN
        assert monomials < 4 or difference[finite].max() > 0  # not the same arithmetic as the running product


def test_the_map_follows_b_through_zero_with_its_signs_folded_again(monkeypatch):
    """With the logarithmic table the signs of b sit in the coefficients: a b that crosses zero within a ring of
    steps (here from -0.05 towards its positive solution) is refolded from the step where it changed sign, and the
    map still equals the per-step evaluation to 1e-12."""
    monkeypatch.setattr(RealModes, "LOG_POWER_SIZE", 0)
    task = make_task("real").with_init(a=[0.2, 0.1], b=[-0.05, -0.2], c=[0.1, 0.15])
    gd = DiscreteGD(lr=0.02)
    h = gd.time_step(task)
    t_eval = np.arange(601) * h  # every step
    record, rows = previous_map(task, gd, t_eval)
    negative = rows[:, :, 1] < 0  # (steps, modes): the signs of b at every step
    assert negative[0].all() and not negative[-1, 0]  # mode 0's b crossed zero
    changes = int(np.any(negative[1:] != negative[:-1], axis=1).sum())
    flow = compile_flow(task)
    stepper = flow.gradient_step(h)
    stepper.set_rows(flow.initial_state().reshape(task.K, -1).T)
    stepper.advance(600)
    assert stepper.logarithmic and stepper.sign_folds == 1 + changes  # the initial signs, then one per change
    np.testing.assert_allclose(stepper.rows(), rows[-1].T, rtol=0, atol=1e-12 * np.abs(rows[-1]).max())
    traj = integrate(task, t_eval[-1], t_eval=t_eval, method=gd)
    for name, got, want in zip("abc", (traj.a, traj.b, traj.c), flow.modes(rows.reshape(len(record), -1))):
        assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want)), name


def test_coefficient_tables_give_the_task_sums():
    """The map's tables times its monomials of b are the task sums the flow evaluates (``derivatives``,
    ``evaluate_complex``: the powers table and the gram-matrix products of the flow, computed another way)."""
    rng = np.random.default_rng(5)
    for kind in ("real", "every-step", "correlated"):
        sums = make_task(kind).sums()
        b = rng.uniform(-1.1, 1.1, sums.K)
        coefficients = sums.power_coefficients(2)
        values = np.einsum("spk,pk->sk", coefficients, b ** np.arange(coefficients.shape[1])[:, None])
        np.testing.assert_allclose(values, np.vstack(sums.derivatives(b, 2)), rtol=1e-13, atol=1e-13)
    for kind in ("complex", "complex-every-step-correlated"):
        sums = make_task(kind).sums()
        b = rng.uniform(-1.1, 1.1, sums.K) + 1j * rng.uniform(-1.1, 1.1, sums.K)
        monomials, coefficients = sums.monomial_coefficients(2, partials(2))
        table = np.conj(b) ** monomials[:, :1] * b ** monomials[:, 1:]
        values = np.einsum("smk,mk->sk", coefficients, table)
        evaluated = sums.evaluate_complex(b, order=2)
        As = evaluated[:3]
        Bs = dict(zip([(0, 0), (0, 1), (0, 2), (1, 1)], evaluated[3:]))
        expected = [*As, *np.conj(As)] + [Bs[p] if p in Bs else np.conj(Bs[p[::-1]]) for p in partials(2)]
        np.testing.assert_allclose(values, np.array(expected), rtol=1e-13, atol=1e-13)


def test_generated_step_folds_the_factors_into_the_tables():
    """The step reads only the sums of the rates (A, A', B, B'), with h / tau and the factors (-1, -1/2) in the
    tables: its source has no tau and no rational numbers."""
    for layout, count in (("real", 4), ("complex", 4)):
        step = map_step(layout)
        assert len(step.slots) == count
        assert "tau" not in step.source and "/" not in step.source
        assert step.source.count("out=") == 3
        # every statement a numpy call into a buffer given once: no array allocated per step
        assert all(line.strip().startswith("numpy.") for line in step.source.splitlines()[1:])
    assert map_step("real").factors == (1.0, 1.0, -1.0, -0.5)


@pytest.mark.parametrize("kind", KINDS)
def test_rates_and_jacobian_rows_equal_the_compiled_functions(kind):
    """The generated programs behind ``rates_rows`` and ``jacobian_rows`` (``SumsProgram``, 1 / tau folded into the
    coefficients) against the lambdified rates and Jacobian of ``flow_functions``, at random states, for all modes
    and for a subset (the solver's running modes), and the Jacobian against central differences of the rates."""
    task = make_task(kind)
    flow = compile_flow(task)
    m = flow.block_size
    rng = np.random.default_rng(5)
    for modes in (None, np.array([1]), np.array([0, 1])):
        sums = flow.sums if modes is None else flow.sums.subset(modes)
        for _ in range(2):
            rows = rng.uniform(-1.2, 1.2, (m, sums.K))
            rates, want = flow.rates_rows(0.0, rows, modes), flow.layout.rates(rows, sums)
            np.testing.assert_allclose(rates, want, rtol=0, atol=1e-14 * np.abs(want).max())
            jac, want = flow.jacobian_rows(0.0, rows, modes), flow.layout.jacobian(rows, sums)
            np.testing.assert_allclose(jac, want, rtol=0, atol=1e-14 * np.abs(want).max())
            step = 1e-6
            for q in range(m):
                dy = np.zeros_like(rows)
                dy[q] = step
                difference = (flow.rates_rows(0.0, rows + dy, modes) - flow.rates_rows(0.0, rows - dy, modes)) / (
                    2 * step)
                np.testing.assert_allclose(jac[:, q], difference, rtol=0, atol=1e-7 * np.abs(jac).max())
    assert flow._programs(None) is not None  # the programs ran (two modes, below ROW_PROGRAM_SIZE)


def test_row_programs_only_up_to_their_size_and_only_for_the_gradient_flow(monkeypatch):
    """Beyond ``ROW_PROGRAM_SIZE`` (and for the modified flow, whose rates are not the gradient flow's) the rates
    come from the compiled functions, with the same values."""
    task = make_task("correlated")
    rows = np.random.default_rng(6).uniform(-1, 1, (3, task.K))
    flow = compile_flow(task)
    programs = flow.rates_rows(0.0, rows)
    monkeypatch.setattr(type(flow), "ROW_PROGRAM_SIZE", 1)
    compiled = compile_flow(task)
    assert compiled._programs(None) is None
    np.testing.assert_allclose(compiled.rates_rows(0.0, rows), programs, rtol=1e-14, atol=0)
    modified = compile_modified_flow(task, 0.05)
    assert modified._programs(None) is None
    assert np.max(np.abs(modified.rates_rows(0.0, rows) - programs)) > 1e-4  # the modified flow's own rates


def test_fig4_dirac_protocol_is_chaotic_so_rounding_moves_its_panel():
    """Why fig4's Dirac panel (gradient descent, T = 6, init 0.3, lr 0.01, 2000 steps) moved when the map's
    arithmetic changed at rounding level, while every other quick figure stayed within 1e-8: at the edge of stability
    b oscillates irregularly, and 1e-15 in b(0) changes b after 2000 steps by O(1) there; a converging point of the
    same panel keeps it at rounding level."""
    gd = DiscreteGD(lr=0.01)

    def final_b(beta, shift):
        task = Task.dirac(beta=beta, kappa=0.2, T=6, init={"a": 0.3, "b": 0.3 + shift, "c": 0.3})
        return float(integrate(task, 2000 * gd.time_step(task), method=gd, n_points=2).b[-1, 0])

    assert abs(final_b(1.6, 1e-15) - final_b(1.6, 0.0)) < 1e-12  # converges: rounding stays rounding
    assert abs(final_b(3.4, 1e-15) - final_b(3.4, 0.0)) > 0.1  # edge of stability: rounding becomes O(1)


def test_the_numpy_1_contraction_of_the_logarithmic_sums_is_the_dot_product_of_the_last_axes():
    from lrnn_theory.flow_field import _einsum_vecdot

    rng = np.random.default_rng(3)
    x, y, out = rng.standard_normal((4, 5, 7)), rng.standard_normal((5, 7)), np.empty((4, 5))
    _einsum_vecdot(x, y, out=out)
    np.testing.assert_allclose(out, [[sum(x[s, k, m] * y[k, m] for m in range(7)) for k in range(5)]
                                     for s in range(4)], rtol=1e-13)

"""Result 1, learning order: the discounted task sum A(b0) and time to a fraction of u* rank tasks (Fig. A1).

The predicted order and 90% times are held against trained networks from the validation harness.
"""
import json

import numpy as np
import pytest

from lrnn_theory import LrnnInputError, Task
from lrnn_theory.learning_order import discounted_sum, predict_learning_order, time_to_fraction
from lrnn_theory.sweeps import stack_tasks


# ---- learning order -------------------------------------------------------------------------------------------------
def simulated_t90(tasks, t_end, lr=0.005):
    """Time to reach 90% of the final u in a trained network, per task (harness, population data). The tasks train
    as the modes of one network: with aligned init and population data its modes evolve independently."""
    from lrnn_theory.validation import simulate

    traj = simulate(stack_tasks(tasks), lr=lr, steps=int(t_end / lr), record_every=2)  # t resolved to 2 lr
    return time_to_fraction(traj.t, traj.u, 0.9)


def figA1_pair(b0=0.1):
    init = {"a": 0.1, "b": b0, "c": 0.1}
    return [Task.inverse_exponential(1.1, 0.5, T=7, init=init, name="late"),
            Task.inverse_exponential(0.5, 1.1, T=7, init=init, name="early")]


def test_time_to_fraction_interpolates():
    t = np.linspace(0, 1, 11)
    u = np.c_[t, -2 * t]  # reaches 0.9 of the final value at t = 0.9 (both signs)
    np.testing.assert_allclose(time_to_fraction(t, u, 0.9), [0.9, 0.9])
    np.testing.assert_allclose(time_to_fraction(t, u, 0.45), [0.45, 0.45])
    # against a given final value; modes that start beyond it (0), never reach it or end at 0 (inf)
    more = np.c_[t, 0.5 * t, 1 - t, np.full_like(t, 2.0)]
    np.testing.assert_allclose(time_to_fraction(t, more, 0.9, final=[1.0, 1.0, 1.0, 1.0]), [0.9, np.inf, 0.0, 0.0])
    assert np.isinf(time_to_fraction(t, more[:, 2:3], 0.9)[0])  # its own final value is 0


def test_figA1_order_and_times_match_simulation():
    pairs = figA1_pair()
    pred = predict_learning_order(pairs)
    assert [pred.labels[k] for k in pred.order] == ["late#0", "early#1"]
    assert pred.rate_order_agrees and pred.regime_ok.all()
    np.testing.assert_allclose(pred.discounted_sum, [discounted_sum(p)[0] for p in pairs])
    sim = simulated_t90(pairs, t_end=10.0)
    assert np.argsort(sim).tolist() == pred.order.tolist()
    np.testing.assert_allclose(sim, pred.times, rtol=0.01)


@pytest.mark.slow  # about 90 s on a shared core
def test_predicted_order_matches_simulation_on_random_pairs():
    rng = np.random.default_rng(11)
    checked = 0
    while checked < 5:
        T = int(rng.integers(3, 8))
        tasks = []
        for n in range(2):
            family = rng.choice(["constant", "inverse_exponential", "exponential"])
            lam = None if family == "constant" else float(rng.uniform(0.3, 1.0))
            tasks.append(Task.from_family(str(family), T=T, delta=float(rng.uniform(0.4, 1.6)), lam=lam,
                                          init={"a": 0.1, "b": 0.1, "c": 0.1}, name=f"{family}-{n}"))
        pred = predict_learning_order(tasks)
        # Compare only inside the small-initialisation regime (e.g. not a final u below u(0)) and where the two
        # times are far enough apart to be resolved at a finite learning rate.
        if not pred.regime_ok.all() or abs(np.log(pred.times[0] / pred.times[1])) < 0.1:
            continue
        sim = simulated_t90(tasks, t_end=1.5 * pred.times.max() + 2)
        assert np.argsort(sim).tolist() == pred.order.tolist(), (pred.table(), sim)
        np.testing.assert_allclose(sim, pred.times, rtol=0.05)
        checked += 1


def test_later_is_faster_breaks_where_flagged():
    # b(0) = 0.5: |b(0)| < 1, but b moves while u is learned; the rate 2A(b0)/tau ranks "late" first, the flow and
    # the trained network both rank "early" first.
    mid = predict_learning_order(figA1_pair(0.5))
    assert not mid.rate_order_agrees and not mid.regime_ok[1]
    assert [mid.labels[k] for k in mid.order] == ["early#1", "late#0"]
    assert np.argsort(simulated_t90(figA1_pair(0.5), t_end=8.0)).tolist() == mid.order.tolist()
    # b(0) = 1.2: the discount weights early steps most, A(b0) ranks the descending task first; flagged.
    big = predict_learning_order(figA1_pair(1.2))
    assert not big.regime_ok.any() and all("b(0)" in r[0] for r in big.reasons)
    assert big.discounted_sum[1] > big.discounted_sum[0]
    assert [big.labels[k] for k in big.order] == ["early#1", "late#0"]
    # A large initialisation is flagged too.
    large = predict_learning_order(Task.inverse_exponential(1.1, 0.5, T=7, init={"a": 0.9, "b": 0.1, "c": 0.9}))
    assert not large.regime_ok[0] and "large initialisation" in large.reasons[0][0]


def test_entries_integrated_together_equal_each_integrated_alone(monkeypatch):
    """Entries of equal T, outputs and tau run as the modes of one integration, each on its own output times and
    stopped where its own rates fall below 1e-9: learning times and end points those of the entry run alone, to the
    solver's tolerance."""
    import lrnn_theory.learning_order as lo
    from lrnn_theory.flow import integrate

    calls = []
    monkeypatch.setattr(lo, "integrate", lambda *args, **kw: calls.append(kw) or integrate(*args, **kw))
    pairs = figA1_pair()
    together = predict_learning_order(pairs)
    assert len(calls) == 1  # one integration for the pair
    alone = [predict_learning_order(task) for task in pairs]
    assert len(calls) == 3
    for name in ("times", "final_u", "final_b"):
        np.testing.assert_allclose(getattr(together, name), [getattr(p, name)[0] for p in alone], rtol=1e-8)
    for q in ("b", "u"):
        for part in ("radius", "angle"):
            np.testing.assert_allclose(together.polar_times[q][part], [p.polar_times[q][part][0] for p in alone],
                                       rtol=1e-8)


def test_entries_that_start_small_run_alone_so_that_their_times_do_not_depend_on_the_others(monkeypatch):
    """Below ``GROUP_MIN_INIT`` the solver's atol is coarse against |a|, |c| and shared steps would move one entry's
    learning time with its group (1e-3 relative at 1e-10): such an entry is integrated alone, exactly as without the
    others."""
    import lrnn_theory.learning_order as lo
    from lrnn_theory.flow import integrate

    calls = []
    monkeypatch.setattr(lo, "integrate", lambda *args, **kw: calls.append(kw) or integrate(*args, **kw))
    small = [task.with_init(a=[1e-7], c=[1e-7]) for task in figA1_pair()]
    together = predict_learning_order([small[0], small[1], figA1_pair()[1]])
    assert len(calls) == 3  # no group: every entry alone
    alone = predict_learning_order(small[1])
    assert together.times[1] == alone.times[0] and together.final_u[1] == alone.final_u[0]


def test_predict_learning_order_rejects_bad_input():
    with pytest.raises(LrnnInputError, match="'fraction'"):
        predict_learning_order(figA1_pair(), fraction=1.5)
    for n_points in (1, 2.5, True):  # as integrate refuses them (the output times go to it as t_eval)
        with pytest.raises(LrnnInputError, match="'n_points'"):
            predict_learning_order(figA1_pair(), n_points=n_points)
    with pytest.raises(LrnnInputError, match="'tasks'"):
        predict_learning_order([])


# ---- every kind of task ---------------------------------------------------------------------------------------------
#: Output times of the long integrations to t = 60: dt = 1e-3 to t = 10, where every 90% crossing lies (asserted; the
#: learning time is interpolated between outputs), then dt = 1 to the end (the final u). The steps do not depend on
#: the output times, so the crossings are those of 60,001 even outputs, for a fifth of the interpolated outputs.
FINE_TO_10_THEN_COARSE = np.concatenate([np.linspace(0.0, 10.0, 10001), np.linspace(10.0, 60.0, 51)[1:]])


def explicit_A_B(s_mode, b):
    """A(b) = sum over links of s conj(b)^(power), B(b) = sum over links |b|^(2 power), written out link by link."""
    s_mode = np.asarray(s_mode)
    T = s_mode.shape[-1]
    if s_mode.ndim == 1:
        return (sum(s_mode[i] * np.conj(b) ** (T - 1 - i) for i in range(T)),
                sum(abs(b) ** (2 * (T - 1 - i)) for i in range(T)))
    links = [(t, i) for t in range(T) for i in range(t + 1)]
    return (sum(s_mode[t, i] * np.conj(b) ** (t - i) for t, i in links), sum(abs(b) ** (2 * (t - i)) for t, i in links))


def rotational_tasks(outputs="final"):
    init = {"a": 0.1 * np.exp(0.4j), "b": 0.2 - 0.1j, "c": 0.1 * np.exp(-1.1j)}  # |a| = |c|: the polar closed form
    return [Task.from_family("inverse_exponential", T=5, delta=d, lam=lam, lambda_phase=phi, delta_phase=0.3,
                             init=init, name=name, outputs=outputs)
            for name, d, lam, phi in (("slow", 0.6, 0.5, 2.0), ("fast", 1.2, 0.8, 0.5))]


@pytest.mark.parametrize("outputs", ["final", "every_step"])
def test_complex_learning_order_against_long_integration_and_frozen_b_ode(outputs):
    from scipy.integrate import solve_ivp

    from lrnn_theory import integrate

    tasks = rotational_tasks(outputs)
    pred = predict_learning_order(tasks)
    assert [pred.labels[k] for k in pred.order] == ["fast#1", "slow#0"] and pred.rate_order_agrees
    # learning time: a long integration with the default (batched) solver, both tasks as the modes of one task
    long = integrate(stack_tasks(tasks), 60.0, t_eval=FINE_TO_10_THEN_COARSE)
    long_t90 = time_to_fraction(long.t, long.u, 0.9)
    assert np.all(long_t90 < 10.0)  # on the fine part of the output times
    for k, task in enumerate(tasks):
        A, B = explicit_A_B(task.singular_values[0], task.init.b[0])
        assert pred.discounted_sum[k] == pytest.approx(A, rel=1e-12) == discounted_sum(task)[0]
        assert pred.rate[k] == pytest.approx(2 * abs(A) / task.tau, rel=1e-12)
        np.testing.assert_allclose([pred.final_u[k], pred.final_b[k]], [long.u[-1, k], long.b[-1, k]], atol=1e-7)
        assert pred.times[k] == pytest.approx(long_t90[k], abs=2e-3)
        # logistic time: Re(u / u*) reaches 0.9 along tau du/dt = 2|u| (A - u B) (b frozen, |a| = |c|)
        u0 = complex(task.init.a[0] * task.init.c[0])

        def rhs(_, y):
            u = y[0] + 1j * y[1]
            du = 2 * abs(u) * (A - u * B) / task.tau
            return [du.real, du.imag]

        event = lambda _, y: np.real((y[0] + 1j * y[1]) / (A / B)) - 0.9  # noqa: E731
        hit = solve_ivp(rhs, (0, 100), [u0.real, u0.imag], events=event, rtol=1e-12, atol=1e-14).t_events[0][0]
        assert pred.times_logistic[k] == pytest.approx(hit, rel=1e-8)
    # angle first, radius later, for the u of both tasks
    assert np.all(pred.polar_times["u"]["angle"] < pred.polar_times["u"]["radius"])
    json.dumps(pred.to_dict())
    assert "fast#1" in pred.table()


def test_unbalanced_complex_mode_logistic_time_equals_the_frozen_b_integration():
    from scipy.integrate import solve_ivp

    task = Task.from_family("inverse_exponential", T=4, delta=1.0, lam=0.5, lambda_phase=0.5,
                            init={"a": 0.2, "b": 0.1 + 0.1j, "c": 0.05})
    pred = predict_learning_order(task)
    A, B = explicit_A_B(task.singular_values[0], task.init.b[0])

    def rhs(_, y):
        a, c = y[0] + 1j * y[1], y[2] + 1j * y[3]
        r = A - a * c * B
        return [(np.conj(c) * r).real, (np.conj(c) * r).imag, (np.conj(a) * r).real, (np.conj(a) * r).imag]

    event = lambda _, y: np.real((y[0] + 1j * y[1]) * (y[2] + 1j * y[3]) / (A / B)) - 0.9  # noqa: E731
    hit = solve_ivp(rhs, (0, 200), [0.2, 0, 0.05, 0], events=event, rtol=1e-12, atol=1e-14).t_events[0][0]
    assert pred.times_logistic[0] == pytest.approx(hit, rel=1e-8) and np.isfinite(pred.times[0])


def test_time_to_fraction_of_complex_u_is_along_the_final_value():
    t = np.linspace(0, 1, 11)
    u = np.exp(1j * (1 - t)) * t  # turns onto the real axis while it grows: Re(u / 1) = t cos(1 - t)
    reached = time_to_fraction(t, u[:, None], 0.5)[0]
    progress = t * np.cos(1 - t)
    j = np.argmax(progress >= 0.5)
    assert t[j - 1] < reached <= t[j]


def test_every_step_learning_times_equal_a_long_integration():
    from lrnn_theory import integrate

    tasks = [Task.from_family("inverse_exponential", T=4, delta=d, lam=0.6, outputs="every_step",
                              init={"a": 0.1, "b": 0.1, "c": 0.1}) for d in (0.4, 1.0)]
    pred = predict_learning_order(tasks)
    long = integrate(stack_tasks(tasks), 60.0, t_eval=FINE_TO_10_THEN_COARSE)  # both tasks as the modes of one task
    long_t90 = time_to_fraction(long.t, long.u, 0.9)
    assert np.all(long_t90 < 10.0)  # on the fine part of the output times
    for k, task in enumerate(tasks):
        assert pred.times[k] == pytest.approx(long_t90[k], abs=2e-3)
        assert pred.discounted_sum[k] == pytest.approx(explicit_A_B(task.singular_values[0], 0.1)[0], rel=1e-12)


# moved from test_complex.py (formerly lrnn_theory.complex.rotational_learning_order)
def test_rotational_learning_order_larger_radii_first():
    tasks = [Task.from_family("inverse_exponential", T=5, delta=1.0, lam=R, lambda_phase=np.pi / 6, name=f"R={R}")
             for R in (0.4, 0.9, 1.0, 1.05)]
    pred = predict_learning_order(tasks, max_time=15.0, n_points=1501)
    assert [pred.labels[k].split("#")[0] for k in pred.order] == ["R=1.05", "R=1.0", "R=0.9", "R=0.4"]
    assert np.all(np.diff(pred.polar_times["u"]["radius"]) < 0)
    json.dumps(pred.to_dict())


def test_angular_distance_from_b0_sets_the_order():
    """App. O: for b(0) = +0.2, angles +-pi/4 learn fast and +-3pi/4 slow; for b(0) = -0.2 reversed; small effect
    for a small b(0)."""
    def times(b0):
        tasks = [Task.from_family("inverse_exponential", T=5, delta=1.0, lam=1.0, lambda_phase=phi,
                                  init={"a": 0.1, "b": b0, "c": 0.1}) for phi in (np.pi / 4, -3 * np.pi / 4)]
        return predict_learning_order(tasks, max_time=8.0, n_points=801).polar_times["u"]["radius"]

    near, far = times(0.2)
    assert near < 0.8 * far
    near, far = times(-0.2)
    assert far < 0.8 * near
    near, far = times(0.02)
    assert near < far < 1.1 * near


def test_every_mode_of_a_complex_task_runs_as_complex():
    """A mode whose values happen to be real keeps its task's number type (one engine per task): its entry is
    complex, and its learning time equals that of the same mode run as a real task."""
    from lrnn_theory.learning_order import _stack

    task = Task([[0.25, 0.5, 1.0], [0.3j, 0.6, 1.2]])
    entries, _ = _stack(task)
    assert all(np.iscomplexobj(e.singular_values) and np.iscomplexobj(e.init.a) for e in entries)
    pred = predict_learning_order(task)
    real = predict_learning_order(Task([[0.25, 0.5, 1.0]]))
    assert np.iscomplexobj(pred.final_u)
    assert pred.times[0] == pytest.approx(real.times[0], rel=1e-6)
    assert pred.rate[0] == pytest.approx(real.rate[0], rel=1e-12)

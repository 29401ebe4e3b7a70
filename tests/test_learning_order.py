"""Result 1, learning order: the discounted task sum A(b0) and time to a fraction of u* rank tasks (Fig. A1).

The predicted order and 90% times are held against trained networks from the validation harness.
"""
import numpy as np
import pytest

from lrnn_theory import LrnnInputError, Task
from lrnn_theory.learning_order import discounted_sum, predict_learning_order, time_to_fraction


# ---- learning order -------------------------------------------------------------------------------------------------
def simulated_t90(tasks, t_end, lr=0.005):
    """Time to reach 90% of the final u in a trained network, per task (harness, population data)."""
    from lrnn_theory.validation import simulate

    out = []
    for task in tasks:
        traj = simulate(task, lr=lr, steps=int(t_end / lr), record_every=2)  # t resolved to 2 lr
        out.append(time_to_fraction(traj.t, traj.u, 0.9)[0])
    return np.array(out)


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


def test_predict_learning_order_rejects_bad_input():
    with pytest.raises(LrnnInputError, match="'fraction'"):
        predict_learning_order(figA1_pair(), fraction=1.5)
    with pytest.raises(LrnnInputError, match="'tasks'"):
        predict_learning_order([])

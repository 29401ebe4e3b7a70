"""Sensory integration: the Neurogym stimulus generator, the theory's predictions, trained networks (Fig. 6, A8)."""
import json

import numpy as np
import pytest

from lrnn_theory import Task
from lrnn_theory.cli import main
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.sensory import (expected_extrapolation_loss, global_solution, sensory_targets, sensory_trials,
                                 stimulus_second_moment, target_weights)


# ---- stimuli ------------------------------------------------------------------------------------------------------
def test_generator_is_seeded_and_has_the_stated_statistics():
    X, cond = sensory_trials(40000, 3, seed=1, return_conditions=True)
    np.testing.assert_array_equal(X, sensory_trials(40000, 3, seed=1))
    assert not np.array_equal(X[:10], sensory_trials(10, 3, seed=2))
    assert X.shape == (40000, 3, 4)
    # every channel 0.5 +- coh_m / 200 plus noise of std sigma / sqrt(dt) = 0.1, independent across steps
    np.testing.assert_allclose(X.mean(axis=(0, 1)), 0.5, atol=0.005)
    e_d2 = np.mean(np.array([5.0, 15.0, 50.0]) ** 2) / 3 / 200**2
    np.testing.assert_allclose(X.var(axis=0), e_d2 + 0.01, rtol=0.05)
    noise = X - X.mean(axis=1, keepdims=True)  # the trial's stimulus is constant over steps: only noise varies
    np.testing.assert_allclose(noise.var(axis=0).sum(axis=0) * 3 / 2, 0.01 * 3, rtol=0.05)
    # ring channels of a modality are mirror images around 0.5, and both modalities point the same way
    stim = X.mean(axis=1)
    g = cond["ground_truth"]
    assert np.mean(np.sign(stim[:, 0] - stim[:, 1]) == np.where(g == 0, 1, -1)) > 0.75
    assert np.mean((stim[:, 0] - stim[:, 1]) * (stim[:, 2] - stim[:, 3]) > 0) > 0.6


def test_trial_cut_follows_neurogym_timing():
    X = sensory_trials(50, 13, cut="trial", seed=0)
    # fixation 300 ms = steps 0-2 and decision (from step 10) carry no stimulus; steps 3-9 are stimulus
    assert np.all(X[:, :3] == 0) and np.all(X[:, 10:] == 0) and np.all(X[:, 3:10] != 0)
    X = sensory_trials(50, 5, cut="trial", timing={"fixation": 0.0}, seed=0)
    assert np.all(X != 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"cut": "middle"}, "'cut'"), ({"dt": 0.0}, "'dt'"), ({"cohs": []}, "'cohs'"), ({"sigma": -1.0}, "'sigma'"),
    ({"timing": {"delay": 100}}, "'timing'"), ({"seed": -1}, "'seed'"),
])
def test_generator_bad_parameters(kwargs, match):
    with pytest.raises(LrnnInputError, match=match):
        sensory_trials(10, 4, **kwargs)


def test_generator_matches_neurogym_statistics():
    """Means and second moments per channel and step within sampling error of neurogym's own trials."""
    pytest.importorskip("neurogym")
    from neurogym.envs.native.multisensory import MultiSensoryIntegration

    n = 1500
    env = MultiSensoryIntegration()
    env.seed(0)
    trials = []
    for _ in range(n):
        env.new_trial()
        trials.append(np.array(env.ob[:, 1:], dtype=float))  # drop the fixation channel
    ours = sensory_trials(n, 11, cut="trial", seed=0)
    theirs = np.stack(trials)
    assert theirs.shape == ours.shape == (n, 11, 4)
    np.testing.assert_array_equal(theirs == 0, ours == 0)  # the same periods without stimulus
    on = slice(3, 10)
    a, b = ours[:, on], theirs[:, on]
    products_a = np.einsum("pti,ptj->ptij", a, a).reshape(n, 7, 16)
    products_b = np.einsum("pti,ptj->ptij", b, b).reshape(n, 7, 16)
    for xa, xb in ((a, b), (products_a, products_b)):
        z = (xa.mean(0) - xb.mean(0)) / np.sqrt((xa.var(0) + xb.var(0)) / n)
        assert np.max(np.abs(z)) < 5


def test_targets_and_global_solution():
    X = sensory_trials(5, 6, seed=0)
    np.testing.assert_allclose(sensory_targets(X, "mean"), X.mean(axis=1))
    np.testing.assert_allclose(sensory_targets(X, "late"), 0.1 * np.einsum("t,ptx->px", np.arange(1, 7), X))
    np.testing.assert_allclose(sensory_targets(X, "early"), np.einsum("t,ptx->px", 1 / np.arange(1, 7), X))
    assert global_solution("mean", 4) == {"recurrent_sv": 1.0, "io_sv": 0.25}
    assert global_solution("sum", 4) == {"recurrent_sv": 1.0, "io_sv": 1.0}
    with pytest.raises(LrnnInputError, match="'target'"):
        target_weights("median", 4)


def test_expected_extrapolation_loss_against_monte_carlo():
    """Closed form against the loss of the exact global-solution network on sampled stimuli."""
    T, Tp = 4, 50
    X = sensory_trials(20000, Tp, seed=3)
    moment = np.mean(np.sum(X.sum(axis=1) ** 2, axis=1))
    assert moment == pytest.approx(stimulus_second_moment(Tp), rel=0.02)
    mean_net_output = X.sum(axis=1) / T  # W_h = I, W_y W_x = I / T, run for T' steps
    loss = 0.5 * np.mean(np.sum((mean_net_output - sensory_targets(X, "mean")) ** 2, axis=1))
    assert loss == pytest.approx(expected_extrapolation_loss("mean", T, Tp)[0], rel=0.02)
    assert expected_extrapolation_loss("sum", T, [50, 100]).tolist() == [0.0, 0.0]
    # grows with |T' - T|
    assert np.all(np.diff(expected_extrapolation_loss("mean", T, [4, 50, 75, 100])) > 0)


def test_estimated_task_of_sensory_data():
    X = sensory_trials(400, 6, seed=0)
    for target in ("sum", "late", "early"):
        est = Task.from_data(X, sensory_targets(X, target), normalisation="least_squares").estimate
        np.testing.assert_allclose(est.task.singular_values, np.tile(target_weights(target, 6), (4, 1)), atol=1e-9)
        assert est.diagnostic["off_diagonal_fraction"] < 1e-18
    d = Task.from_data(X, sensory_targets(X, "sum")).estimate.diagnostic
    # raw stimuli: far from white (mean 0.5, correlated over steps), yet nearly shared singular vectors
    assert d["mean_fraction"] > 0.9 and d["cross_time_fraction"] > 0.5 and d["condition_number"] > 100
    assert d["off_diagonal_fraction"] < 0.01


# ---- the aligned start of an unaligned network ---------------------------------------------------------------------
def test_aligned_start_of_random_and_aligned_networks():
    from lrnn_theory.sensory import aligned_start

    rng = np.random.default_rng(3)
    W_x, W_h, W_y = (0.1 * rng.standard_normal(shape) for shape in ((5, 3), (5, 5), (2, 5)))
    U, V = np.linalg.qr(rng.standard_normal((2, 2)))[0], np.linalg.qr(rng.standard_normal((3, 2)))[0]
    start = aligned_start(W_x, W_h, W_y, U, V, s_last=[1.0, -2.0])
    # written out: mode 1 grows along W_x v_1 + W_y^T u_1, mode 2 along the part of W_x v_2 - W_y^T u_2 orthogonal to it
    g1 = W_x @ V[:, 0] + W_y.T @ U[:, 0]
    g2 = W_x @ V[:, 1] - W_y.T @ U[:, 1]
    q1 = g1 / np.linalg.norm(g1)
    r2 = g2 - (q1 @ g2) * q1
    q2 = r2 / np.linalg.norm(r2)
    np.testing.assert_allclose(start["a"], [np.linalg.norm(g1) / 2, np.linalg.norm(r2) / 2], rtol=1e-12)
    np.testing.assert_allclose(start["c"], [np.linalg.norm(g1) / 2, -np.linalg.norm(r2) / 2], rtol=1e-12)
    np.testing.assert_allclose(start["b"], [q1 @ W_h @ q1, q2 @ W_h @ q2], rtol=1e-12)
    # fewer hidden units than modes: the modes left over start (and stay) at zero
    short = aligned_start(W_x[:1], W_h[:1, :1], W_y[:, :1], U, V)
    assert short["a"][1] == short["b"][1] == short["c"][1] == 0.0 and short["a"][0] > 0
    with pytest.raises(LrnnInputError, match="'W_x', 'W_h', 'W_y'"):
        aligned_start(W_x, W_h[:4], W_y, U, V)
    with pytest.raises(LrnnInputError, match="'U', 'V'"):
        aligned_start(W_x, W_h, W_y, U, V[:2])
    with pytest.raises(LrnnInputError, match="'s_last'"):
        aligned_start(W_x, W_h, W_y, U, V, s_last=[1.0, 2.0, 3.0])


def test_record_spacing_keeps_the_coarse_records():
    from lrnn_theory.validation.figures.sensory import record_spacing

    for steps in (10000, 40000, 60000, 32000, 777):
        coarse, every = record_spacing(steps, 300, 10, keep_coarse=True)
        assert coarse % every == 0 and (coarse // every >= 10 or every == 1)
    assert record_spacing(32000, 300, 10, keep_coarse=False) == (106, 10)


# ---- the hidden-layer gradient per training step (Fig. A8) on a network known to be on a period-2 orbit -------------
def _two_cycle_network(eta=1.1):
    """A 4-unit LRNN on an exact period-2 orbit of gradient descent, with its two states: T = 1, inputs e_1..e_4,
    targets y = x (mean_half over P = 4 samples and N_y = 4 outputs), W_x = W_y = a I. Gradient descent keeps the
    weights balanced and moves a by f(a) = a + eta (1 - a^2) a with eta = lr / 16; for eta = 1.1 the fixed point a = 1
    is unstable (f'(1) = 1 - 2 eta) and f(f(a)) = a has the roots a_1 != a_2 of a stable 2-cycle."""
    from scipy.optimize import brentq

    from lrnn_theory.validation.network import LRNN

    f = lambda a: a + eta * (1 - a * a) * a  # noqa: E731
    a1 = brentq(lambda a: f(f(a)) - a, 0.5, 0.95)
    a2 = f(a1)
    X = np.eye(4)[:, None, :]
    Y = X[:, 0, :].copy()
    net = LRNN(a1 * np.eye(4), np.zeros((4, 4)), a1 * np.eye(4))
    return net, X, Y, 16 * eta, a1, a2


def test_per_step_hidden_change_on_a_two_cycle():
    """On the 2-cycle h_T = a x alternates between a_1 x and a_2 x: per step ||h_T(k+1) - h_T(k)|| = |a_2 - a_1| for
    every sample, at both phases; sampled every second step h_T does not move at all (what an even record stride
    sees)."""
    from lrnn_theory.validation.figures.sensory import hidden_change_tail, next_step_hidden_change, replay_tail
    from lrnn_theory.validation.network import LRNN

    net, X, Y, lr, a1, a2 = _two_cycle_network()
    assert abs(a2 - a1) > 0.3
    tail = replay_tail(net.weights, X, Y, lr, steps=9)  # the harness, h_T at every step
    np.testing.assert_allclose(tail["network"].W_x, a2 * np.eye(4), atol=1e-9)  # odd number of steps: other phase
    H = tail["H"]
    direct = np.array([[a * x[0] for x in X] for a in [a1, a2] * 5])  # h_T = W_x x_1 written out
    np.testing.assert_allclose(H, direct, atol=1e-9)
    summary = hidden_change_tail(H)
    assert summary["mean"] == pytest.approx(abs(a2 - a1), rel=1e-9)
    assert summary["direction_change_fraction"] == 1.0 and summary["two_step_over_one_step"] < 1e-8
    # the next step's change from either phase: the same |a_2 - a_1|, whatever the record stride
    for a in (a1, a2):
        phase = LRNN(a * np.eye(4), np.zeros((4, 4)), a * np.eye(4))
        assert next_step_hidden_change(phase, X, Y, lr) == pytest.approx(abs(a2 - a1), rel=1e-9)
    assert np.max(np.abs(H[2::2] - H[0:-2:2])) < 1e-9  # every second step: one phase only


def test_fig6_over_training_statements_can_fail():
    from lrnn_theory.validation.figures.sensory import fig6_features

    T_test = ["50", "75", "100"]
    steps = np.arange(100.0)
    rising = {Tp: list(w * (1 - np.exp(-steps / 10))) for Tp, w in zip(T_test, [68.0, 162.0, 297.0])}
    falling = {Tp: list(1e3 * np.exp(-steps / 5)) for Tp in T_test}
    data = {"mean": {"recurrent_sv": [1.0] * 4, "io_sv": [0.25] * 4, "loss_over_training": {"network": rising},
                     "extrapolation_loss": dict(zip(T_test, [68.0, 162.0, 297.0])),
                     "extrapolation_loss_zero_output": dict(zip(T_test, [0.5] * 3))},
            "sum": {"recurrent_sv": [1.0] * 4, "io_sv": [1.0] * 4, "loss_over_training": {"network": falling},
                    "extrapolation_loss": dict(zip(T_test, [0.01] * 3)),
                    "extrapolation_loss_zero_output": dict(zip(T_test, [1250.0, 2800.0, 5000.0]))}}
    over = [f for f in fig6_features(data, T=4) if f["statement"].startswith("bottom row")]
    assert len(over) == 2 and all(f["holds"] and f["by_construction"] is False for f in over)
    data["sum"]["loss_over_training"]["network"]["100"] = list(1e3 * (1 - np.exp(-steps / 5)))  # does not fall
    data["mean"]["loss_over_training"]["network"]["75"] = list(400.0 * (1 - np.exp(-steps / 10)))  # above T' = 100
    assert not any(f["holds"] for f in fig6_features(data, T=4) if f["statement"].startswith("bottom row"))


# ---- trained networks --------------------------------------------------------------------------------------------
def _trained(target, steps):
    from lrnn_theory.validation.figures.sensory import extrapolation, run_sensory

    run = run_sensory(target, 4, n_samples=48, steps=steps, seed=0, records=20)
    return run, extrapolation(run, [50, 75, 100], 500, seed=0)


@pytest.fixture(scope="module")
def mean_run():
    return _trained("mean", 25000)


@pytest.fixture(scope="module")
def mean_overlay(mean_run):
    """``ode_overlay`` of the mean run with the aligned control: one computation for the tests below (the control
    only adds ``entry["correlated"]["aligned_control"]``)."""
    from lrnn_theory.validation.figures.sensory import ode_overlay

    return ode_overlay(mean_run[0], control=True)


def test_mean_network_reaches_global_solution_and_does_not_extrapolate(mean_run):
    run, ext = mean_run
    np.testing.assert_allclose(run["recurrent_sv"][-1], 1.0, rtol=0.02)
    np.testing.assert_allclose(run["io_sv"][-1], 0.25, rtol=0.02)
    losses = [ext["network"][k] for k in ("50", "75", "100")]
    assert losses[0] > 30 and np.all(np.diff(losses) > 0)  # grows with |T' - T|
    for k in ("50", "75", "100"):
        assert ext["network"][k] == pytest.approx(ext["theory_on_samples"][k], rel=0.05)
        assert ext["network"][k] == pytest.approx(ext["theory_expected"][k], rel=0.1)
    assert run["lr"] < run["lr_bound"]


def test_overlay_has_both_theories_and_the_correlated_one_tracks_the_network(mean_overlay):
    """Mean target on raw stimuli: the correlated theory's time course follows the network's singular values, the
    white one (lambda = I) does not (it ends at u = sigma ~ 1 instead of 1/T); started aligned, the network follows
    the correlated theory more closely still (what remains is not the alignment phase)."""
    entry = mean_overlay["entry"]
    worst = {}
    for name in ("correlated", "white"):
        errors = entry[name]["max_abs_error"]
        assert set(errors) == {"u", "b"} and len(errors["u"]) == len(errors["b"]) == 4
        assert len(entry[name]["max_abs_error_filter_per_lag"]) == 4 and entry[name]["diverged"] is None
        worst[name] = max(np.max(errors["u"]), np.max(errors["b"]))
    assert entry["correlated"]["task"]["input_covariance"] is not None
    assert entry["white"]["task"]["input_covariance"] is None
    assert worst["correlated"] < 0.15 < 0.5 < worst["white"]
    np.testing.assert_allclose(np.abs(entry["correlated"]["final"]["u"]), 0.25, atol=0.01)
    assert np.max(np.abs(entry["white"]["final"]["u"])) > 0.9
    control = entry["correlated"]["aligned_control"]
    assert control["max_abs_error_all"] < 0.08 and control["max_abs_error_all"] < worst["correlated"]
    assert "alignment" in entry["why_they_can_differ"] and "rank" in entry["compared"]


def test_correlated_overlay_equals_an_independent_integration(mean_run, mean_overlay):
    """The overlay is ``integrate`` of the task ``Task.from_data(X, Y, loss="mean_half")`` from the aligned start, on
    the clock of the loss convention: one step of mean_half (1/(P N_y) sum 1/2 ||r||^2) on mean statistics is
    lr / N_y of theory time."""
    from lrnn_theory import integrate
    from lrnn_theory.sensory import aligned_start

    run, _ = mean_run
    overlay = mean_overlay
    task = Task.from_data(run["X"], run["Y"], loss="mean_half")
    assert task.input_covariance is not None
    # the task's statistics by hand: means over the samples in the fitted bases
    U, V, P = task.estimate.U, task.estimate.V, run["X"].shape[0]
    sigma = np.einsum("yk,py,ptx,xk->kt", U, run["Y"], run["X"], V) / P
    lam = np.einsum("xk,pix,pjy,yk->kij", V, run["X"], run["X"], V) / P
    np.testing.assert_allclose(task.singular_values, sigma, atol=1e-12)
    np.testing.assert_allclose(task.input_covariance.matrix, lam, atol=1e-12)
    np.testing.assert_allclose(overlay["entry"]["correlated"]["task"]["singular_values"], sigma, atol=1e-12)
    t = run["steps"] * run["lr"] / run["Y"].shape[1]
    np.testing.assert_allclose(overlay["t"], t, rtol=1e-14)
    start = aligned_start(*(w[0] for w in run["weights"]), U, V, s_last=sigma[:, -1])
    traj = integrate(task.with_init(a=start["a"], b=start["b"], c=start["c"]), float(t[-1]), t_eval=t)
    curves = overlay["curves"]["correlated"]
    np.testing.assert_allclose(curves["abs_u"], -np.sort(-np.abs(traj.u), axis=1), atol=1e-10)
    np.testing.assert_allclose(curves["abs_b"], -np.sort(-np.abs(traj.b), axis=1), atol=1e-10)
    white = integrate(Task(sigma, init={"a": start["a"], "b": start["b"], "c": start["c"]}), float(t[-1]), t_eval=t)
    np.testing.assert_allclose(overlay["curves"]["white"]["abs_u"], -np.sort(-np.abs(white.u), axis=1), atol=1e-10)
    # the network side: singular values of W_y W_x and W_h at the records
    W_x, W_h, W_y = run["weights"]
    np.testing.assert_allclose(overlay["network"]["io_sv"], np.linalg.svd(W_y @ W_x, compute_uv=False), atol=1e-12)
    np.testing.assert_allclose(overlay["network"]["recurrent_sv"], np.linalg.svd(W_h, compute_uv=False), atol=1e-12)


def test_loss_over_training_against_a_direct_forward_pass(mean_run):
    """The bottom row of Fig. 6: the network's loss at T' over training ends at ``extrapolation``'s; the theory's
    equals the map sum_t U diag(u b^(T'-t)) V^T x_t written out step by step."""
    from types import SimpleNamespace

    from lrnn_theory.validation.figures.sensory import loss_over_training

    run, ext = mean_run
    rng = np.random.default_rng(0)  # any modes and bases: the map is what is checked
    n = len(run["steps"])
    curves = {"u": rng.uniform(0.1, 0.4, (n, 4)), "b": rng.uniform(0.8, 1.01, (n, 4))}
    U, V = (np.linalg.qr(rng.standard_normal((4, 4)))[0] for _ in range(2))
    out = loss_over_training(run, curves, SimpleNamespace(U=U, V=V), [50], 500, seed=0, stride=97)
    assert out["network"]["50"][-1] == pytest.approx(ext["network"]["50"], rel=1e-10)
    X = sensory_trials(500, 50, seed=1)
    Y = sensory_targets(X, "mean")
    record = int(np.flatnonzero(np.asarray(run["steps"]) == out["steps"][1])[0])
    u, b = curves["u"][record], curves["b"][record]
    y = np.zeros_like(Y)
    for t in range(50):  # input at step t + 1 reaches the output through b^(T' - t - 1)
        y += X[:, t] @ (U @ np.diag(u * b ** (49 - t)) @ V.T).T
    assert out["theory"]["50"][1] == pytest.approx(0.5 * np.mean(np.sum((y - Y) ** 2, axis=1)), rel=1e-9)


@pytest.mark.slow
def test_sum_network_reaches_global_solution_and_extrapolates():
    run, ext = _trained("sum", 32000)
    np.testing.assert_allclose(run["recurrent_sv"][-1], 1.0, rtol=0.02)
    np.testing.assert_allclose(run["io_sv"][-1], 1.0, rtol=0.02)
    mean_theory = expected_extrapolation_loss("mean", 4, [50, 75, 100])
    # near zero: below 1% of the mean network's loss at every T' (which is 68, 162, 297)
    assert np.all(np.array([ext["network"][k] for k in ("50", "75", "100")]) < 0.01 * mean_theory)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig6", "figA8"])
def test_reproduce_quick(tmp_path, name):
    assert main(["reproduce", name, "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    data = json.loads((tmp_path / f"{name}.json").read_text())
    targets = ("mean", "sum") if name == "fig6" else ("late", "early")
    course = {}
    for target in targets:
        overlay = data[target]["ode_overlay"]
        for theory in ("correlated", "white"):  # both theories, errors per rank for u and b over the time course
            errors = overlay[theory]["max_abs_error"]
            assert len(errors["u"]) == len(errors["b"]) == 4
            course[target, theory] = max(max(errors["u"]), max(errors["b"]))
        assert course[target, "correlated"] < course[target, "white"]
        assert "time_mapping" in overlay and "initial_modes" in overlay and "aligned_control" in overlay["correlated"]
    # the top-level error covers the correlated theory's time course, not only the end points
    covered = targets if name == "fig6" else ("late",)
    assert data["max_abs_error"] == pytest.approx(max(course[t, "correlated"] for t in covered))
    if name == "fig6":
        assert data["max_abs_error_end_points"] < 0.02 and data["max_abs_error"] < 0.5
        assert course["mean", "correlated"] < 0.1 < 0.5 < course["mean", "white"]
        for target in ("mean", "sum"):
            entry = data[target]
            assert set(entry["extrapolation_loss"]) == {"50", "75", "100"}
            assert len(entry["recurrent_sv"]) == len(entry["io_sv"]) == 4 and entry["lr"] > 0
        assert data["mean"]["predicted"] == {"recurrent_sv": 1.0, "io_sv": 0.25}
        assert data["mean"]["ode_overlay"]["lr_dependence"]["ratio"] > 0.8  # not discretisation: the alignment phase
        over = data["mean"]["loss_over_training"]
        assert set(over["network"]) == set(over["theory"]) == {"50", "75", "100"}
    else:
        assert data["late"]["hidden_gradient_final"] < 1e-3 < data["early"]["hidden_gradient_final"]
        assert data["max_abs_error"] < 0.6
        # per training step: early importance ends on a period-2 orbit, dH_T/dt about 0.3 (paper), replay exact
        early = data["early"]["hidden_gradient_last_tenth"]
        assert 0.2 < early["mean"] < 0.45 and early["two_step_over_one_step"] < 0.05
        assert data["early"]["tail_replay_max_weight_difference"] < 1e-12 and "per training step" in data[
            "hidden_gradient_measured"]
    assert all(isinstance(f["by_construction"], bool) for f in data["paper_features"])


def test_notes_sum_learning_rates_straddle_the_stability_bound():
    """Notes section 10: with loss (1/2P) sum ||r||^2 the sum target oscillates at lr 0.05 and converges at 0.01,
    the mean target converges at 0.05. That loss is N_y = 4 times mean_half, so its bound is 2/lambda_max / 4."""
    from lrnn_theory.validation.figures.sensory import stable_lr_bound

    X = sensory_trials(256, 4, seed=0)
    I = np.eye(4)
    sum_bound = stable_lr_bound(X, sensory_targets(X, "sum"), (I, I, I)) / 4
    mean_bound = stable_lr_bound(X, sensory_targets(X, "mean"), (0.5 * I, I, 0.5 * I)) / 4
    assert 0.01 < sum_bound < 0.05 < mean_bound


def test_docstring_examples():
    import doctest

    import lrnn_theory.sensory as module
    import lrnn_theory.validation.figures.sensory as figures

    for mod in (module, figures):
        result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0

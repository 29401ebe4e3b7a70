"""The numpy validation harness: gradients, time mapping, data modes, initialisations, read-out, divergence."""
import functools

import numpy as np
import pytest

from lrnn_theory import DivergenceError, LrnnInputError, Task, integrate
from lrnn_theory.flow import compile_flow
from lrnn_theory.losses import output_loss
from lrnn_theory.trajectory import mode_energy
from lrnn_theory.validation import LRNN, TrainingResult, read_modes, simulate, train_lrnn
from lrnn_theory.validation.data import (fit_user_task, random_orthonormal, sample_targets, task_correlations,
                                         whitened_inputs, whitening_error)
from lrnn_theory.validation.harness import UserData, fitted_hidden_basis, hessian_top_eigenvalue, set_up

RNG = np.random.default_rng(1234)


def random_net(rng, N_x=2, N_h=3, N_y=2, scale=0.6):
    return LRNN(rng.normal(0, scale, (N_h, N_x)), rng.normal(0, scale, (N_h, N_h)), rng.normal(0, scale, (N_y, N_h)))


def unrolled_output(net, X):
    """sum_i W_y W_h^(T-i) W_x x_i with explicit matrix powers (independent of the recurrence)."""
    T = X.shape[1]
    maps = [net.W_y @ np.linalg.matrix_power(net.W_h, T - i) @ net.W_x for i in range(1, T + 1)]
    return sum(X[:, i - 1] @ maps[i - 1].T for i in range(1, T + 1))


def finite_difference_grads(loss_fn, net, eps=1e-6):
    grads = []
    for name in ("W_x", "W_h", "W_y"):
        W = getattr(net, name)
        g = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            old = W[idx]
            W[idx] = old + eps
            plus = loss_fn(net)
            W[idx] = old - eps
            minus = loss_fn(net)
            W[idx] = old
            g[idx] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


# ---- network and gradients ----------------------------------------------------------------------------------------
def test_forward_matches_unrolled_map_for_any_length():
    rng = np.random.default_rng(0)
    net = random_net(rng)
    for T in (1, 2, 5, 9):
        X = rng.normal(size=(4, T, 2))
        np.testing.assert_allclose(net.forward(X), unrolled_output(net, X), rtol=1e-12, atol=1e-12)
        maps = net.end_to_end(T)
        np.testing.assert_allclose(np.einsum("tyx,ptx->py", maps, X), unrolled_output(net, X), atol=1e-12)


@pytest.mark.parametrize("loss", ["sum_half", "sum", "mean_half", "mean"])
def test_bptt_gradients_match_finite_differences(loss):
    rng = np.random.default_rng(1)
    net = random_net(rng)
    X = rng.normal(size=(5, 4, 2))
    Y = rng.normal(size=(5, 2))
    out = output_loss(loss)
    value, grads = net.loss_and_grad_samples(X, Y, out)
    r = unrolled_output(net, X) - Y
    expected_value = {"sum_half": 0.5 * np.sum(r**2), "sum": np.sum(r**2), "mean_half": 0.5 * np.mean(r**2),
                      "mean": np.mean(r**2)}[loss]
    assert value == pytest.approx(expected_value, rel=1e-12)
    fd = finite_difference_grads(lambda n: out(unrolled_output(n, X) - Y)[0], net)
    for g, f in zip(grads, fd):
        np.testing.assert_allclose(g, f, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("T", [1, 2, 5, 9])
@pytest.mark.parametrize("adjoint", ["scan", "recursion"])
def test_population_gradient_matches_finite_differences(T, adjoint, monkeypatch):
    """Both adjoints of ``_lag_gradients``: the doubling scan (small networks) and the step-by-step recursion."""
    if adjoint == "recursion":
        monkeypatch.setattr(LRNN, "SCAN_LIMIT", 0)
    rng = np.random.default_rng(2)
    net = random_net(rng, N_x=3, N_h=4, N_y=2)
    C = rng.normal(size=(T, 2, 3))

    def direct_loss(n):
        return 0.5 * sum(np.sum((C[i - 1] - n.W_y @ np.linalg.matrix_power(n.W_h, T - i) @ n.W_x) ** 2)
                         for i in range(1, T + 1))

    value, grads = net.loss_and_grad_population(C)
    assert value == pytest.approx(direct_loss(net), rel=1e-12)
    for g, f in zip(grads, finite_difference_grads(direct_loss, net)):
        np.testing.assert_allclose(g, f, rtol=1e-6, atol=1e-8)
    # lag powers that _lag_powers did not make (no squarings kept with them): the same gradients
    powers = net._lag_powers(T)  # row block k: (W_h^k W_x)^T
    D = powers @ net.W_y.T - C[::-1].transpose(0, 2, 1).reshape(-1, 2)
    for g, h in zip(net._lag_gradients(D, powers.copy()), grads):
        np.testing.assert_array_equal(g, h)


def test_population_loss_equals_sample_loss_on_exactly_whitened_data():
    rng = np.random.default_rng(3)
    T, N = 4, 3
    net = random_net(rng, N_x=N, N_h=5, N_y=N)
    C = rng.normal(size=(T, N, N))
    X = whitened_inputs(rng, 20, T, N)
    assert whitening_error(X) < 1e-12
    Y = sample_targets(X, C)
    np.testing.assert_allclose(Y, sum(X[:, i] @ C[i].T for i in range(T)), atol=1e-12)
    pop_value, pop_grads = net.loss_and_grad_population(C)
    smp_value, smp_grads = net.loss_and_grad_samples(X, Y)
    assert smp_value == pytest.approx(pop_value, rel=1e-10)
    for g, h in zip(pop_grads, smp_grads):
        np.testing.assert_allclose(g, h, atol=1e-10)


def test_loss_objects_reuse_their_buffers_only_for_networks_of_their_shape():
    """A loss object keeps its lag buffers between calls: networks of other widths get new ones, and a result does
    not change when the same object evaluates other networks in between (the gradients are never its buffers)."""
    from lrnn_theory.validation.network import EveryStepPopulationLoss, LagWorkspace, PopulationLoss, SampleLoss

    rng = np.random.default_rng(13)
    T = 5
    X, Y = rng.normal(size=(12, T, 2)), rng.normal(size=(12, 2))
    losses = [PopulationLoss(rng.normal(size=(T, 2, 2))), EveryStepPopulationLoss(rng.normal(size=(T, T, 2, 2))),
              SampleLoss(X, Y)]
    nets = [random_net(rng, N_h=3), random_net(rng, N_h=5), random_net(rng, N_h=3)]
    for loss in losses:
        first = loss(nets[0])
        kept = [np.array(g) for g in first[1]]
        for net in nets:  # every call against a new object of the same data (new buffers)
            value, grads = loss(net)
            fresh = type(loss).__new__(type(loss))
            fresh.__dict__.update(loss.__dict__, _workspace=LagWorkspace())
            expected_value, expected_grads = fresh(net)
            assert value == expected_value
            for g, h in zip(grads, expected_grads):
                np.testing.assert_array_equal(g, h)
        for g, h in zip(first[1], kept):  # the first call's gradients were not written into
            np.testing.assert_array_equal(g, h)
    direct = nets[0].loss_and_grad_samples(X, Y)
    for g, h in zip(losses[2](nets[0])[1], direct[1]):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-13)


def _lag_losses(rng):
    """One loss object of each kind that keeps lag buffers, with networks of their shape (N_h = 4 runs the adjoint
    scan, N_h = 20 the recursion)."""
    from lrnn_theory.validation.network import EveryStepPopulationLoss, PopulationLoss, SampleLoss

    T, N = 6, 2
    X, Y = rng.normal(size=(15, T, N)), rng.normal(size=(15, N))
    task = Task.inverse_exponential(delta=[1.0, 0.5], lam=[0.7, 1.1], T=T, input_covariance={"lag": [1.0, 0.3]})
    moments = set_up(task, hidden=3, seed=3).data.moments  # CorrelatedMoments: N_x = N_y = 2
    assert moments is not None
    losses = {"population": PopulationLoss(rng.normal(size=(T, N, N)), 0.37),
              "every step": EveryStepPopulationLoss(rng.normal(size=(T, T, N, N))),
              "samples": SampleLoss(X, Y, 0.5), "correlated": moments.loss_and_grad}
    return losses, [random_net(rng, N_x=N, N_h=N_h, N_y=N, scale=0.4) for N_h in (4, 20)]


def _same_results(got, want):
    assert got[0] == want[0]
    for g, h in zip(got[1], want[1]):
        np.testing.assert_array_equal(g, h)


@pytest.mark.parametrize("clone", ["deepcopy", "pickle"])
def test_copied_and_pickled_loss_objects_compute_the_same_losses_and_gradients(clone):
    """The lag buffers are scratch views of one another, not state: a deep copy or a pickle of a loss object that
    has been used (buffers made) evaluates every network exactly as the original does."""
    import copy
    import pickle

    copier = copy.deepcopy if clone == "deepcopy" else (lambda obj: pickle.loads(pickle.dumps(obj)))
    losses, nets = _lag_losses(np.random.default_rng(21))
    for name, loss in losses.items():
        for net in nets:
            loss(net)  # buffers of this shape made (and the last one held)
            copied = copier(loss)
            other = net.copy()
            other.W_h = 0.5 * other.W_h
            for probe in (other, net):
                _same_results(copied(probe), loss(probe))


@pytest.mark.parametrize("clone", ["deepcopy", "pickle"])
def test_a_copied_correlated_training_setup_gives_the_objective_of_the_original(clone):
    """A set-up with correlated inputs (its data hold ``CorrelatedMoments``), its objective used once, then deep
    copied or pickled (to a worker process): the copy's objective gives the original's losses and gradients."""
    import copy
    import pickle

    task = Task.inverse_exponential(delta=[1.0, 0.5], lam=[0.7, 1.1], T=5, input_covariance={"lag": [1.0, 0.3]})
    setup = set_up(task, hidden=3, init="random", seed=3)
    objective = setup.objective()
    objective.loss_and_grad(setup.network.copy())
    copied = copy.deepcopy(setup) if clone == "deepcopy" else pickle.loads(pickle.dumps(setup))
    other = setup.network.copy()
    other.W_h = 0.5 * other.W_h
    for probe in (other, setup.network):
        _same_results(copied.objective().loss_and_grad(probe), objective.loss_and_grad(probe))
    _same_results(copy.deepcopy(objective).loss_and_grad(other), objective.loss_and_grad(other))


def test_one_loss_object_serves_several_threads_at_once():
    """The lag buffers are per thread: threads evaluating one loss object at once (on networks of the same shape)
    each get the results of a loss object of their own."""
    import threading

    losses, nets = _lag_losses(np.random.default_rng(22))
    rng = np.random.default_rng(23)
    for name, loss in losses.items():
        for net in nets:
            networks = [LRNN(net.W_x + 0.1 * rng.normal(size=net.W_x.shape), net.W_h,
                             net.W_y + 0.1 * rng.normal(size=net.W_y.shape)) for _ in range(4)]
            expected = [loss(n) for n in networks]
            wrong, barrier = [], threading.Barrier(len(networks))

            def work(index):
                barrier.wait()
                for _ in range(200):
                    value, grads = loss(networks[index])
                    if value != expected[index][0] or any(not np.array_equal(g, h)
                                                          for g, h in zip(grads, expected[index][1])):
                        wrong.append(index)

            threads = [threading.Thread(target=work, args=(i,)) for i in range(len(networks))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not wrong, (name, net.N_h)


class NetworkKeeper:
    """A recorder keeping copies of the network every ``every`` steps and at the last (as the batched recorders
    record), calling ``after(step)`` after each."""

    def __init__(self, every: int, kept: list, after=lambda step: None):
        self.every, self.kept, self.after = every, kept, after

    def start(self, steps, network):
        pass

    def due(self, step, last):
        return last or step % self.every == 0

    def record(self, step, network, loss):
        self.kept.append(network.copy())
        self.after(step)


def assert_records_are_of(modes, svs, networks, setup):
    """The recorded modes and singular values are ``read_modes`` and ``np.linalg.svd`` of each kept network."""
    for k, net in enumerate(networks):
        for got, want in zip(modes.modes[:, k], read_modes(net, setup.data.U, setup.data.V)):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
        for name, W in zip(("W_x", "W_h", "W_y"), net.weights):
            np.testing.assert_allclose(svs.singular_values[name][k], np.linalg.svd(W, compute_uv=False), rtol=0,
                                       atol=1e-14)


def test_recorders_read_their_records_in_batches_as_one_at_a_time(monkeypatch):
    """The modes and SVD singular values read in batches of stacked weights (batches of 3 records here) equal
    ``read_modes`` and ``np.linalg.svd`` of each recorded network on its own."""
    from lrnn_theory.validation.harness import gradient_descent
    from lrnn_theory.validation.recorders import BatchedRecorder, ModeRecorder, SingularValueRecorder
    from lrnn_theory.validation.training_setup import set_up

    task = Task.constant(delta=[1.0, 0.5], T=3)
    setup = set_up(task, hidden=3, init="random", seed=2)
    monkeypatch.setattr(BatchedRecorder, "BATCH_ENTRIES", 3 * sum(W.size for W in setup.network.weights))
    modes, svs = ModeRecorder(setup.read_modes, task.K, every=2), SingularValueRecorder(every=2)
    networks = []
    gradient_descent(setup.network.copy(), setup.objective().loss_and_grad, lr=0.05, steps=15,
                     recorders=[modes, svs, NetworkKeeper(2, networks)])
    assert len(networks) == len(modes.steps) == 9 and modes._batch == 3
    assert_records_are_of(modes, svs, networks, setup)


def test_aligned_construction_and_readout():
    rng = np.random.default_rng(4)
    K, N_h = 3, 5
    U, V, R = random_orthonormal(rng, K, K), random_orthonormal(rng, K, K), random_orthonormal(rng, N_h, K)
    np.testing.assert_allclose(R.T @ R, np.eye(K), atol=1e-12)
    a, b, c = np.array([0.3, -0.2, 1.1]), np.array([0.5, 0.9, -0.4]), np.array([0.7, 0.4, 0.2])
    net = LRNN.aligned(a, b, c, U, V, R)
    # the per-step maps are U diag(c b^(T-i) a) V^T
    maps = net.end_to_end(4)
    for i in range(1, 5):
        np.testing.assert_allclose(maps[i - 1], U @ np.diag(c * b ** (4 - i) * a) @ V.T, atol=1e-12)
    for got, want in zip(read_modes(net, U, V, R), (a, b, c)):
        np.testing.assert_allclose(got, want, atol=1e-12)
    # the fitted hidden basis is R (a + c > 0 for every mode here), so the unaligned read-out agrees
    np.testing.assert_allclose(fitted_hidden_basis(net, U, V), R, atol=1e-10)
    for got, want in zip(read_modes(net, U, V), (a, b, c)):
        np.testing.assert_allclose(got, want, atol=1e-10)


@pytest.mark.parametrize("P,T,every_step,block_entries", [(5, 4, False, None), (40, 3, False, 50), (40, 3, True, 50),
                                                          (3, 5, True, None), (30, 1, False, None)])
def test_sample_loss_from_second_moments_equals_bptt(P, T, every_step, block_entries, monkeypatch):
    """``SampleLoss`` (the trainer's sample loss: a QR factor of the lag design, made in blocks of rows) against BPTT
    over the samples: fewer samples than the design's width, several blocks, every-step targets, and near zero loss
    (targets the network fits up to 1e-9), where the loss must stay exact (a sum of squares, no cancellation)."""
    from lrnn_theory.validation.network import SampleLoss

    if block_entries is not None:
        monkeypatch.setattr(SampleLoss, "BLOCK_ENTRIES", block_entries)  # 40 samples in blocks of 5 rows
    rng = np.random.default_rng(11)
    net = random_net(rng, N_x=2, N_h=3, N_y=2)
    X = rng.normal(size=(P, T, 2))
    fitted = net.forward_every_step(X) if every_step else net.forward(X)
    for Y in (rng.normal(size=fitted.shape), fitted + 1e-9 * rng.normal(size=fitted.shape)):
        value, grads = SampleLoss(X, Y)(net)
        expected_value, expected_grads = net.loss_and_grad_samples(X, Y)
        assert value == pytest.approx(expected_value, rel=1e-6 if expected_value < 1e-12 else 1e-12)
        for g, h in zip(grads, expected_grads):
            np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-13 * max(1.0, np.max(np.abs(Y))))


@pytest.mark.parametrize("loss", ["sum_half", "sum", "mean_half", "mean"])
@pytest.mark.parametrize("every_step", [False, True])
def test_sample_objective_is_the_literal_loss_convention(loss, every_step):
    """The training objective on samples (from second moments, times the convention's scale) equals the loss
    written out from its definition (``output_loss``) and BPTT, for an unaligned network on user data."""
    rng = np.random.default_rng(12)
    X = rng.normal(size=(30, 4, 2))
    Y = rng.normal(size=(30, 4, 2) if every_step else (30, 2))
    setup = set_up(None, data=UserData(X, Y), init="random", hidden=3, seed=1)
    net = random_net(rng, N_x=2, N_h=3, N_y=2)
    value, grads = setup.objective(loss).loss_and_grad(net)
    expected_value, expected_grads = net.loss_and_grad_samples(X, Y, output_loss(loss))
    assert value == pytest.approx(expected_value, rel=1e-12)
    for g, h in zip(grads, expected_grads):
        np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-14)


# ---- aligned training against the ODE ---------------------------------------------------------------------------
TWO_MODES = Task.from_family("inverse_exponential", T=5, delta=[1.0, 0.6], lam=[0.7, 1.1],
                             init={"a": 0.1, "b": 0.1, "c": 0.1})


def max_error(simulation, theory):
    return max(float(np.max(np.abs(getattr(simulation, q) - getattr(theory, q)))) for q in "abcu")


def theory_at(task, simulation):
    # rtol 1e-9 (3x cheaper than 1e-11): the errors it measures (> 1e-2, first order in lr) move in the 9th digit
    return integrate(task, float(simulation.t[-1]), t_eval=simulation.t, rtol=1e-9, atol=1e-11)


def test_aligned_population_training_converges_to_the_ode_at_first_order():
    errors = []
    for lr in (0.02, 0.01, 0.005):
        # to t = 5 (was 20, 4x fewer steps): the largest errors are in the transition before t = 5 (the same numbers)
        sim = simulate(TWO_MODES, lr=lr, steps=int(round(5 / lr)), hidden=3)
        assert sim.t[-1] == pytest.approx(5.0)
        errors.append(max_error(sim, theory_at(TWO_MODES, sim)))
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(1.6 < r < 2.4 for r in ratios), (errors, ratios)
    assert errors[-1] < 0.02


def test_extra_hidden_units_do_not_change_aligned_dynamics():
    narrow = simulate(TWO_MODES, lr=0.02, steps=500, hidden=2)
    wide = simulate(TWO_MODES, lr=0.02, steps=500, hidden=6)
    for q in "abc":
        np.testing.assert_allclose(getattr(wide, q), getattr(narrow, q), atol=1e-10)


@pytest.mark.parametrize("loss", ["sum_half", "sum", "mean_half", "mean"])
def test_sample_training_equals_population_training(loss):
    factor = {"sum_half": 1.0, "sum": 2.0, "mean_half": 1 / 26, "mean": 2 / 26}[loss]  # P N_y = 13 * 2
    kwargs = dict(lr=0.01 / factor, steps=400, hidden=3, loss=loss, n_samples=13, record_every=10)
    pop = train_lrnn(TWO_MODES, data="population", **kwargs)
    smp = train_lrnn(TWO_MODES, data="samples", **kwargs)
    assert smp.info["whitening_error"] < 1e-12
    np.testing.assert_allclose(smp.trajectory.t, pop.trajectory.t)
    for q in "abc":
        np.testing.assert_allclose(getattr(smp.trajectory, q), getattr(pop.trajectory, q), atol=1e-9)
    np.testing.assert_allclose(smp.losses, pop.losses, rtol=1e-8, atol=1e-14)


CLOCK_TASK = Task(TWO_MODES.singular_values, init={"a": 0.3, "b": 0.3, "c": 0.3}, tau=2.0)
CLOCK_DT = 0.004  # theory time per step
CLOCK_TIMES = np.arange(0, 1001, 10) * CLOCK_DT  # every 10th of 1000 steps


@functools.lru_cache(maxsize=None)
def clock_theories():
    """The flow at CLOCK_TIMES and on a clock twice as fast: the same for every loss convention, integrated once.
    The wrong clock at rtol 1e-7 (7x cheaper than 1e-10): the difference checked is > 0.1."""
    right = integrate(CLOCK_TASK, CLOCK_TIMES[-1], t_eval=CLOCK_TIMES, rtol=1e-9, atol=1e-11)
    wrong = integrate(CLOCK_TASK, 2 * CLOCK_TIMES[-1], t_eval=2 * CLOCK_TIMES, rtol=1e-7, atol=1e-9)
    return right, wrong


@pytest.mark.parametrize("loss", ["sum_half", "sum", "mean_half", "mean"])
def test_every_loss_convention_maps_to_theory_time(loss):
    """Sample training under each convention (whose objective is the literal definition:
    test_sample_objective_is_the_literal_loss_convention) lies on the ODE at the harness's times, and would not if
    the time per step were off by a factor of 2."""
    task = CLOCK_TASK
    P, N_y = 12, task.K
    factor = {"sum_half": 1.0, "sum": 2.0, "mean_half": 1.0 / (P * N_y), "mean": 2.0 / (P * N_y)}[loss]
    lr = CLOCK_DT / (task.tau * factor)
    # to t = 4 (was 12): the largest error (0.0037) is before t = 4, and the wrong clock is off by 0.6 by then
    result = train_lrnn(task, lr=lr, steps=1000, data="samples", n_samples=P, loss=loss, record_every=10)
    sim = result.trajectory
    assert result.info["dt_per_step"] == pytest.approx(CLOCK_DT)
    np.testing.assert_allclose(sim.t, CLOCK_TIMES, rtol=1e-12)  # the harness's times are the theory's
    right, wrong = clock_theories()
    assert max_error(sim, right) < 0.01
    assert max_error(sim, wrong) > 0.1  # a clock off by a factor 2 is detected


def test_training_loss_is_tau_times_theory_energy_for_aligned_population():
    task = Task(TWO_MODES.singular_values, init=TWO_MODES.init, tau=3.0)
    result = train_lrnn(task, lr=0.01, steps=300, record_every=30)
    traj = result.trajectory
    independent = mode_energy(task.singular_values, traj.a, traj.b, traj.c, task.tau).sum(axis=1)
    np.testing.assert_allclose(result.losses, task.tau * independent, rtol=1e-10)
    np.testing.assert_allclose(traj.t, result.steps * 0.01 * 3.0)


def test_frozen_recurrent_weights_keep_b_and_reach_the_optimal_u():
    task = Task.inverse_exponential(delta=1.0, lam=0.7, T=5, init={"a": 0.2, "b": 0.5, "c": 0.2})
    result = train_lrnn(task, lr=0.02, steps=3000, freeze=("W_h",), record_every=100)
    np.testing.assert_array_equal(result.network.W_h, result.initial_network.W_h)
    np.testing.assert_allclose(result.trajectory.b, 0.5, atol=1e-14)
    s = task.singular_values[0]
    powers = 0.5 ** np.arange(task.T - 1, -1, -1)
    u_star = np.dot(s, powers) / np.dot(powers, powers)  # argmin_u sum_i (s_i - u b^(T-i))^2
    assert result.trajectory.u[-1, 0] == pytest.approx(u_star, abs=1e-6)
    frozen_io = train_lrnn(task, lr=0.02, steps=200, freeze=("W_x", "W_y"))
    np.testing.assert_allclose(frozen_io.trajectory.u, 0.04, atol=1e-14)
    assert abs(frozen_io.trajectory.b[-1, 0] - 0.5) > 1e-4
    everything = train_lrnn(task, lr=0.02, steps=5, freeze=("W_x", "W_h", "W_y"))
    np.testing.assert_array_equal(everything.losses, everything.losses[0])


# ---- unaligned initialisation and user data ---------------------------------------------------------------------
FAMILIES = [
    ("constant", Task.from_family("constant", T=4, delta=[1.0, 0.5]), [1.0, 1.0], [1.0, 0.5]),
    ("inverse_exponential", Task.from_family("inverse_exponential", T=4, delta=[1.0, 0.5], lam=[0.7, 0.5]),
     [0.7, 0.5], [1.0, 0.5]),
    ("exponential", Task.from_family("exponential", T=4, delta=[0.3, 0.5], lam=[1.5, 1.25]),
     [1 / 1.5, 1 / 1.25], [0.3 * 1.5**4, 0.5 * 1.25**4]),
]


@pytest.mark.parametrize("name,task,b_star,u_star", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_small_random_init_converges_to_the_zero_loss_solution(name, task, b_star, u_star):
    # 5000 steps (was 8000): the end-to-end maps are within 3e-3 of the task's, the modes within 3e-3 of b*, u*
    result = train_lrnn(task, init="random", init_scale=0.1, hidden=3, lr=0.02, steps=5000, record_every=200)
    traj = result.trajectory
    # the learned end-to-end maps are the task's U S_i V^T
    C = task_correlations(task.singular_values, result.basis["U"], result.basis["V"])
    assert np.max(np.abs(result.network.end_to_end(task.T) - C)) < 5e-3
    np.testing.assert_allclose(traj.b[-1], b_star, atol=0.01)
    np.testing.assert_allclose(traj.u[-1], u_star, atol=0.01)
    # started small and unaligned
    assert np.max(result.singular_values["W_h"][0]) < 0.3
    assert result.info["readout"].startswith("fitted")


def test_user_data_from_a_teacher_recovers_its_modes():
    rng = np.random.default_rng(5)
    K, T = 3, 5
    U, V, R = (random_orthonormal(rng, K, K) for _ in range(3))
    a, b, c = np.array([1.2, 0.9, 0.6]), np.array([0.8, 0.5, -0.4]), np.array([1.0, 0.8, 0.7])
    teacher = LRNN.aligned(a, b, c, U, V, R)
    X = whitened_inputs(rng, 40, T, K)
    Y = teacher.forward(X)
    # 3000 steps (was 6000): the loss is 1e-22 by then, the modes 2.4e-5 from the teacher's
    result = train_lrnn(None, X=X, Y=Y, init="random", lr=0.03, steps=3000, record_every=200)
    assert result.info["data"] == "user"
    assert result.info["task_fit_residual"] < 1e-10
    order = np.argsort(b)
    got = np.argsort(result.trajectory.b[-1])
    np.testing.assert_allclose(result.trajectory.b[-1][got], b[order], atol=1e-3)
    np.testing.assert_allclose(np.abs(result.trajectory.u[-1][got]), (a * c)[order], atol=1e-3)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(result.network.W_h).real), np.sort(b), atol=1e-3)
    assert result.losses[-1] < 1e-8
    X_new = rng.normal(size=(7, 8, K))  # and it generalises to other inputs and lengths
    np.testing.assert_allclose(result.network.forward(X_new), teacher.forward(X_new), atol=1e-3)


def test_user_task_fit_recovers_singular_values_and_flags_data_that_break_assumption_2():
    rng = np.random.default_rng(9)
    K, T = 3, 4
    U, V = random_orthonormal(rng, K, K), random_orthonormal(rng, K, K)
    s = rng.uniform(0.2, 1.5, (K, T))
    X = whitened_inputs(rng, 30, T, K)
    C, U_fit, V_fit, s_fit, residual = fit_user_task(X, sample_targets(X, task_correlations(s, U, V)), rng)
    assert residual < 1e-10
    # the singular values per step, up to the order and sign of the modes: |s| of each step's correlation matrix
    for i in range(T):
        np.testing.assert_allclose(np.sort(np.abs(s_fit[:, i])), np.sort(np.linalg.svd(C[i], compute_uv=False)),
                                   atol=1e-10)
    # step-dependent singular vectors (no common U, V) are flagged
    rotating = np.stack([random_orthonormal(rng, K, K) @ np.diag(s[:, i]) for i in range(T)])
    assert fit_user_task(X, sample_targets(X, rotating), rng)[4] > 0.05


def test_user_data_with_a_task_uses_its_tau():
    rng = np.random.default_rng(6)
    X = whitened_inputs(rng, 12, 3, 2)
    Y = rng.normal(size=(12, 2))
    task = Task(np.ones((2, 3)), tau=4.0)
    result = train_lrnn(task, X=X, Y=Y, lr=0.01, steps=10)
    assert result.info["dt_per_step"] == pytest.approx(0.04)
    assert result.task.tau == 4.0


def test_recorded_singular_values_of_an_aligned_network():
    result = train_lrnn(TWO_MODES, lr=0.01, steps=200, hidden=4, record_every=50)
    sv_h = result.singular_values["W_h"]
    assert sv_h.shape == (5, 4)
    np.testing.assert_allclose(sv_h[:, :2], -np.sort(-np.abs(result.trajectory.b), axis=1), atol=1e-12)
    np.testing.assert_allclose(sv_h[:, 2:], 0.0, atol=1e-12)
    np.testing.assert_array_equal(result.steps, [0, 50, 100, 150, 200])
    assert isinstance(result, TrainingResult)


ALIGNED_READOUT = [
    ("population", Task.inverse_exponential(delta=[1.0, 0.6, 0.3], lam=[0.5, 0.8, 0.3], T=5,
                                            init={"a": 0.3, "b": -0.2, "c": 0.25}), dict(hidden=5)),
    ("samples", Task.constant(delta=[1.0, 0.5], T=3), dict(data="samples", loss="mean", hidden=3)),
    ("complex", Task.from_family("constant", T=3, delta=[0.7, 0.5], delta_phase=[np.pi / 6, 0.0],
                                 init={"a": 0.2, "b": 0.1, "c": 0.2}), dict(hidden=4)),
]


@pytest.mark.parametrize("name,task,run", ALIGNED_READOUT, ids=[r[0] for r in ALIGNED_READOUT])
def test_aligned_singular_value_readout_equals_the_svd(name, task, run):
    """An aligned run reads the singular values of W_x, W_h, W_y off its modes (issue 25: no SVD per record); they
    equal the SVDs of the same run's weights (a complex mode's 2x2 block twice, zeros for the extra hidden units)."""
    from lrnn_theory.validation.recorders import Recording

    runs = {method: train_lrnn(task, lr=0.05, steps=150, recording=Recording(every=10, singular_values=method),
                               **run) for method in ("auto", "svd")}
    assert runs["auto"].info["singular_value_readout"] == "aligned read-out"
    assert runs["svd"].info["singular_value_readout"] == "svd"
    np.testing.assert_array_equal(runs["auto"].trajectory.b, runs["svd"].trajectory.b)  # the same run
    for key in ("W_x", "W_h", "W_y"):
        assert runs["auto"].singular_values[key].shape == runs["svd"].singular_values[key].shape
        np.testing.assert_allclose(runs["auto"].singular_values[key], runs["svd"].singular_values[key], rtol=0,
                                   atol=1e-12)
    # an unaligned start takes the SVDs
    assert train_lrnn(task, lr=0.05, steps=2, init="random", **run).info["singular_value_readout"] == "svd"


def test_singular_value_method_is_checked():
    from lrnn_theory.validation.recorders import Recording

    with pytest.raises(LrnnInputError, match="'singular_values'"):
        Recording(singular_values="qr")


def test_random_init_scale_convention():
    task = Task.constant(T=3)
    result = train_lrnn(Task(np.ones((40, 3))), init="random", init_scale=0.5, hidden=200, steps=0)
    W_x, W_h, W_y = result.initial_network.weights
    assert np.std(W_x) * np.sqrt(40) == pytest.approx(0.5, rel=0.05)   # fan-in N_x
    assert np.std(W_h) * np.sqrt(200) == pytest.approx(0.5, rel=0.05)  # fan-in N_h
    assert np.std(W_y) * np.sqrt(200) == pytest.approx(0.5, rel=0.05)
    # circular law: spectral radius of W_h close to init_scale
    assert np.max(np.abs(np.linalg.eigvals(W_h))) == pytest.approx(0.5, rel=0.1)
    per = train_lrnn(task, init="random", init_scale={"W_h": 0.0}, steps=0)
    np.testing.assert_array_equal(per.initial_network.W_h, 0.0)
    assert np.any(per.initial_network.W_x != 0)


# ---- divergence ------------------------------------------------------------------------------------------------
def test_divergence_raises_with_step_and_a_stable_learning_rate_bound():
    delta, T = 2.0, 10
    task = Task.constant(delta=delta, T=T)
    with pytest.raises(DivergenceError) as info:
        train_lrnn(task, lr=0.05, steps=5000, hidden=1)
    err = info.value
    assert err.step > 0 and err.time == err.step
    assert f"step {err.step}" in str(err) and "stable" in str(err)
    # independent: the 3x3 Hessian of tau*E at the zero-loss solution (a = c = sqrt(delta), b = 1) from the
    # sympy-derived Jacobian of the mode flow, H = -tau * J
    flow = compile_flow(task)
    y = np.array([np.sqrt(delta), 1.0, np.sqrt(delta)])
    H = -task.tau * flow.jacobian_blocks(0.0, y)[0]
    expected = 2.0 / np.max(np.linalg.eigvalsh(0.5 * (H + H.T)))
    assert err.lr_bound == pytest.approx(expected, rel=1e-3)
    # the bound is meaningful: a little below it training converges, a little above it does not
    # to theory time 2.5 (was 40, 16x cheaper): the loss is already 2e-13 below the bound and 0.57 above it
    below = train_lrnn(task, lr=0.9 * err.lr_bound, steps=int(2.5 / err.lr_bound), hidden=1, record_every=1000)
    above = train_lrnn(task, lr=1.1 * err.lr_bound, steps=int(2.5 / err.lr_bound), hidden=1, record_every=1000)
    assert below.losses[-1] < 1e-10
    assert above.losses[-1] > 1e-4


def test_hessian_top_eigenvalue_matches_dense_hessian():
    rng = np.random.default_rng(7)
    net = random_net(rng, N_x=3, N_h=9, N_y=3, scale=0.3)   # 135 + ... > 150 parameters: the Lanczos path
    C = rng.normal(size=(3, 3, 3))
    grad = lambda ws: LRNN(*ws).loss_and_grad_population(C)[1]  # noqa: E731
    top = hessian_top_eigenvalue(grad, list(net.weights), (0, 1, 2))
    # dense Hessian by finite differences of the exact gradient
    w0 = np.concatenate([W.ravel() for W in net.weights])
    shapes = [W.shape for W in net.weights]

    def g(w):
        parts, off = [], 0
        for s in shapes:
            parts.append(w[off:off + np.prod(s)].reshape(s))
            off += np.prod(s)
        return np.concatenate([x.ravel() for x in grad(parts)])

    eps = 1e-5
    H = np.column_stack([(g(w0 + eps * e) - g(w0 - eps * e)) / (2 * eps) for e in np.eye(w0.size)])
    assert top == pytest.approx(np.max(np.linalg.eigvalsh(0.5 * (H + H.T))), rel=1e-3)


def test_weights_diverge_at_the_first_step_whose_largest_entry_exceeds_the_threshold():
    """The check is on the largest |entry|: 16 equal entries growing by 1 per step pass the threshold 10.5 in sum of
    squares at step 3 and in their largest entry at step 11, where the run stops."""
    from lrnn_theory.validation.harness import Stopping, gradient_descent

    zero = np.zeros((4, 4))
    push = (0.0, (-np.ones((4, 4)), zero, zero))  # W_x grows by lr = 1 per step, every entry alike
    with pytest.raises(DivergenceError, match=r"at step 11: the weights overflowed \(largest \|entry\| 11 > 10.5\)"):
        gradient_descent(LRNN(zero, zero, zero), lambda net: push, lr=1.0, steps=100,
                         stopping=Stopping(divergence_threshold=10.5))
    assert gradient_descent(LRNN(zero, zero, zero), lambda net: push, lr=1.0, steps=10,
                            stopping=Stopping(divergence_threshold=10.5)).network.W_x[0, 0] == 10.0


def test_loss_overflow_is_reported_not_returned_as_nan():
    task = Task.inverse_exponential(delta=1.0, lam=3.0, T=40, init={"a": 0.5, "b": 2.5, "c": 0.5})
    with pytest.raises(DivergenceError, match="diverged at step"):
        train_lrnn(task, lr=1.0, steps=100)


# ---- bad input -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,name", [
    (dict(lr=-0.1), "lr"), (dict(lr=float("nan")), "lr"), (dict(steps=-1), "steps"), (dict(steps=2.5), "steps"),
    (dict(loss="mse"), "loss"), (dict(init="orthogonal"), "init"), (dict(data="batch"), "data"),
    (dict(hidden=1), "hidden"), (dict(freeze=("W_z",)), "freeze"), (dict(record_every=0), "record_every"),
    (dict(data="samples", n_samples=5), "n_samples"), (dict(init_scale="big"), "init_scale"),
    (dict(init="random", init_scale={"W_q": 1.0}), "init_scale"), (dict(data="user"), "X"),
    (dict(X=np.zeros((3, 2, 2)), Y=np.zeros((4, 2))), "X"), (dict(X=np.zeros((3, 2)), Y=np.zeros((3, 2))), "X"),
    (dict(init=LRNN(np.eye(3), np.eye(3), np.eye(3))), "init"),
    (dict(init_scale=-0.1), "init_scale"), (dict(n_samples=9), "n_samples"),  # population data too: T N_x = 10
    (dict(steps=10**12), "record_every"),
])
def test_bad_parameters_raise_input_errors_naming_them(kwargs, name):
    with pytest.raises(LrnnInputError, match=name):
        train_lrnn(TWO_MODES, **kwargs)


def test_given_network_as_initialisation():
    rng = np.random.default_rng(8)
    start = random_net(rng, N_x=2, N_h=3, N_y=2, scale=0.2)
    result = train_lrnn(TWO_MODES, init=start, hidden=3, lr=0.02, steps=10)
    np.testing.assert_array_equal(result.initial_network.W_x, start.W_x)
    assert not np.array_equal(result.network.W_x, start.W_x)
    assert result.info["init"] == "given"


def test_progress_bar_does_not_change_the_run(capsys):
    quiet = train_lrnn(TWO_MODES, lr=0.01, steps=300, progress=False)
    shown = train_lrnn(TWO_MODES, lr=0.01, steps=300, progress=True)
    np.testing.assert_array_equal(quiet.trajectory.b, shown.trajectory.b)
    np.testing.assert_array_equal(quiet.losses, shown.losses)


@pytest.mark.parametrize("name", ["lrnn_theory.validation.harness", "lrnn_theory.validation.network",
                                  "lrnn_theory.validation.training_setup", "lrnn_theory.losses"])
def test_docstring_examples_run(name):
    """The examples in the docstrings are checked too (one of them printed a wrong logistic value unnoticed)."""
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# ---- the stages: set-up, loop, recorders ---------------------------------------------------------------------------
STAGED = [
    ("population", Task.inverse_exponential(delta=[1.0, 0.6], lam=[0.5, 0.8], T=4, init={"a": 0.3, "b": 0.2, "c": 0.3}),
     dict(lr=0.05, steps=120, record_every=7, hidden=3, seed=2)),
    ("samples_random_mean", Task.constant(delta=[1.0, 0.5], T=3),
     dict(lr=0.3, steps=80, data="samples", n_samples=9, init="random", loss="mean", record_every=10)),
    ("complex", Task.from_family("inverse_exponential", T=3, delta=[0.9, 0.5], lam=[0.8, 0.5],
                                 lambda_phase=[0.3, 0.0], init={"a": 0.2, "b": 0.1, "c": 0.2}),
     dict(lr=0.02, steps=60, record_every=5, freeze=("W_y",))),
]


@pytest.mark.parametrize("name,task,run", STAGED, ids=[s[0] for s in STAGED])
def test_hand_composed_stages_give_the_train_lrnn_run_bit_for_bit(name, task, run):
    """set_up + gradient_descent + recorders, composed by hand, is train_lrnn (same arrays, same bits)."""
    from lrnn_theory.losses import time_per_step
    from lrnn_theory.validation.harness import gradient_descent
    from lrnn_theory.validation.recorders import LossRecorder, ModeRecorder, SingularValueRecorder
    from lrnn_theory.validation.training_setup import RandomInit, SampleData, set_up

    result = train_lrnn(task, **run)
    data = SampleData(run["n_samples"]) if run.get("data") == "samples" else "population"
    init = RandomInit() if run.get("init") == "random" else "aligned"
    setup = set_up(task, hidden=run.get("hidden"), data=data, init=init, seed=run.get("seed", 0))
    objective = setup.objective(run.get("loss", "sum_half"))
    every = run["record_every"]
    modes = ModeRecorder(setup.read_modes, task.K, complex if task.is_complex else float, every)
    # an aligned run on task data reads its singular values off the modes (no SVD per record)
    losses, svs = LossRecorder(every), SingularValueRecorder(every, modes if setup.aligned else None,
                                                             setup.data.sizes)
    outcome = gradient_descent(setup.network.copy(), objective.loss_and_grad, lr=run["lr"], steps=run["steps"],
                               freeze=run.get("freeze", ()), recorders=[modes, losses, svs])
    for got, want in zip(modes.modes, (result.trajectory.a, result.trajectory.b, result.trajectory.c)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(losses.losses, result.losses)
    np.testing.assert_array_equal(modes.steps * time_per_step(run["lr"], task.tau, objective.scale),
                                  result.trajectory.t)
    for key in ("W_x", "W_h", "W_y"):
        np.testing.assert_array_equal(svs.singular_values[key], result.singular_values[key])
    for mine, theirs in zip(outcome.network.weights, result.network.weights):
        np.testing.assert_array_equal(mine, theirs)
    for mine, theirs in zip(setup.network.weights, result.initial_network.weights):
        np.testing.assert_array_equal(mine, theirs)


def test_option_objects_and_flat_keywords_are_the_same_run():
    from lrnn_theory.validation import NTKRecording, RandomInit, Recording, SampleData, Stopping

    task = Task.constant(delta=[1.0, 0.5], T=3, init={"a": 0.2, "b": 0.1, "c": 0.2})
    flat = train_lrnn(task, lr=0.1, steps=400, data="samples", n_samples=8, init="random", init_scale=0.2,
                      record_every=20, ntk_steps=[0, 30], stop_loss=1e-3, divergence_threshold=50.0)
    objects = train_lrnn(task, lr=0.1, steps=400, data=SampleData(n_samples=8), init=RandomInit(scale=0.2),
                         recording=Recording(every=20, ntk=NTKRecording(steps=[0, 30])),
                         stopping=Stopping(loss=1e-3, divergence_threshold=50.0))
    np.testing.assert_array_equal(flat.trajectory.b, objects.trajectory.b)
    np.testing.assert_array_equal(flat.losses, objects.losses)
    np.testing.assert_array_equal(flat.ntk["kernels"], objects.ntk["kernels"])
    assert flat.info["stopped_at_step"] == objects.info["stopped_at_step"] < 400
    with pytest.raises(LrnnInputError, match="'n_samples' is a field of 'data'"):
        train_lrnn(task, data=SampleData(), n_samples=8, steps=1)
    with pytest.raises(TypeError, match="'ntk_step'"):
        train_lrnn(task, steps=1, ntk_step=[0])


def test_a_custom_recorder_runs_in_the_same_loop():
    """Recorders are objects the loop calls: a new measurement needs no second training loop."""
    from lrnn_theory.validation.harness import gradient_descent
    from lrnn_theory.validation.recorders import LossRecorder, Recorder
    from lrnn_theory.validation.training_setup import set_up

    class RecurrentNorm(Recorder):
        def _allocate(self, capacity, network):
            self.norms = np.empty(capacity)

        def _store(self, index, network, loss):
            self.norms[index] = np.linalg.norm(network.W_h)

    setup = set_up(TWO_MODES, hidden=3)
    norms, losses = RecurrentNorm(every=4), LossRecorder(every=4)
    outcome = gradient_descent(setup.network.copy(), setup.objective().loss_and_grad, lr=0.05, steps=10,
                               recorders=[norms, losses])
    assert norms.steps.tolist() == losses.steps.tolist() == [0, 4, 8, 10] and outcome.last_step == 10
    assert norms.norms[3] == pytest.approx(np.linalg.norm(outcome.network.W_h))

    class OddSteps:  # the three-method protocol alone (no next_due): asked at every step
        def start(self, steps, network):
            self.steps = []

        def due(self, step, last):
            return last or step % 2 == 1

        def record(self, step, network, loss):
            self.steps.append(step)

    odd, fours = OddSteps(), LossRecorder(every=4)
    gradient_descent(setup.network.copy(), setup.objective().loss_and_grad, lr=0.05, steps=10, recorders=[fours, odd])
    assert odd.steps == [1, 3, 5, 7, 9, 10] and fours.steps.tolist() == [0, 4, 8, 10]


@pytest.mark.parametrize("ending", ["return", "stop_loss", "divergence", "interruption"])
def test_records_do_not_change_when_the_returned_network_is_edited_in_place(ending):
    """The batched recorders read every pending record before ``gradient_descent`` hands the network back (by any
    exit path): editing the network's weights in place afterwards leaves the recorded modes and singular values as
    they were when recorded."""
    from lrnn_theory.validation.harness import Stopping, gradient_descent
    from lrnn_theory.validation.recorders import ModeRecorder, SingularValueRecorder

    task = Task.constant(delta=[1.0, 0.5], T=3)
    setup = set_up(task, hidden=3, init="random", seed=2)
    network = setup.network.copy()
    modes, svs = ModeRecorder(setup.read_modes, task.K, every=10), SingularValueRecorder(every=10)
    kept = []

    def interrupt(step):
        if ending == "interruption" and step == 50:
            raise KeyboardInterrupt

    objective = setup.objective().loss_and_grad
    stopping = None
    if ending == "stop_loss":
        stopping = Stopping(loss=objective(network)[0] * 0.5)
    elif ending == "divergence":
        stopping = Stopping(divergence_threshold=float(np.max(np.abs(network.W_h))) * 1.5)
    kwargs = dict(lr=0.05, steps=200, recorders=[modes, svs, NetworkKeeper(10, kept, interrupt)], stopping=stopping)
    if ending in ("divergence", "interruption"):
        with pytest.raises(DivergenceError if ending == "divergence" else KeyboardInterrupt):
            gradient_descent(network, objective, **kwargs)
    else:
        gradient_descent(network, objective, **kwargs)
    assert len(kept) >= 2 and not modes._pending and not svs._pending
    for W in network.weights:
        W *= 0.5  # the caller edits the weights in place (those of the last records when the run ended on them)
    assert len(modes.steps) == len(kept)
    assert_records_are_of(modes, svs, kept, setup)


def test_a_recorder_that_overrides_next_due_alone_sets_its_schedule():
    """``Recorder.due`` asks ``next_due``: a subclass with its own ``next_due`` (here steps 0, 1, 2, 4, 8, ..) records
    at exactly those steps and the last, whatever its ``every``."""
    import math

    from lrnn_theory.validation.harness import gradient_descent
    from lrnn_theory.validation.recorders import LossRecorder

    class LogLoss(LossRecorder):
        def next_due(self, step):
            return 0 if step == 0 else 2 ** math.ceil(math.log2(step))

    setup = set_up(Task.constant(delta=[1.0], T=3), hidden=2, seed=1)
    for every in (1, 3, 5):
        recorder = LogLoss(every=every)
        gradient_descent(setup.network.copy(), setup.objective().loss_and_grad, lr=0.05, steps=40,
                         recorders=[recorder])
        assert recorder.steps.tolist() == [0, 1, 2, 4, 8, 16, 32, 40], every
        assert all(recorder.due(s, False) == (s in (0, 1, 2, 4, 8, 16, 32)) for s in range(41))


def test_rotational_setup_is_the_set_up_stage():
    from lrnn_theory.validation import rotational_setup, set_up

    task = Task.from_family("constant", T=3, delta=[0.7, 0.4], delta_phase=[np.pi / 6, 0.0])
    old, new = rotational_setup(task, hidden=5, seed=4), set_up(task, hidden=5, seed=4)
    np.testing.assert_array_equal(old["C"], new.data.correlations)
    np.testing.assert_array_equal(old["R"], new.R)
    assert old["sizes"].tolist() == new.data.sizes.tolist() == [2, 1]


# ---- one estimator, one set of loss conventions ---------------------------------------------------------------------
def test_the_harness_and_task_from_data_share_one_estimator():
    """train_lrnn(X=, Y=) estimates its task with Task.from_data's estimator: the same task from the same data."""
    rng = np.random.default_rng(31)
    K, T = 3, 4
    U, V = random_orthonormal(rng, K, K), random_orthonormal(rng, K, K)
    s = rng.uniform(0.2, 1.5, (K, T))
    X = whitened_inputs(rng, 20, T, K)
    Y = sample_targets(X, task_correlations(s, U, V)) + 1e-3 * rng.standard_normal((20, K))  # not exactly Assumption 2
    result = train_lrnn(None, X=X, Y=Y, steps=0, seed=7)
    basis_stream = np.random.default_rng(np.random.SeedSequence(7).spawn(3)[0])  # the harness's bases stream
    task = Task.from_data(X, Y, seed=basis_stream, bases="combination", name="user data")
    np.testing.assert_array_equal(result.task.singular_values, task.singular_values)
    np.testing.assert_array_equal(result.basis["U"], task.estimate.U)
    assert result.info["task_fit_residual"] == task.estimate.diagnostic["largest_off_diagonal"] > 0
    # the default (fitted) estimate refines the same start: the same modes up to order and sign here
    fitted = Task.from_data(X, Y)
    np.testing.assert_allclose(np.sort(np.abs(fitted.singular_values), axis=0),
                               np.sort(np.abs(task.singular_values), axis=0), atol=1e-4)
    with pytest.raises(LrnnInputError, match="'bases'"):
        Task.from_data(X, Y, bases="svd")


def test_loss_conventions_live_in_the_core():
    import lrnn_theory.finite_lr as finite_lr
    from lrnn_theory import losses

    assert finite_lr.loss_scale is losses.loss_scale
    assert losses.tau_per_step(0.1, "mean_half", P=12, N_y=2) == pytest.approx(12 * 2 / 0.1)  # tau = P N_y / eta
    result = train_lrnn(TWO_MODES, lr=0.1, steps=3, loss="mean_half")
    assert result.info["dt_per_step"] == pytest.approx(0.1 * losses.loss_scale("mean_half", 10, 2))
    with pytest.raises(LrnnInputError, match="'loss'"):
        losses.loss_scale("mse", 1, 1)


# ---- freezing in the flow ------------------------------------------------------------------------------------------
FROZEN_TASK = Task.inverse_exponential(delta=[1.0, 0.6], lam=[0.5, 0.8], T=5, init={"a": 0.3, "b": 0.2, "c": 0.1})


@pytest.mark.parametrize("method", [None, "LSODA", "Radau"])
def test_integrate_with_b_frozen_follows_the_closed_form(method):
    """W_h frozen: b stays at its initial value and u follows the closed-form logistic of App. C, written out here
    for a balanced start (a = c: u' = 2 u (A - B u) / tau, A = sum_i s_i b^(T-i), B = sum_i b^(2(T-i))). The
    unbalanced closed forms (``frozen_b_solution``, 2.5 s of sympy to build) are tested in test_frozen.py."""
    task = FROZEN_TASK.with_init(a=0.2, b=0.2, c=0.2)
    traj = integrate(task, 20.0, n_points=41, frozen=("W_h",), method=method, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(traj.b, 0.2, rtol=0, atol=1e-14)
    powers = 0.2 ** (task.T - np.arange(1, task.T + 1))
    A, B = task.singular_values @ powers, np.sum(powers**2)
    logistic = (A / B) / (1 + (A / (B * 0.04) - 1) * np.exp(-2 * A * traj.t[:, None] / task.tau))
    np.testing.assert_allclose(traj.u, logistic, atol=1e-8)
    assert np.max(np.abs(traj.u[-1] - traj.u[0])) > 0.1  # it moved
    assert traj.info["frozen"] == ["b"]


@pytest.mark.parametrize("frozen", [("a", "c"), ("c",), ("W_x",)])
def test_integrate_with_frozen_modes_matches_a_long_integration_of_the_masked_rates(frozen):
    """Independent computation: DOP853 on the unmasked rates times a mask of the moving components."""
    from scipy.integrate import solve_ivp

    flow = compile_flow(FROZEN_TASK)
    names = {"W_x": "a"}
    moving = np.tile([m not in {names.get(f, f) for f in frozen} for m in "abc"], FROZEN_TASK.K).astype(float)
    t = np.linspace(0.0, 15.0, 31)
    # rtol 1e-10 (2x cheaper than 1e-12): 1000x below the 1e-7 asserted
    sol = solve_ivp(lambda s, y: moving * flow.rates(s, y), (0.0, 15.0), flow.initial_state(), t_eval=t,
                    method="DOP853", rtol=1e-10, atol=1e-12)
    traj = integrate(FROZEN_TASK, 15.0, t_eval=t, frozen=frozen, rtol=1e-10, atol=1e-12)
    a, b, c = flow.modes(sol.y.T)
    for got, want in ((traj.a, a), (traj.b, b), (traj.c, c)):
        np.testing.assert_allclose(got, want, atol=1e-7)
    for mode in {names.get(f, f) for f in frozen}:
        values = getattr(traj, mode)
        np.testing.assert_allclose(values, np.broadcast_to(values[0], values.shape), rtol=0, atol=1e-14)


def test_frozen_training_matches_the_frozen_flow_on_a_complex_task():
    task = Task.from_family("inverse_exponential", T=3, delta=0.9, lam=0.7, lambda_phase=0.4,
                            init={"a": 0.3, "b": 0.2, "c": 0.3})
    sim = simulate(task, lr=0.005, steps=800, freeze=("W_h",), record_every=40)
    theory = integrate(task.with_init(a=sim.a[0], b=sim.b[0], c=sim.c[0]), sim.t[-1], t_eval=sim.t,
                       frozen=("b",), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(theory.b, np.broadcast_to(sim.b[0], theory.b.shape), rtol=0, atol=1e-14)
    assert np.max(np.abs(theory.u - sim.u)) < 5e-3  # first order in lr
    assert np.max(np.abs(theory.u[-1] - theory.u[0])) > 0.1


def test_frozen_names_and_combinations_are_checked():
    with pytest.raises(LrnnInputError, match="'frozen'"):
        integrate(FROZEN_TASK, 1.0, frozen=("d",))
    with pytest.raises(LrnnInputError, match="'frozen'"):
        integrate(FROZEN_TASK, 1.0, frozen=("b",), lr_correction=0.01)
    plain, empty = integrate(FROZEN_TASK, 5.0), integrate(FROZEN_TASK, 5.0, frozen=())
    np.testing.assert_array_equal(plain.u, empty.u)
    assert "frozen" not in empty.info

"""The harness on inputs correlated across time (issue 21, item 3): the population loss of both second moments, samples
with exactly those moments, and aligned training against the correlated flow at first order in the learning rate.

Every check is against an independent computation: an explicit full-matrix loss with plain loops over steps and
matrix powers (and its constant from full (t N_x) x (t N_x) pseudo-inverses), finite differences of it, the sample
moments summed directly, BPTT on the samples, and ``integrate`` on the task."""
import json

import numpy as np
import pytest

from lrnn_theory import Task, integrate
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.validation.harness import train_lrnn
from lrnn_theory.validation.training_setup import PopulationData, SampleData, UserData, set_up

KINDS = [("real", "final"), ("real", "every_step"), ("complex", "final"), ("complex", "every_step")]


def _task(kind, outputs, covariance, T=4, init=0.3):
    """Two modes with a lambda-profile; complex kinds rotate both."""
    phases = dict(delta_phase=0.4, lambda_phase=0.3) if kind == "complex" else {}
    return Task.from_family("inverse_exponential", T=T, delta=[1.0, 0.6], lam=[0.7, 0.9], outputs=outputs,
                            init={"a": init, "b": init, "c": init}, input_covariance=covariance, **phases)


def _random_covariance(rng, K, T):
    M = rng.standard_normal((K, T, T))
    return M @ np.swapaxes(M, -1, -2) / T + 0.2 * np.eye(T)


def _full_covariance(setup):
    """Sigma^{X_i X_j} = V diag(lambda_ij) V^T as (T, T, N_x, N_x), from the task (lambda per mode on every real unit
    of its block), independently of the harness's moments."""
    task, V, sizes = setup.task, setup.data.V, setup.data.sizes
    lam = task.input_covariance.per_mode(task.K)
    unit_lam = lam if sizes is None else np.concatenate([np.repeat(l[None], n, axis=0) for l, n in zip(lam, sizes)])
    return np.einsum("nm,mij,km->ijnk", V, unit_lam, V)


def _flat(S):
    T, N = S.shape[0], S.shape[-1]
    return np.transpose(S, (0, 2, 1, 3)).reshape(T * N, T * N)


def _explicit_loss(W_x, W_h, W_y, C, Sxx):
    """1/2 E||y - y_hat||^2 from the second moments with plain loops: the full-matrix loss
    1/2 sum_ij tr(M_i Sxx_ij M_j^T) - sum_i tr(M_i^T C_i) + 1/2 tr Sigma^YY per output time, with
    tr Sigma^YY = tr(C_t Sigma_t^+ C_t^T), the variance of the best linear read-out of the inputs 1..t."""
    T = Sxx.shape[0]
    every_step = C.ndim == 4
    total = 0.0
    for t in (range(1, T + 1) if every_step else [T]):
        M = {i: W_y @ np.linalg.matrix_power(W_h, t - i) @ W_x for i in range(1, t + 1)}
        Ct = C[t - 1, :t] if every_step else C
        total -= sum(np.trace(M[i].T @ Ct[i - 1]) for i in M)
        total += 0.5 * sum(np.trace(M[i] @ Sxx[i - 1, j - 1] @ M[j].T) for i in M for j in M)
        flat_C = np.concatenate(list(Ct[:t]), axis=1)                     # (N_y, t N_x)
        total += 0.5 * np.trace(flat_C @ np.linalg.pinv(_flat(Sxx[:t, :t])) @ flat_C.T)
    return total


# ---- the population loss ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, outputs", KINDS)
@pytest.mark.parametrize("covariance", ["per_mode", "ar1"])
def test_population_loss_and_gradient_equal_the_explicit_loss(kind, outputs, covariance):
    rng = np.random.default_rng(5)
    T = 4
    cov = _random_covariance(rng, 2, T) if covariance == "per_mode" else {"ar1": 0.7}
    task = _task(kind, outputs, cov, T)
    setup = set_up(task, hidden=None, seed=2)
    units = setup.data.units
    setup = set_up(task, hidden=units + 1, seed=2)   # wider than the modes, random (unaligned) weights
    Sxx = _full_covariance(setup)
    C = setup.data.correlations
    weights = [w + 0.15 * rng.standard_normal(w.shape) for w in setup.network.weights]
    loss, grads = setup.objective("sum_half").loss_and_grad(weights)
    assert loss == pytest.approx(_explicit_loss(*weights, C, Sxx), rel=1e-11)
    h = 1e-6
    for index in range(3):
        fd = np.zeros_like(weights[index])
        for entry in np.ndindex(fd.shape):
            plus = [w.copy() for w in weights]
            minus = [w.copy() for w in weights]
            plus[index][entry] += h
            minus[index][entry] -= h
            fd[entry] = (_explicit_loss(*plus, C, Sxx) - _explicit_loss(*minus, C, Sxx)) / (2 * h)
        np.testing.assert_allclose(grads[index], fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind, outputs", KINDS)
def test_aligned_population_loss_is_the_correlated_energy(kind, outputs):
    """On aligned weights the loss is tau sum_modes E(u, b) of the correlated task (a complex mode's block counts
    twice: its Frobenius norm is 2|z|^2), from ``mode_energy`` with the covariance."""
    from lrnn_theory.trajectory import mode_energy

    task = _task(kind, outputs, {"ar1": 0.6}).with_init(a=[0.4, 0.7], b=[0.5, -0.3], c=[0.9, 0.2])
    setup = set_up(task, seed=4)
    loss, _ = setup.objective().loss_and_grad(setup.network)
    init = task.init
    energy = mode_energy(task.singular_values, init.a, init.b, init.c, task.tau, task.input_covariance)
    weight = 2.0 if kind == "complex" else 1.0
    assert loss == pytest.approx(weight * float(np.sum(energy)), rel=1e-10)


def test_cross_covariances_outside_the_covariance_range_are_refused():
    """Targets cannot correlate with inputs of zero variance: sigma = (1, 0) is not in the range of [[1, 1], [1, 1]]."""
    task = Task([[1.0, 0.0]], input_covariance=[[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(LrnnInputError) as info:
        set_up(task)
    assert "input_covariance" in str(info.value) and "\n" not in str(info.value)
    # in the range (sigma = Lambda (0.5, 0.5)): accepted, and samples still have the exact moments
    ok = set_up(Task([[1.0, 1.0]], input_covariance=[[1.0, 1.0], [1.0, 1.0]]), data="samples")
    assert ok.data.info["covariance_error"] < 1e-12


# ---- exact-covariance samples ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind, outputs", KINDS)
def test_samples_have_exactly_the_task_second_moments(kind, outputs):
    rng = np.random.default_rng(8)
    task = _task(kind, outputs, _random_covariance(rng, 2, 4))
    setup = set_up(task, data=SampleData(n_samples=40), seed=3)
    X, Y, C = setup.data.X, setup.data.Y, setup.data.correlations
    T, N_x = X.shape[1], X.shape[2]
    np.testing.assert_allclose(X.reshape(40, T * N_x).T @ X.reshape(40, T * N_x), _flat(_full_covariance(setup)),
                               rtol=0, atol=1e-10)
    if outputs == "final":
        np.testing.assert_allclose(np.einsum("py,pix->iyx", Y, X), C, rtol=0, atol=1e-10)
    else:  # the output at time t with the inputs it sees, i <= t
        moments = np.einsum("pty,pix->tiyx", Y, X)
        causal = np.tril(np.ones((T, T), dtype=bool))
        np.testing.assert_allclose(moments[causal], C[causal], rtol=0, atol=1e-10)
    assert setup.data.info["covariance_error"] < 1e-10
    # the sample loss (BPTT) is the population loss, at any weights
    population = set_up(task, data=PopulationData(n_samples=40), seed=3)
    weights = [w + 0.2 * rng.standard_normal(w.shape) for w in setup.network.weights]
    ls, gs = setup.objective("mean").loss_and_grad(weights)
    lp, gp = population.objective("mean").loss_and_grad(weights)
    assert ls == pytest.approx(lp, rel=1e-12)
    for a, b in zip(gs, gp):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind, outputs", KINDS)
def test_sample_training_equals_population_training(kind, outputs):
    task = _task(kind, outputs, {"ar1": 0.8})
    runs = [train_lrnn(task, lr=0.02, steps=300, data=data, seed=1, record_every=10) for data in ("population",
                                                                                                  "samples")]
    for q in ("a", "b", "c"):
        np.testing.assert_allclose(getattr(runs[0].trajectory, q), getattr(runs[1].trajectory, q), rtol=0,
                                   atol=1e-11)
    np.testing.assert_allclose(runs[0].losses, runs[1].losses, rtol=1e-11, atol=1e-13)
    # aligned training stays aligned: the recorded energy is the population loss (the block of a complex mode twice)
    weight = 2.0 if kind == "complex" else 1.0
    np.testing.assert_allclose(weight * runs[0].trajectory.energy.sum(axis=1), runs[0].losses, rtol=1e-9,
                               atol=1e-12)


def test_white_covariance_takes_the_white_path_bit_for_bit():
    plain = Task.inverse_exponential(delta=[1.0, 0.6], lam=[0.7, 0.9], T=4, init={"a": 0.3, "b": 0.3, "c": 0.3})
    white = Task.inverse_exponential(delta=[1.0, 0.6], lam=[0.7, 0.9], T=4, init={"a": 0.3, "b": 0.3, "c": 0.3},
                                     input_covariance=np.eye(4))
    for data in ("population", "samples"):
        a, b = (train_lrnn(t, lr=0.05, steps=100, data=data, record_every=10) for t in (plain, white))
        assert set_up(white, data=data).data.moments is None
        for q in ("a", "b", "c", "energy"):
            assert np.array_equal(getattr(a.trajectory, q), getattr(b.trajectory, q))
        assert np.array_equal(a.losses, b.losses)


def test_user_arrays_train_as_today():
    """User data carry no input covariance of the harness: the loss is the samples' own (BPTT on X, Y)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3, 2))
    Y = np.einsum("pix->px", X) + 0.1 * rng.standard_normal((30, 2))
    setup = set_up(None, data=UserData(X, Y))
    assert setup.data.moments is None
    loss, _ = setup.objective().loss_and_grad(setup.network)
    net = setup.network
    assert loss == pytest.approx(0.5 * np.sum((net.forward(X) - Y) ** 2), rel=1e-12)


def test_ntk_probes_of_population_data_have_the_task_covariance():
    """Population data record the NTK over the one-hot probes coloured to the task's covariance (exact-covariance
    samples are Q times them, Q with orthonormal columns)."""
    task = _task("real", "final", {"ar1": 0.8})
    run = train_lrnn(task, lr=0.01, steps=3, ntk_steps=[0])
    X = run.ntk["inputs"]
    setup = set_up(task)
    flat = X.reshape(X.shape[0], -1)
    np.testing.assert_allclose(flat.T @ flat, _flat(_full_covariance(setup)), rtol=0, atol=1e-12)


# ---- aligned training converges to the correlated flow at first order in the learning rate -----------------------
def _max_errors(task, t_end, runs):
    """max |u_network - u_theory| of each (data, lr) run; one integration of the theory on the finest record grid
    serves every run (the theory was 85% of the cost: once instead of once per run)."""
    trained = {(data, lr): train_lrnn(task, lr=lr, steps=int(round(t_end / lr)), data=data, record_every=2).trajectory
               for data, lr in runs}
    fine = min((sim.t for sim in trained.values()), key=lambda t: t[1] - t[0])
    # rtol 1e-9 (3x cheaper than 1e-11): moves the errors (>= 1e-3) in the 8th digit
    theory = integrate(task, fine[-1], t_eval=fine, rtol=1e-9, atol=1e-11)
    errors = {}
    for key, sim in trained.items():
        at = np.searchsorted(fine, sim.t - 1e-9 * t_end)           # each record time on the fine grid
        np.testing.assert_allclose(fine[at], sim.t, rtol=1e-12, atol=1e-12)
        errors[key] = float(np.max(np.abs(sim.u - theory.u[at])))
    return errors


# each output kind once, each rho once: rho is a number on the same AR(1) path (the 2 x 2 grid doubled the time)
@pytest.mark.parametrize("rho, outputs, t_end", [(0.6, "final", 10.0), (0.8, "every_step", 4.0)])
def test_aligned_training_converges_to_the_correlated_flow_at_first_order(rho, outputs, t_end):
    task = Task.inverse_exponential(delta=[1.0, 0.6], lam=[0.7, 0.9], T=5, init={"a": 0.2, "b": 0.2, "c": 0.2},
                                    input_covariance={"ar1": rho}, outputs=outputs)
    errors = _max_errors(task, t_end, [(data, lr) for data in ("population", "samples") for lr in (0.01, 0.005)])
    print(f"AR(1) rho={rho} {outputs}: max|u_network - u_theory| at lr 0.01 -> 0.005: population "
          f"{errors['population', 0.01]:.4g} -> {errors['population', 0.005]:.4g}, samples "
          f"{errors['samples', 0.01]:.4g} -> {errors['samples', 0.005]:.4g}")
    for data in ("population", "samples"):
        assert errors[data, 0.01] < 0.02
        assert 1.9 < errors[data, 0.01] / errors[data, 0.005] < 2.1   # first order in the learning rate
        assert errors[data, 0.01] == pytest.approx(errors["population", 0.01], rel=1e-6)


# ---- the command line ----------------------------------------------------------------------------------------------
def test_simulate_and_validate_run_on_a_correlated_task_file(tmp_path, capsys):
    from lrnn_theory.cli import main
    from lrnn_theory.trajectory import Trajectory

    spec = {"family": "inverse_exponential", "T": 5, "delta": [1.0, 0.6], "lambda": [0.7, 0.9],
            "init": {"a": 0.2, "b": 0.2, "c": 0.2}, "input_covariance": {"ar1": 0.6}}
    path = tmp_path / "task.json"
    path.write_text(json.dumps(spec))
    out, plot = tmp_path / "sim.csv", tmp_path / "sim.png"
    capsys.readouterr()
    assert main(["simulate", str(path), "--lr", "0.01", "--steps", "500", "--record-every", "1", "--out",
                 str(out), "--plot", str(plot), "--no-progress"]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    task = Task.from_dict(spec)
    written = Trajectory.from_csv(out)
    theory = integrate(task, written.t[-1], t_eval=written.t, rtol=1e-9, atol=1e-11)  # against a 1e-2 bound
    error = np.max(np.abs(written.u - theory.u))
    assert error < 0.01

    def printed_u_error(text):
        line = next(row for row in text.splitlines() if row.startswith("largest |simulation - theory|"))
        found = dict(pair.split("=") for pair in line.split(": ")[1].split(" (")[0].split(", "))
        return float(found["u"])

    assert printed_u_error(capsys.readouterr().out) == pytest.approx(error, rel=0.01)
    assert main(["validate", str(path), "--lr", "0.01", "--steps", "500", "--tol", "0.01", "--no-progress"]) == 0
    assert printed_u_error(capsys.readouterr().out) == pytest.approx(error, rel=0.01)

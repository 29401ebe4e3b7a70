"""Result 4: the exact NTK of a linear RNN, its movement during training, and its prediction from the modes."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from lrnn_theory import Task, integrate
from lrnn_theory.cli import main
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.ntk import (NTK, PARTS, empirical_ntk, kernel_distance, kernel_inputs, mode_ntk,
                             predicted_distance_curve, probe_inputs, whitened_probe_inputs)
from lrnn_theory.validation import LRNN, train_lrnn
from lrnn_theory.validation.data import random_orthonormal, whitened_inputs


# ---- independent references -------------------------------------------------------------------------------------
def unrolled_outputs(weights, X, every_step=False):
    """Outputs written straight from the model definition, flattened as the kernel's rows."""
    W_x, W_h, W_y = weights
    P, T, _ = X.shape
    h = np.zeros((P, W_x.shape[0]))
    outs = []
    for t in range(T):
        h = h @ W_h.T + X[:, t] @ W_x.T
        outs.append(h @ W_y.T)
    return np.stack(outs, axis=1).ravel() if every_step else outs[-1].ravel()


def fd_jacobian(weights, X, every_step=False, eps=1e-5):
    """Central-difference Jacobian of all outputs with respect to every weight entry; one block per weight."""
    blocks = []
    for j, W in enumerate(weights):
        cols = []
        for idx in np.ndindex(W.shape):
            plus = [w.copy() for w in weights]
            minus = [w.copy() for w in weights]
            plus[j][idx] += eps
            minus[j][idx] -= eps
            cols.append((unrolled_outputs(plus, X, every_step) - unrolled_outputs(minus, X, every_step)) / (2 * eps))
        blocks.append(np.array(cols).T)
    return blocks


SHAPES = [  # N_x, N_h, N_y, T, P
    (1, 1, 1, 1, 2), (2, 3, 2, 1, 3), (3, 4, 2, 5, 4), (2, 5, 3, 3, 2), (4, 3, 1, 6, 3), (1, 6, 2, 8, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("outputs", ["final", "every_step"])
def test_empirical_ntk_equals_finite_difference_jjt(shape, outputs):
    N_x, N_h, N_y, T, P = shape
    rng = np.random.default_rng(sum(shape))
    weights = [rng.normal(size=(N_h, N_x)), rng.normal(size=(N_h, N_h)) / np.sqrt(N_h), rng.normal(size=(N_y, N_h))]
    X = rng.normal(size=(P, T, N_x))
    kern = empirical_ntk(*weights, X, outputs=outputs, parts=True)
    blocks = fd_jacobian(weights, X, every_step=outputs == "every_step")
    n = P * N_y * (T if outputs == "every_step" else 1)
    total = sum(J @ J.T for J in blocks)
    assert kern.total.shape == (n, n)
    scale = np.max(np.abs(total))
    assert np.max(np.abs(kern.total - total)) <= 1e-7 * scale
    for name, J in zip(("W_x", "W_h", "W_y"), blocks):
        assert np.max(np.abs(kern.part(name) - J @ J.T)) <= 1e-7 * scale, name


def test_every_step_kernel_blocks():
    """Notes §7.1 (App. M.5): "the same structure with T -> t". The (t, t) block is the final-output kernel of the
    first t steps; the cross-time blocks (t != t'), which that description leaves out, are not zero."""
    rng = np.random.default_rng(12)
    W = [rng.normal(size=(4, 2)), rng.normal(size=(4, 4)) / 2, rng.normal(size=(3, 4))]
    P, T, N_y = 3, 4, 3
    X = rng.normal(size=(P, T, 2))
    K = empirical_ntk(*W, X, outputs="every_step").reshape(P, T, N_y, P, T, N_y)
    for t in range(1, T + 1):
        final_t = empirical_ntk(*W, X[:, :t]).reshape(P, N_y, P, N_y)
        assert np.allclose(K[:, t - 1, :, :, t - 1, :], final_t, rtol=1e-12, atol=1e-12)
    assert np.max(np.abs(K[:, 1, :, :, 3, :])) > 0.1 * np.max(np.abs(K))


def test_T1_is_the_two_layer_linear_network_ntk():
    rng = np.random.default_rng(3)
    W_x, W_h, W_y = rng.normal(size=(5, 3)), rng.normal(size=(5, 5)), rng.normal(size=(2, 5))
    X = rng.normal(size=(4, 1, 3))
    x = X[:, 0]
    h = x @ W_x.T
    # f(x) = W_y W_x x: dW_y gives (h.h') I, dW_x gives (x.x') W_y W_y^T; W_h does not enter.
    expected = np.kron(h @ h.T, np.eye(2)) + np.kron(x @ x.T, W_y @ W_y.T)
    kern = empirical_ntk(W_x, W_h, W_y, X, parts=True)
    assert np.allclose(kern.total, expected, rtol=1e-12, atol=1e-12)
    assert np.all(kern.W_h == 0)


def test_one_small_training_step_follows_the_kernel():
    """tau dy/dt = K (y - y_hat): one gradient step of size lr changes the outputs by lr K r + O(lr^2)."""
    rng = np.random.default_rng(4)
    net = LRNN(rng.normal(size=(4, 2)) * 0.5, rng.normal(size=(4, 4)) * 0.3, rng.normal(size=(3, 4)) * 0.5)
    X, Y = rng.normal(size=(6, 5, 2)), rng.normal(size=(6, 3))
    K = empirical_ntk(*net.weights, X)
    residual = (Y - net.forward(X)).ravel()
    predicted = K @ residual
    errors = []
    for lr in (1e-5, 1e-6):
        _, grads = net.loss_and_grad_samples(X, Y)
        stepped = LRNN(*(W - lr * g for W, g in zip(net.weights, grads)))
        change = (stepped.forward(X) - net.forward(X)).ravel() / lr
        errors.append(np.max(np.abs(change - predicted)) / np.max(np.abs(predicted)))
    assert errors[1] < 1e-4
    assert errors[0] / errors[1] == pytest.approx(10, rel=0.05)  # the remainder is O(lr): first order is exact


def aligned_setup(seed=5, K=3, N_h=5, T=4):
    rng = np.random.default_rng(seed)
    U, V, R = random_orthonormal(rng, K, K), random_orthonormal(rng, K, K), random_orthonormal(rng, N_h, K)
    a, b, c = rng.normal(size=K), rng.uniform(-1.1, 1.1, K), rng.normal(size=K)
    return a, b, c, U, V, R, LRNN.aligned(a, b, c, U, V, R), rng


def test_mode_theory_kernel_equals_empirical_kernel_of_aligned_network():
    a, b, c, U, V, R, net, rng = aligned_setup()
    X = rng.normal(size=(7, 4, 3))  # not whitened: the formula holds for any inputs
    rotate = np.kron(np.eye(7), U)
    emp = empirical_ntk(*net.weights, X, parts=True)
    mode = mode_ntk(a, b, c, X, V, parts=True)
    scale = np.max(np.abs(emp.total))
    for name in ("W_x", "W_h", "W_y"):
        assert np.max(np.abs(rotate @ mode.part(name) @ rotate.T - emp.part(name))) <= 1e-12 * scale, name
    # Equal recurrent modes: g is (T - t) b^(T - t - 1) there (no 0/0).
    b_eq = np.array([0.6, 0.6, -0.3])
    net_eq = LRNN.aligned(a, b_eq, c, U, V, R)
    assert np.allclose(rotate @ mode_ntk(a, b_eq, c, X, V) @ rotate.T, empirical_ntk(*net_eq.weights, X),
                       rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize("sizes, T, N_h", [([2], 5, 2), ([2, 1, 2], 4, 7), ([1, 2], 8, 4), ([2, 2], 1, 5)])
def test_complex_mode_kernel_equals_empirical_kernel_of_aligned_block_network(sizes, T, N_h):
    """Rotational tasks: the kernel from complex a, b, c equals J J^T of the real block network (every part)."""
    rng = np.random.default_rng(T + N_h)
    sizes = np.array(sizes)
    K, N = sizes.size, int(sizes.sum())

    def modes(scale):
        z = scale * (rng.normal(size=K) + 1j * rng.normal(size=K))
        return np.where(sizes == 2, z, z.real)

    a, b, c = modes(1.0), modes(0.6), modes(1.0)
    U, V, R = random_orthonormal(rng, N, N), random_orthonormal(rng, N + 1, N), random_orthonormal(rng, N_h, N)
    net = LRNN.aligned_blocks(a, b, c, U, V, R, sizes)
    X = rng.normal(size=(3, T, N + 1))  # not whitened, N_x > N: the formula holds for any inputs
    rotate = np.kron(np.eye(3), U)
    emp = empirical_ntk(*net.weights, X, parts=True)
    mode = mode_ntk(a, b, c, X, V, parts=True, sizes=sizes)
    scale = np.max(np.abs(emp.total))
    for name in ("W_x", "W_h", "W_y"):
        assert np.max(np.abs(rotate @ mode.part(name) @ rotate.T - emp.part(name))) <= 1e-10 * scale, name
    # Equal and conjugate recurrent modes (g's recursion has no 0/0 there).
    b_eq = np.where(sizes == 2, 0.5 + 0.3j, 0.4)
    if K > 1 and np.all(sizes == 2):
        b_eq[1] = np.conj(b_eq[0])
    net_eq = LRNN.aligned_blocks(a, b_eq, c, U, V, R, sizes)
    assert np.allclose(rotate @ mode_ntk(a, b_eq, c, X, V, sizes=sizes) @ rotate.T,
                       empirical_ntk(*net_eq.weights, X), rtol=1e-10, atol=1e-10 * scale)


def test_complex_mode_kernel_reduces_to_the_real_one_and_checks_input():
    rng = np.random.default_rng(4)
    a, b, c = rng.normal(size=3), rng.uniform(-1, 1, 3), rng.normal(size=3)
    X = rng.normal(size=(2, 4, 3))
    # real values stored as complex numbers: the same real network
    assert np.allclose(mode_ntk(a + 0j, b + 0j, c + 0j, X, sizes=[1, 1, 1]), mode_ntk(a, b, c, X), rtol=1e-12,
                       atol=1e-12)
    # A complex mode with real values is the 2x2 block s I_2: the same network as two real modes (figA4's T = 1 row).
    probes = whitened_probe_inputs(1, 2)
    assert np.allclose(mode_ntk([0.3], [0.3], [0.3], probes, sizes=[2]),
                       mode_ntk([0.3, 0.3], [0.3, 0.3], [0.3, 0.3], probes), rtol=1e-14, atol=0)
    with pytest.raises(LrnnInputError, match="'sizes'"):
        mode_ntk([1j], [0.5], [1.0], probes, sizes=[1])
    with pytest.raises(LrnnInputError, match="'sizes'"):
        mode_ntk([1j], [0.5], [1.0], probes, sizes=[3])
    with pytest.raises(LrnnInputError, match="'X'"):
        mode_ntk([1j], [0.5], [1.0], whitened_probe_inputs(1, 3))


MODE_KINDS = {"real": [1, 1, 1], "complex": [2, 2], "mixed": [2, 1, 2]}


@pytest.mark.parametrize("kind", list(MODE_KINDS))
@pytest.mark.parametrize("outputs", ["final", "every_step"])
@pytest.mark.parametrize("extra_outputs", [0, 2])
def test_mode_kernel_is_the_empirical_kernel_for_every_kind_of_mode_and_output(kind, outputs, extra_outputs):
    """One function for real, complex and mixed modes, final and every-step outputs, N_y = N and N_y > N: against
    J J^T of the aligned (block) network built in tests/reference.py, every part. Without U the kernel is the
    output-mode block U^T K U of the network's kernel (for any N_y); with U it is the whole kernel, including the
    W_y part on the N_y - N output directions that no mode reaches (the former N_y > K error)."""
    from reference import orthonormal_columns

    sizes = np.array(MODE_KINDS[kind])
    K, N, T, P = sizes.size, int(sizes.sum()), 4, 3
    rng = np.random.default_rng(N + extra_outputs + (outputs == "every_step"))

    def modes(scale):
        z = scale * (rng.normal(size=K) + 1j * rng.normal(size=K))
        return np.where(sizes == 2, z, z.real)

    a, b, c = modes(0.8), modes(0.5), modes(0.9)
    if kind == "real":
        a, b, c = a.real, b.real, c.real
    U = orthonormal_columns(N + extra_outputs, N, rng)
    V, R = orthonormal_columns(N + 1, N, rng), orthonormal_columns(N + 2, N, rng)
    net = LRNN.aligned_blocks(a, b, c, U, V, R, sizes)
    X = rng.normal(size=(P, T, N + 1))
    emp = empirical_ntk(*net.weights, X, outputs=outputs, parts=True)
    full = mode_ntk(a, b, c, X, V, parts=True, outputs=outputs, U=U)
    block = mode_ntk(a, b, c, X, V, parts=True, outputs=outputs)
    S = T if outputs == "every_step" else 1
    rotate = np.kron(np.eye(P * S), U)
    scale = np.max(np.abs(emp.total))
    for name in PARTS:
        assert np.max(np.abs(full.part(name) - emp.part(name))) <= 1e-12 * scale, name
        assert np.max(np.abs(block.part(name) - rotate.T @ emp.part(name) @ rotate)) <= 1e-12 * scale, name
    if extra_outputs:  # the output-mode block alone misses the W_y part on the other outputs: no longer silent
        assert np.max(np.abs(rotate @ block.total @ rotate.T - emp.total)) > 0.01 * scale


def test_every_step_mode_kernel_holds_the_final_kernels_of_the_prefixes():
    """The (s, s) block of the every-step kernel is the final-output kernel of the first s steps."""
    rng = np.random.default_rng(3)
    a, b, c = np.array([0.6 + 0.2j, 0.4]), np.array([0.7 - 0.3j, -0.5]), np.array([1.1, 0.8 - 0.1j])
    P, T, N = 2, 5, 4
    X = rng.normal(size=(P, T, N))
    kern = mode_ntk(a, b, c, X, outputs="every_step").reshape(P, T, N, P, T, N)
    for s in range(1, T + 1):
        assert np.allclose(kern[:, s - 1, :, :, s - 1, :].reshape(P * N, P * N), mode_ntk(a, b, c, X[:, :s]),
                           rtol=1e-12, atol=1e-12)


def test_mode_kernel_checks_outputs_and_output_basis():
    X = whitened_probe_inputs(2, 2)
    with pytest.raises(LrnnInputError, match="'outputs'"):
        mode_ntk([0.5, 0.4], [0.3, 0.2], [1.0, 1.0], X, outputs="every")
    with pytest.raises(LrnnInputError, match="'U'"):
        mode_ntk([0.5, 0.4], [0.3, 0.2], [1.0, 1.0], X, U=np.ones((3, 2)))
    with pytest.raises(LrnnInputError, match="'U'"):
        mode_ntk([0.5, 0.4], [0.3, 0.2], [1.0, 1.0], X, U=np.eye(3)[:, :1])


def test_rotation_task_kernel_movement_is_predicted_from_the_complex_modes():
    """A trained aligned block network: read-off complex modes give its kernel at every record; the integrated complex
    flow (no training) gives the final distance; auto_lr is half the Hessian stability bound of the block network."""
    from lrnn_theory.validation.harness import hessian_top_eigenvalue, rotational_setup
    from lrnn_theory.validation.ntk import auto_lr, kernel_distance_run

    task = Task.from_family("inverse_exponential", T=3, delta=1.0, lam=1.0, lambda_phase=np.pi / 12,
                            init={"a": 0.1, "b": 0.1, "c": 0.1})
    res = train_lrnn(task, lr=0.02, steps=2000, record_every=40, ntk_steps="records", stop_loss=1e-8)
    ntk, tr, sizes = res.ntk, res.trajectory, res.info["block_sizes"]
    assert ntk["kernels"].shape[1:] == (3 * 2 * 2, 3 * 2 * 2) and np.iscomplexobj(tr.b)
    distance = kernel_distance(ntk["kernels"][0], ntk["kernels"])
    assert np.max(np.abs(predicted_distance_curve(tr, ntk["inputs"], res.basis["V"], sizes) - distance)) < 1e-10
    out = kernel_distance_run(task, init="aligned", init_scale=0.1)
    assert out["converged"] and out["distance"] > 0.3
    assert abs(out["predicted"] - out["distance"]) < 1e-3
    final = integrate(task, 200.0, n_points=2).final()
    setup = rotational_setup(task.with_init(a=final["a"], b=final["b"], c=final["c"]), hidden=3, seed=2)
    top = hessian_top_eigenvalue(lambda ws: LRNN(*ws).loss_and_grad_population(setup["C"])[1],
                                 list(setup["network"].weights), (0, 1, 2))
    assert auto_lr(task, lr_max=1.0) == pytest.approx(1.0 / top, rel=1e-4)


def test_unaligned_network_is_not_described_by_its_read_off_modes():
    """Where the mode theory stops holding: a random network's kernel is not the mode kernel of its read-off modes."""
    from lrnn_theory.validation.harness import read_modes

    rng = np.random.default_rng(6)
    K, N_h, T = 3, 5, 4
    U, V = random_orthonormal(rng, K, K), random_orthonormal(rng, K, K)
    net = LRNN(rng.normal(size=(N_h, K)) / np.sqrt(K), rng.normal(size=(N_h, N_h)) * 0.5 / np.sqrt(N_h),
               rng.normal(size=(K, N_h)) / np.sqrt(N_h))
    X = whitened_probe_inputs(T, K)
    a, b, c = read_modes(net, U, V)
    rotate = np.kron(np.eye(X.shape[0]), U)
    assert kernel_distance(empirical_ntk(*net.weights, X), rotate @ mode_ntk(a, b, c, X, V) @ rotate.T) > 0.05


def test_symbolic_kernel_matches_generic_network_and_numeric_formula():
    import sympy as sp

    from lrnn_theory.derivations import ntk as sym

    for name, diff in sym.verify_against_network(3, 2).items():
        assert diff.is_zero_matrix, name
    # The probe block kappa_{alpha gamma}(t, t') against mode_ntk over the whitened probes (mode coordinates).
    T, K = 4, 2
    a, b, c = np.array([0.7, -0.4]), np.array([0.9, 0.3]), np.array([1.2, 0.5])
    numeric = mode_ntk(a, b, c, whitened_probe_inputs(T, K)).reshape(T, K, K, T, K, K)  # (t, gamma, alpha, ...)
    block = sym.derive_probe_block()["total"].subs(sym.T, T)
    # math module: a Piecewise evaluates only its chosen branch (no 0/0 where b_alpha = b_gamma)
    f = sp.lambdify((sym.t, sym.tp, sym.a_g, sym.b_a, sym.b_g, sym.c_a), block.doit(), modules="math")
    for al in range(K):
        for ga in range(K):
            for t in range(1, T + 1):
                for tp in range(1, T + 1):
                    value = f(t, tp, a[ga], b[al], b[ga], c[al])
                    assert numeric[t - 1, ga, al, tp - 1, ga, al] == pytest.approx(value, rel=1e-12, abs=1e-14)
    # Off the (alpha, gamma) blocks the kernel is zero.
    mask = np.zeros_like(numeric, dtype=bool)
    for al in range(K):
        for ga in range(K):
            mask[:, ga, al, :, ga, al] = True
    assert np.all(numeric[~mask] == 0)


def test_paper_eq125_form_of_the_W_h_part_needs_equal_recurrent_modes():
    """Notes §7.1: S1 eq. 125 writes the W_h term as (T-i) W_y W_h^(T-i-1) dW_h W_x x_i, exact only when W_h
    commutes with the update. Its kernel equals the exact W_h part when every b is equal, and not otherwise."""
    def eq125_kernel(net, X):
        W_x, W_h, W_y = net.weights
        P, T, _ = X.shape
        # dW_h -> sum_i (T-i) W_y W_h^(T-i-1) dW_h W_x x_i: rows M_i = (T-i) W_y W_h^(T-i-1), columns W_x x_i
        rows = np.stack([(T - i) * W_y @ np.linalg.matrix_power(W_h, T - i - 1) for i in range(1, T)])
        cols = X[:, :T - 1] @ W_x.T  # (P, T-1, N_h)
        inner_rows = np.einsum("ikh,jlh->ikjl", rows, rows)
        inner_cols = np.einsum("pih,qjh->piqj", cols, cols)
        n = P * W_y.shape[0]
        return np.einsum("ikjl,piqj->pkql", inner_rows, inner_cols).reshape(n, n)

    a, b, c, U, V, R, net, rng = aligned_setup(seed=11)
    X = rng.normal(size=(5, 4, 3))
    exact = empirical_ntk(*net.weights, X, parts=True).W_h
    assert np.max(np.abs(eq125_kernel(net, X) - exact)) > 1e-2 * np.max(np.abs(exact))
    equal = LRNN.aligned(a, np.full(3, 0.7), c, U, V, R)
    exact_equal = empirical_ntk(*equal.weights, X, parts=True).W_h
    assert np.allclose(eq125_kernel(equal, X), exact_equal, rtol=1e-10, atol=1e-12 * np.max(np.abs(exact_equal)))


def test_whitened_samples_give_the_probe_distances():
    a, b, c, U, V, R, net0, rng = aligned_setup(seed=7, K=2, N_h=3, T=3)
    net1 = LRNN(rng.normal(size=(3, 2)), rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(2, 3)))
    X = whitened_inputs(rng, 11, 3, 2)
    probes = whitened_probe_inputs(3, 2)
    d_samples = kernel_distance(empirical_ntk(*net0.weights, X), empirical_ntk(*net1.weights, X))
    d_probes = kernel_distance(empirical_ntk(*net0.weights, probes), empirical_ntk(*net1.weights, probes))
    assert d_samples == pytest.approx(d_probes, rel=1e-10)
    assert d_samples > 0.01


def test_kernel_distance_properties_and_bad_input():
    rng = np.random.default_rng(8)
    A = rng.normal(size=(4, 4))
    K0 = A @ A.T
    assert kernel_distance(K0, 5.0 * K0) == 0.0
    assert kernel_distance(np.eye(2), np.array([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx(1.0)
    with pytest.raises(LrnnInputError, match="'K1' must not be a zero kernel"):
        kernel_distance(K0, np.zeros((4, 4)))
    with pytest.raises(LrnnInputError, match="'K0' and 'K1'"):
        kernel_distance(K0, np.eye(3))
    with pytest.raises(LrnnInputError, match="'X'"):
        empirical_ntk(np.eye(2), np.eye(2), np.eye(2), np.ones((3, 2, 5)))
    with pytest.raises(LrnnInputError, match="'outputs'"):
        empirical_ntk(np.eye(2), np.eye(2), np.eye(2), np.ones((3, 2, 2)), outputs="all")
    with pytest.raises(LrnnInputError, match="'W_h'"):
        empirical_ntk(np.eye(2), np.eye(3), np.eye(2), np.ones((3, 2, 2)))


_W = (np.eye(2), 0.5 * np.eye(2), np.eye(2))
_X = np.ones((3, 2, 2))
_MASKED = np.ma.masked_array(np.ones((3, 2, 2)), mask=np.zeros((3, 2, 2), dtype=bool))  # nothing hidden: still refused
_TRAJ = SimpleNamespace(t=np.array([0.0, 1.0]), a=np.full((2, 1), 0.1), b=np.full((2, 1), 0.1),
                        c=np.full((2, 1), 0.1))  # a Trajectory's fields, without integrating


@pytest.mark.parametrize("call, param, shown", [
    (lambda: kernel_distance(np.full((2, 2), np.nan), np.eye(2)), "K0", "finite"),
    (lambda: kernel_distance(np.eye(2), [[np.inf, 0.0], [0.0, 1.0]]), "K1", "finite"),
    (lambda: kernel_distance("abc", np.eye(2)), "K0", "'abc'"),
    (lambda: kernel_distance(np.ones(3), np.ones(3)), "K0", "at least 2 dimension"),
    (lambda: kernel_distance(np.ma.masked_array(np.eye(2), mask=[[0, 1], [0, 0]]), np.eye(2)), "K0", "masked"),
    (lambda: kernel_distance([[True, False], [False, True]], np.eye(2)), "K0", "true/false"),
    (lambda: kernel_distance(np.zeros((3, 2, 2)) + np.eye(2), np.zeros((2, 2))), "K1", "zero kernel"),
    (lambda: empirical_ntk(np.full((2, 2), np.inf), *_W[1:], _X), "W_x", "finite"),
    (lambda: empirical_ntk(_W[0], "W", _W[2], _X), "W_h", "'W'"),
    (lambda: empirical_ntk(np.ones(2), *_W[1:], _X), "W_x", "2 dimension"),
    (lambda: empirical_ntk(*_W, np.ones(4)), "X", "3 dimension"),
    (lambda: empirical_ntk(*_W, _MASKED), "X", "masked"),
    (lambda: empirical_ntk(*_W, _X, outputs=["final"]), "outputs", "['final']"),
    (lambda: empirical_ntk(*_W, _X, parts="yes"), "parts", "'yes'"),
    (lambda: mode_ntk("a", [0.5], [1.0], np.ones((1, 2, 1))), "a", "'a'"),
    (lambda: mode_ntk([1.0], [np.nan], [1.0], np.ones((1, 2, 1))), "b", "finite"),
    (lambda: mode_ntk([[1.0]], [0.5], [1.0], np.ones((1, 2, 1))), "a", "1-D"),
    (lambda: mode_ntk([1.0], [0.5], [1.0], np.ones((2, 1))), "X", "3 dimension"),
    (lambda: mode_ntk([1.0], [0.5], [1.0], np.ma.masked_array(np.ones((1, 2, 1)))), "X", "masked"),
    (lambda: mode_ntk([1.0], [0.5], [1.0], np.ones((1, 2, 1)), V=np.ones(1)), "V", "2 dimension"),
    (lambda: mode_ntk([1.0], [0.5], [1.0], np.ones((1, 2, 1)), sizes="ab"), "sizes", "numbers"),
    (lambda: mode_ntk([1.0], [0.5], [1.0], np.ones((1, 2, 1)), outputs="all"), "outputs", "'all'"),
    (lambda: whitened_probe_inputs(2.5, 1), "T", "2.5"),
    (lambda: whitened_probe_inputs(2, "3"), "N_x", "'3'"),
    (lambda: probe_inputs(2, 1, [[1.0, np.nan], [np.nan, 1.0]]), "input_covariance", "finite"),
    (lambda: probe_inputs(2, 2, None, V=np.ones((2, 3))), "V", "(2, 3)"),
    (lambda: kernel_inputs("noise", 2, 1), "kernel_inputs", "'noise'"),
    (lambda: kernel_inputs("samples", 2, 1, n_samples=0), "n_samples", "0"),
    (lambda: kernel_inputs("samples", 2, 1, seed=-1), "seed", "-1"),
    (lambda: predicted_distance_curve("trajectory", whitened_probe_inputs(2, 1)), "trajectory", "'trajectory'"),
    (lambda: predicted_distance_curve(_TRAJ, np.ma.masked_array(np.ones((2, 2, 1)))),
     "X", "masked"),
    (lambda: NTK(*([np.eye(2)] * 3)).part("W_z"), "part", "'W_z'"),
])
def test_ntk_api_refuses_bad_input_naming_the_parameter_and_value(call, param, shown):
    """Issue 24: every public NTK function raises LrnnInputError naming the parameter and showing the value, for
    NaN/inf, strings, booleans, wrong dimensions and masked arrays (refused even when nothing is masked)."""
    with pytest.raises(LrnnInputError) as info:
        call()
    message = str(info.value)
    assert f"'{param}'" in message and shown in message, message
    assert "\n" not in message


def test_sample_sequences_are_seeded_gaussian_with_the_task_covariance():
    X = kernel_inputs("samples", 3, 2, n_samples=4, seed=5)
    assert np.array_equal(X, kernel_inputs("samples", 3, 2, n_samples=4, seed=5))
    assert not np.array_equal(X, kernel_inputs("samples", 3, 2, n_samples=4, seed=6))
    lam = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.6], [0.2, 0.6, 1.0]])
    many = kernel_inputs("samples", 3, 2, n_samples=40000, seed=0, input_covariance=lam)
    moments = np.einsum("pti,psi->its", many, many) / 40000        # per input direction
    assert np.max(np.abs(moments - lam)) < 0.03
    white = kernel_inputs("samples", 3, 2, n_samples=40000, seed=0)
    assert np.max(np.abs(np.einsum("pti,psj->tisj", white, white).reshape(6, 6) / 40000 - np.eye(6))) < 0.03


def test_sample_kernel_reading_is_the_kernel_over_those_samples(monkeypatch):
    """kernel_inputs="samples": the distance is that of J J^T (finite differences, no empirical_ntk) over the seeded
    Gaussian sequences, between the very networks the run started from and ended at."""
    import lrnn_theory.validation.ntk as vntk

    runs = []

    def recording_train(*args, **kwargs):
        runs.append(train_lrnn(*args, **kwargs))
        return runs[-1]

    monkeypatch.setattr(vntk, "train_lrnn", recording_train)
    task = Task.from_family("constant", T=3, delta=[1.0, 1.0])
    out = vntk.kernel_distance_run(task, init="random", init_scale=0.3, hidden=3, lr=0.05, max_t=5.0,
                                   kernel=vntk.KernelReadings(inputs=("samples", "probes"), samples=5, seed=3))
    X = kernel_inputs("samples", 3, 2, n_samples=5, seed=3)

    def fd_kernel(net):
        return sum(J @ J.T for J in fd_jacobian(list(net.weights), X))

    K0, K1 = fd_kernel(runs[0].initial_network), fd_kernel(runs[0].network)
    expected = 1 - np.sum(K0 * K1) / np.sqrt(np.sum(K0 * K0) * np.sum(K1 * K1))
    assert out["distance"] == out["distance_samples"] == pytest.approx(expected, abs=1e-7)
    assert 0.05 < expected and abs(out["distance_probes"] - expected) > 0.01   # two different readings


def test_fixed_lr_grid_marks_divergence_where_direct_gradient_descent_diverges():
    """One fixed learning rate (0.05) for a grid over T: the cells that diverge are those where plain gradient
    descent on the loss 1/2 sum_t (1 - w_y w_h^(T-t) w_x)^2, written out here, blows up (one mode, N_h = 1)."""
    from lrnn_theory.validation.figures.ntk import _grid_json
    from lrnn_theory.validation.ntk import KernelReadings, distance_grid

    lr, T_values, scale = 0.05, [3, 8], 0.1

    def direct_gd_diverges(T):
        w = np.array([scale, scale, scale])  # w_x, w_h, w_y (aligned init: a = b = c = scale)
        for _ in range(int(np.ceil(200.0 / lr))):
            n = T - np.arange(1, T + 1)
            err = 1.0 - w[2] * w[1] ** n * w[0]
            d_wh = n * w[1] ** np.maximum(n - 1, 0)  # d(w_h^n)/d w_h
            grad = -np.array([np.sum(err * w[2] * w[1] ** n), np.sum(err * w[2] * w[0] * d_wh),
                              np.sum(err * w[1] ** n * w[0])])
            w = w - lr * grad
            if not np.all(np.abs(w) < 1e6):
                return True
        return False

    grid = distance_grid([Task.from_family("constant", T=T, delta=[1.0]) for T in T_values], [scale],
                         init="aligned", lr=lr, kernel=KernelReadings(predict=False))
    direct = [direct_gd_diverges(T) for T in T_values]
    assert grid["diverged"][:, 0].tolist() == direct == [False, True]
    assert np.isnan(grid["distance"][1, 0]) and grid["distance"][0, 0] > 0.3
    entry = _grid_json(grid, T_values, [scale], "aligned", 1)
    assert entry["distance"] == [[grid["distance"][0, 0]], [None]]   # null, not NaN, in the JSON
    assert entry["diverged_cells"] == [{"T": 8, "init_scale": scale}] and entry["n_diverged"] == 1


# ---- training: recording, prediction from the modes ---------------------------------------------------------------
def test_harness_records_the_kernel_and_the_modes_predict_its_movement():
    task = Task.from_family("constant", T=3, delta=[1.0, 1.0])
    res = train_lrnn(task, lr=0.01, steps=3000, init="aligned", init_scale=0.1, record_every=50,
                     ntk_steps="records", stop_loss=1e-8)
    ntk = res.ntk
    assert res.losses[-1] <= 1e-8 and res.steps[-1] < 3000 and res.info["stopped_at_step"] == res.steps[-1]
    assert ntk["steps"].tolist() == res.steps.tolist()
    assert ntk["kernels"].shape == (len(res.steps), 3 * 2 * 2, 3 * 2 * 2)
    distance = kernel_distance(ntk["kernels"][0], ntk["kernels"])
    tr = res.trajectory
    # The read-off modes of an aligned network give its kernel exactly, at every recorded step ...
    assert np.max(np.abs(predicted_distance_curve(tr, ntk["inputs"], res.basis["V"]) - distance)) < 1e-10
    # ... and the integrated modes, without training, give the curve up to the O(lr) gap between GD and flow.
    theory = integrate(task.with_init(a=tr.a[0], b=tr.b[0], c=tr.c[0]), tr.t[-1], t_eval=tr.t, rtol=1e-10,
                       atol=1e-12)
    gap = np.max(np.abs(predicted_distance_curve(theory, ntk["inputs"], res.basis["V"]) - distance))
    assert gap < 0.03
    assert distance[-1] > 0.3


def test_harness_ntk_options():
    task = Task.constant(delta=1.0, T=2)
    res = train_lrnn(task, lr=0.05, steps=20, ntk_steps=[0, 7], ntk_outputs="every_step", data="samples",
                     record_every=10)
    assert res.ntk["steps"].tolist() == [0, 7, 20]
    assert res.ntk["kernels"].shape == (3, 2 * 2, 2 * 2)  # P = T N_x = 2 samples, T = 2 steps, N_y = 1
    assert res.ntk["inputs"].shape == (2, 2, 1)
    with pytest.raises(LrnnInputError, match="'ntk_steps'"):
        train_lrnn(task, steps=2, ntk_steps="sometimes")
    with pytest.raises(LrnnInputError, match="'ntk_inputs'"):
        train_lrnn(task, steps=2, ntk_steps="records", ntk_inputs=np.ones((2, 2, 3)))
    with pytest.raises(LrnnInputError, match="'ntk_outputs'"):
        train_lrnn(task, steps=2, ntk_steps="records", ntk_outputs="last")
    with pytest.raises(LrnnInputError, match="'stop_loss'"):
        train_lrnn(task, steps=2, stop_loss=-1.0)


def test_auto_lr_is_half_the_hessian_stability_bound():
    """At a zero-loss point of the population loss the Hessian J^T J and the NTK J J^T share their top eigenvalue."""
    from lrnn_theory.validation.harness import hessian_top_eigenvalue
    from lrnn_theory.validation.ntk import auto_lr

    task = Task.from_family("constant", T=5, delta=[1.0, 1.0], init={"a": 0.2, "b": 0.2, "c": 0.2})
    rng = np.random.default_rng(9)
    U, V, R = random_orthonormal(rng, 2, 2), random_orthonormal(rng, 2, 2), random_orthonormal(rng, 3, 2)
    final = integrate(task, 200.0, n_points=2).final()
    net = LRNN.aligned(final["a"], final["b"], final["c"], U, V, R)
    C = np.einsum("yk,kt,xk->tyx", U, task.singular_values, V)
    top = hessian_top_eigenvalue(lambda ws: LRNN(*ws).loss_and_grad_population(C)[1], list(net.weights), (0, 1, 2))
    assert auto_lr(task, lr_max=1.0) == pytest.approx(1.0 / top, rel=1e-4)


def test_grid_on_a_process_pool_equals_serial():
    from concurrent.futures import ProcessPoolExecutor

    from lrnn_theory.validation.ntk import KernelReadings, distance_grid

    tasks = [Task.from_family("constant", T=T, delta=[1.0, 1.0]) for T in (1, 2)]
    serial = distance_grid(tasks, [0.3], init="random", kernel=KernelReadings(predict=False))
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = distance_grid(tasks, [0.3], init="random", executor=pool, kernel=KernelReadings(predict=False))
    assert np.array_equal(serial["distance"], pooled["distance"])
    assert serial["distance"].shape == (2, 1) and np.all(serial["converged"])


def test_diverged_run_is_an_empty_cell():
    from lrnn_theory.validation.ntk import kernel_distance_run

    out = kernel_distance_run(Task.from_family("constant", T=4, delta=[1.0]), init="aligned", init_scale=0.5, lr=1.0)
    assert out["diverged"] and np.isnan(out["distance"]) and np.isnan(out["predicted"])


# ---- the paper's findings ---------------------------------------------------------------------------------------
def test_finding_recurrence_moves_the_kernel_more_at_small_init():
    """S1 §3.5: the distance increases from T = 1 to T > 1 (aligned and unaligned, small init)."""
    from lrnn_theory.validation.ntk import KernelReadings, distance_grid

    tasks = [Task.from_family("constant", T=T, delta=[1.0] * 2) for T in (1, 3)]
    for init in ("aligned", "random"):
        grid = distance_grid(tasks, [0.05], init=init, kernel=KernelReadings(predict=False))
        assert grid["distance"][1, 0] > grid["distance"][0, 0] + 0.3, init


def test_finding_aligned_distance_falls_as_init_approaches_one():
    """S1 App. J: aligned networks move their kernel less as the init scale -> 1 (only scaling is needed)."""
    from lrnn_theory.validation.ntk import distance_grid

    grid = distance_grid([Task.from_family("constant", T=4, delta=[1.0] * 2)], [0.3, 0.6, 0.9], init="aligned")
    d = grid["distance"][0]
    assert d[0] > d[1] > d[2]
    assert np.max(np.abs(grid["predicted"] - grid["distance"])) < 1e-3


def test_finding_recurrent_init_matters_more_than_input_output_init():
    """S1 App. J, Fig. A7: the init of b mostly determines the distance (T = 6, aligned)."""
    from lrnn_theory.validation.ntk import KernelReadings, distance_grid

    task = Task.from_family("constant", T=6, delta=[1.0])
    lo, hi = 0.05, 0.5
    # no prediction: only the trained distance is asserted here (the prediction: test_grid_* above); 3.8x cheaper
    grid = distance_grid([task], [{"u": u, "b": b} for b in (lo, hi) for u in (lo, hi)], init="aligned",
                         kernel=KernelReadings(predict=False))
    D = grid["distance"].reshape(2, 2)  # rows b, columns u
    along_b = np.mean(np.abs(D[1] - D[0]))
    along_u = np.mean(np.abs(D[:, 1] - D[:, 0]))
    assert along_b > along_u


# ---- command line -----------------------------------------------------------------------------------------------
def run(argv):
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:
        return exc.code


def test_cli_ntk(tmp_path, capsys):
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"family": "constant", "T": 3, "delta": [1.0, 1.0]}))
    out = tmp_path / "ntk.csv"
    # --record-every 30 (21 records, not 201): the mode kernel and its prediction at each record are the cost
    code = run(["ntk", task, "--hidden", 3, "--init", "aligned", "--init-scale", 0.1, "--lr", 0.02, "--steps", 600,
                "--seed", 1, "--record-every", 30, "--out", out])
    assert code == 0
    printed = capsys.readouterr().out
    rows = out.read_text().splitlines()
    assert rows[0] == "step,t,distance"
    final = float(rows[-1].split(",")[2])
    assert f"final kernel distance {final:.6g}" in printed and "mode theory" in printed
    assert rows[1].startswith("0,0.0,0.0") and final > 0.3
    # random init, every-step outputs
    assert run(["ntk", task, "--init", "random", "--lr", 0.02, "--steps", 50, "--outputs", "every_step",
                "--out", out]) == 0
    capsys.readouterr()
    # aligned init, every-step outputs: the modes' prediction of the every-step kernel against the trained network's
    assert run(["ntk", task, "--hidden", 3, "--init", "aligned", "--init-scale", 0.1, "--lr", 0.02, "--steps", 600,
                "--seed", 1, "--record-every", 30, "--outputs", "every_step", "--out", out]) == 0
    printed = capsys.readouterr().out
    final = float(out.read_text().splitlines()[-1].split(",")[2])
    predicted = float(printed.split("predicts ")[1].split(",")[0])
    assert final > 0.3 and abs(predicted - final) < 1e-2 * final


@pytest.mark.parametrize("argv, param", [
    (["--lr", "-1", "--steps", "5"], "lr"),
    (["--lr", "0.01", "--steps", "0"], "steps"),
    (["--lr", "0.01", "--steps", "5", "--hidden", "1"], "hidden"),
])
def test_cli_ntk_bad_input(tmp_path, capsys, argv, param):
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"family": "constant", "T": 3, "delta": [1.0, 1.0]}))
    out = tmp_path / "ntk.csv"
    assert run(["ntk", task, *argv, "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"'{param}'" in err[0]
    assert not out.exists()
    assert run(["ntk", task, "--lr", "0.01", "--steps", "5", "--out", tmp_path / "ntk.txt"]) == 2


# ---- figures (long) ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("name", ["fig5", "figA4", "figA5", "figA6", "figA7"])
def test_quick_figures(tmp_path, name):
    from lrnn_theory.validation.figures import reproduce

    data = reproduce(name, tmp_path, quick=True)
    assert (tmp_path / f"{name}.png").exists()
    assert data["max_abs_error"] < 0.01
    assert "training" in data and data["paper_features"]
    assert all(f["by_construction"] is False for f in data["paper_features"])
    assert set(data["colour_range"]["reproducing_readings"]) <= {"probes", "samples"}
    if name == "figA4":  # "qualitatively the same picture as Fig. 5", then Fig. 5's features one by one
        assert data["paper_features"][0]["statement"].startswith("Fig. A4")
        assert len(data["paper_features"]) == 8 and all(f["holds"] for f in data["paper_features"])
        assert data["panels"]["aligned"]["hidden"] == 2
    if name == "figA6":
        assert data["paper_features"][2]["statement"].startswith("diverged") and data["paper_features"][2]["holds"]

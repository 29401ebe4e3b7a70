"""Train real linear RNNs by full-batch gradient descent and read their connectivity modes, on the theory's clock.

``train_lrnn(task, ...)`` builds the task's data (population correlations, exactly whitened samples, or user
arrays), initialises a network (aligned with the task's singular vectors, small random, or given), runs gradient
descent with exact BPTT gradients, and records the mode strengths a, b, c read off the weights as a
``lrnn_theory.trajectory.Trajectory`` whose time axis is the theory's (``tau * da/dt = -tau dE/da``), so that it
can be laid over ``lrnn_theory.integrate(task, ...)`` directly.

Time mapping
------------
Gradient descent ``W <- W - lr * grad(loss)`` is the Euler discretisation of ``tau dW/dt = -grad(L)`` with
``L = 1/2 sum_p ||y_p - y_hat_p||^2`` (the theory's loss, inputs whitened as a sum). A loss convention that is
``loss = scale * L`` therefore advances theory time by ``dt = lr * tau * scale`` per step:

=============  ==========================================  ===================
``loss``       definition                                  ``scale``
=============  ==========================================  ===================
``sum_half``   ``1/2 sum_p ||r_p||^2`` (the theory's)      ``1``
``sum``        ``sum_p ||r_p||^2``                          ``2``
``mean_half``  ``1/(P N_y) sum_p 1/2 ||r_p||^2``           ``1 / (P N_y)``
``mean``       ``1/(P N_y) sum_p ||r_p||^2`` (plain MSE)   ``2 / (P N_y)``
=============  ==========================================  ===================

``mean_half`` gives the paper's ``tau = P N_y / eta`` (S1 App. P.2), ``mean`` gives ``tau = P N_y / (2 eta)``.
Population data stand for ``n_samples`` exactly whitened samples (default ``T * N_x``, the fewest that can be white
across time and dimensions), so P is that number in the mean conventions, and population and sample training give
the same trajectory under every convention.

Every-step outputs
------------------
For an every-step task (``Task(..., outputs="every_step")``, App. M) the network is read out after every step,
``y_hat_t = W_y h_{t+1}``, and trained on ``L = 1/2 sum_p sum_t ||y_{p,t} - y_hat_{p,t}||^2``: population data are
``Sigma^{Y_t X_i} = U S_(t,i) V^T`` (i <= t), samples have targets ``y_{p,t} = sum_(i<=t) U S_(t,i) V^T x_{p,i}``,
user targets have shape (P, T, N_y). The mean conventions average over all ``P T N_y`` output entries.

Initialisation
--------------
``init="aligned"``: ``W_x = R diag(a) V^T``, ``W_h = R diag(b) R^T``, ``W_y = U diag(c) R^T`` with a random ``R``
(N_h x K, orthonormal columns) and ``a, b, c`` from ``task.init`` (or all equal to ``init_scale`` when given).
``init="random"``: independent Gaussian entries ``N(0, init_scale^2 / fan_in)`` with ``fan_in`` the number of
columns of the matrix (N_x for W_x, N_h for W_h and W_y); this is S1 App. P.1.2's ``sigma^2 / N_in`` read as fan-in,
which gives W_h an expected spectral radius of ``init_scale`` (circular law), matching App. J's description.
``init_scale`` defaults to 0.1 and may be a dict ``{"W_x": .., "W_h": .., "W_y": ..}``. An ``LRNN`` instance starts
from its weights.

Reading the modes
-----------------
Aligned networks: ``a = diag(R^T W_x V)``, ``b = diag(R^T W_h R)``, ``c = diag(U^T W_y R)`` with the true ``R``
(S1 App. P.3). Otherwise the hidden basis is fitted at every record: ``R_hat`` is the orthonormal polar factor of
``W_x V + W_y^T U``, the matrix whose columns point along the hidden directions that mode alpha enters and leaves
by (it equals ``R diag(a + c)`` for an aligned network, so ``R_hat = R`` there whenever ``a + c > 0``); the modes
are the same diagonals with ``R_hat``, and the sign convention is ``a + c >= 0``. The singular values of each weight
matrix (the paper's unaligned read-out) are recorded too, in ``TrainingResult.singular_values``.

Rotational (complex) tasks
--------------------------
A complex task becomes a real network in block form (S1 App. P.4.1): every complex mode takes two real units and a
2x2 block [[mu, -nu], [nu, mu]] per complex value mu + i nu, every real mode one unit (``data.mode_block_sizes``,
``data.real_block_form``). The correlations are ``U H(d_i) V^T`` with random orthogonal U, V (N = sum of block
sizes real inputs and outputs), the aligned init is ``W_x = R H(a) V^T``, ``W_h = R H(b) R^T``, ``W_y = U H(c) R^T``
(``LRNN.aligned_blocks``), and the modes are read back by projecting the diagonal blocks of ``R^T W_x V``, ...
on the rotation-scalings (``data.block_values``). ``hidden`` counts real units. The time mapping is the same as for
real tasks, ``dt = lr * tau * scale``, and the flow it matches is the Wirtinger flow tau dz/dt = -2 tau dE/d(conj z)
(eqs. 182-184): the Frobenius norm of a block is 2|z|^2, which doubles the loss, and the gradient with respect to a
block's entries is half the gradient with respect to (Re z, Im z); the two factors cancel. Without the Wirtinger
factor 2 (S1 eqs. 187-189) the network would run twice as fast as the flow; ``tests/test_complex.py`` pins this.
With the fitted basis (unaligned networks), a complex mode is read in the gauge arg(a + conj(c)) = 0 (u and b do
not depend on it).
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from lrnn_theory.errors import DivergenceError, LrnnInputError, bad, check_int, check_real
from lrnn_theory.tasks import Task, coerce_task
from lrnn_theory.trajectory import Trajectory, mode_energy

from .data import (block_task_correlations, block_values, check_user_data, fit_user_task, mode_block_sizes,
                   random_orthonormal, sample_targets, task_correlations, whitened_inputs, whitening_error)
from .network import LRNN, WEIGHT_NAMES

LOSSES = ("sum_half", "sum", "mean_half", "mean")
INITS = ("aligned", "random")
DATA = ("population", "samples", "user")
DEFAULT_RANDOM_SCALE = 0.1
#: Hidden widths up to this train with single-threaded BLAS (see ``_blas_threads``).
SINGLE_THREAD_MAX_HIDDEN = 128
#: Weights larger than this in magnitude count as diverged (the same threshold as ``integrate``).
DIVERGENCE_THRESHOLD = 1e6
#: Most recorded states per run (each holds K modes and the singular values of three matrices).
MAX_RECORDS = 10**6


def loss_scale(loss: str, P: int, N_y: int, outputs_per_sample: int = 1) -> float:
    """Factor between a loss convention and the theory's ``1/2 sum_p ||r_p||^2`` (see the module docstring).

    Parameters
    ----------
    loss : {"sum_half", "sum", "mean_half", "mean"}
    P, N_y : int
        Number of samples and output dimensions.
    outputs_per_sample : int
        Outputs per sequence: 1 (final output) or T (every-step outputs, whose mean conventions average over all
        P T N_y output entries, as a plain MSE over every output would).

    Returns
    -------
    float
        ``loss = scale * L``; the theory time per step is ``lr * tau * scale``.
    """
    n = P * N_y * outputs_per_sample
    return {"sum_half": 1.0, "sum": 2.0, "mean_half": 1.0 / n, "mean": 2.0 / n}[loss]


def _output_loss(loss: str):
    """``residual -> (loss, dloss/dy_hat)`` written out for each convention, straight from its definition."""
    if loss == "sum_half":
        return lambda r: (0.5 * float(np.sum(r * r)), r)
    if loss == "sum":
        return lambda r: (float(np.sum(r * r)), 2.0 * r)
    if loss == "mean_half":
        return lambda r: (0.5 * float(np.mean(r * r)), r / r.size)
    return lambda r: (float(np.mean(r * r)), 2.0 * r / r.size)


@dataclass
class TrainingResult:
    """Outcome of ``train_lrnn``.

    Attributes
    ----------
    trajectory : Trajectory
        Read-off modes a, b, c (n_records, K) at times ``t = step * dt_per_step`` (theory units), and the per-mode
        theory energy of those modes.
    network : LRNN
        The trained network.
    losses : ndarray (n_records,)
        The actual training loss (in the chosen convention) at each recorded step.
    info : dict
        lr, steps, dt_per_step, loss, loss_scale, data, init, init_scale, hidden, n_samples, seed, freeze, ...
    steps : ndarray (n_records,)
        Recorded step numbers (0 = initialisation; the last is ``steps``).
    singular_values : dict
        ``{"W_x", "W_h", "W_y"}`` -> (n_records, min(shape)) singular values, descending.
    basis : dict
        ``{"U", "V", "R"}``: task singular vectors and the hidden basis used at initialisation.
    task : Task
        The task trained on (for user data: the task fitted from the data).
    initial_network : LRNN
        The network before training.
    ntk : dict or None
        With ``ntk_steps``: ``steps`` (n,), ``t`` (n,), ``kernels`` (n, m, m) (``lrnn_theory.ntk.empirical_ntk``
        over ``inputs``), ``inputs`` and ``outputs``.
    """

    trajectory: Trajectory
    network: LRNN
    losses: np.ndarray
    info: dict
    steps: np.ndarray
    singular_values: dict
    basis: dict
    task: Task
    initial_network: LRNN = field(repr=False, default=None)
    #: Return values of ``on_record(step, network)`` at the recorded steps (empty without ``on_record``).
    records: list = field(default_factory=list)
    ntk: dict | None = field(repr=False, default=None)


# ---- reading modes ----------------------------------------------------------------------------------------------
def fitted_hidden_basis(net: LRNN, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Orthonormal polar factor of ``W_x V + W_y^T U``: the hidden direction of each task mode.

    Parameters
    ----------
    net : LRNN
    U, V : ndarray, shapes (N_y, K) and (N_x, K)
        Output and input singular vectors of the task.

    Returns
    -------
    ndarray, shape (N_h, K)
        Orthonormal columns; equals R for an aligned network with a + c > 0.
    """
    A = net.W_x @ V + net.W_y.T @ U
    left, _, right = np.linalg.svd(A, full_matrices=False)
    return left @ right


def read_modes(net: LRNN, U: np.ndarray, V: np.ndarray, R: np.ndarray | None = None, sizes=None):
    """Mode strengths ``a = diag(R^T W_x V)``, ``b = diag(R^T W_h R)``, ``c = diag(U^T W_y R)``.

    Parameters
    ----------
    net : LRNN
    U, V : ndarray, shapes (N_y, K) and (N_x, K)
        Output and input singular vectors of the task.
    R : ndarray (N_h, K), optional
        Hidden basis; None fits it (``fitted_hidden_basis``), for unaligned networks.
    sizes : array_like of int, optional
        Block sizes of a rotational task (``data.mode_block_sizes``): the complex modes are read off the diagonal
        blocks (``data.block_values``) of the same projections.

    Returns
    -------
    a, b, c : ndarray, shape (K,)
        Complex when ``sizes`` is given.
    """
    if R is None:
        R = fitted_hidden_basis(net, U, V)
    if sizes is not None:
        return tuple(block_values(M, sizes) for M in (R.T @ net.W_x @ V, R.T @ net.W_h @ R, U.T @ net.W_y @ R))
    a = np.sum(R * (net.W_x @ V), axis=0)
    b = np.sum(R * (net.W_h @ R), axis=0)
    c = np.sum(U * (net.W_y @ R), axis=0)
    return a, b, c


def weight_singular_values(net: LRNN) -> dict:
    """Singular values of W_x, W_h, W_y.

    Parameters
    ----------
    net : LRNN

    Returns
    -------
    dict
        ``{"W_x", "W_h", "W_y"}`` -> descending singular values.
    """
    return {name: np.linalg.svd(W, compute_uv=False) for name, W in zip(WEIGHT_NAMES, net.weights)}


# ---- learning-rate bound ----------------------------------------------------------------------------------------
def hessian_top_eigenvalue(grad_fn, weights: list, trainable: tuple, seed: int = 0) -> float:
    """Largest eigenvalue of the loss Hessian over the trainable weights.

    Hessian-vector products are central differences of the exact gradient (the loss is a polynomial, so the error
    is O(eps^2)); small problems use the dense Hessian, larger ones Lanczos (``scipy.sparse.linalg.eigsh``).

    Parameters
    ----------
    grad_fn : callable
        ``grad_fn(weights) -> (g_x, g_h, g_y)`` for a list ``[W_x, W_h, W_y]``.
    weights : list of ndarray
        The point at which the Hessian is taken.
    trainable : tuple of int
        Indices of the weights the Hessian is taken over.
    seed : int
        Seed of the Lanczos start vector.

    Returns
    -------
    float
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    shapes = [weights[j].shape for j in trainable]
    sizes = [int(np.prod(s)) for s in shapes]
    w0 = np.concatenate([weights[j].ravel() for j in trainable])
    n = w0.size

    def flat_grad(w):
        ws = list(weights)
        offset = 0
        for j, shape, size in zip(trainable, shapes, sizes):
            ws[j] = w[offset:offset + size].reshape(shape)
            offset += size
        grads = grad_fn(ws)
        return np.concatenate([grads[j].ravel() for j in trainable])

    def hvp(v):
        v = np.asarray(v, dtype=float).ravel()
        norm = np.linalg.norm(v)
        if norm == 0:
            return np.zeros_like(v)
        eps = 1e-4 * (1.0 + np.linalg.norm(w0)) / norm
        return (flat_grad(w0 + eps * v) - flat_grad(w0 - eps * v)) / (2 * eps)

    with np.errstate(over="ignore", invalid="ignore"):
        if n <= 150:
            H = np.column_stack([hvp(e) for e in np.eye(n)])
            return float(np.max(np.linalg.eigvalsh(0.5 * (H + H.T))))
        op = LinearOperator((n, n), matvec=hvp, dtype=float)
        v0 = np.random.default_rng(seed).standard_normal(n)
        return float(eigsh(op, k=1, which="LA", v0=v0, tol=1e-3, maxiter=300, return_eigenvectors=False)[0])


# ---- the harness --------------------------------------------------------------------------------------------------
def _as_network(weights) -> LRNN:
    return weights if isinstance(weights, LRNN) else LRNN(*weights)


def _check_choice(name, value, choices):
    if value not in choices:
        raise bad(name, value, f"be one of {', '.join(choices)}")
    return value


def _check_freeze(freeze):
    if isinstance(freeze, str):
        freeze = (freeze,)
    try:
        freeze = tuple(freeze)
    except TypeError:
        raise bad("freeze", freeze, "be a subset of W_x, W_h, W_y") from None
    for name in freeze:
        if name not in WEIGHT_NAMES:
            raise bad("freeze", freeze, "be a subset of W_x, W_h, W_y")
    return tuple(sorted(set(freeze), key=WEIGHT_NAMES.index))


def _random_init(rng, N_x, N_h, N_y, init_scale):
    scales = dict.fromkeys(WEIGHT_NAMES, DEFAULT_RANDOM_SCALE)
    if isinstance(init_scale, dict):
        unknown = set(init_scale) - set(WEIGHT_NAMES)
        if unknown:
            raise bad("init_scale", init_scale, "have keys among W_x, W_h, W_y")
        scales.update({k: check_real(f"init_scale.{k}", v, nonnegative=True) for k, v in init_scale.items()})
    elif init_scale is not None:
        scales = dict.fromkeys(WEIGHT_NAMES, check_real("init_scale", init_scale, nonnegative=True))
    shapes = {"W_x": (N_h, N_x), "W_h": (N_h, N_h), "W_y": (N_y, N_h)}
    # fan-in = number of columns: N(0, scale^2 / fan_in)
    weights = {k: rng.standard_normal(shape) * scales[k] / np.sqrt(shape[1]) for k, shape in shapes.items()}
    return LRNN(weights["W_x"], weights["W_h"], weights["W_y"]), scales


def _blas_threads(N_h: int):
    """Single-threaded BLAS for small networks, when threadpoolctl is available.

    The products of a small network take microseconds; a multi-threaded OpenBLAS on a shared machine spends far
    longer synchronising its threads (measured here: 30-50 times slower per step at N_h = 32 under load).
    """
    if N_h > SINGLE_THREAD_MAX_HIDDEN:
        return contextlib.nullcontext(), "default"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), "default"
    return threadpool_limits(limits=1, user_api="blas"), 1


def _progress_bar(total: int, progress):
    """tqdm bar that appears only after 2 s (so only on longer runs); off when not a TTY unless forced."""
    from tqdm.auto import tqdm

    if progress is None:
        enabled = sys.stderr.isatty()
    else:
        enabled = bool(progress)
    return tqdm(total=total, disable=not enabled, delay=2.0, unit="step", desc="training", leave=False,
                mininterval=0.5)


def train_lrnn(task, *, hidden=None, lr=0.01, steps=1000, init="aligned", init_scale=None, data="population",
               n_samples=None, X=None, Y=None, seed=0, loss="sum_half", freeze=(), record_every=1, progress=None,
               divergence_threshold=DIVERGENCE_THRESHOLD, on_record=None, ntk_steps=None, ntk_inputs=None,
               ntk_outputs="final", stop_loss=None) -> TrainingResult:
    """Train an LRNN on a task by full-batch gradient descent and record its modes on the theory's time axis.

    Parameters
    ----------
    task : Task, dict or path, or None
        The task (singular values, init, tau). May be None with user data (the task is then fitted from the data
        with tau = 1); with user data a given task contributes only its ``tau`` (and ``init`` if it has as many
        modes as the data).
    hidden : int, optional
        Hidden width N_h >= K (default K, the number of modes). N_x = N_y = K for task data. For a complex task,
        real units: two per complex mode (the default and the minimum is their total).
    lr : float
        Learning rate of gradient descent on the chosen loss convention.
    steps : int
        Number of gradient steps.
    init : {"aligned", "random"} or LRNN
        Aligned with the task's singular vectors (a, b, c from ``task.init``), small random, or these weights.
    init_scale : float or dict, optional
        Aligned: every mode set to this value >= 0 (instead of ``task.init``; signed per-mode values go in
        ``task.init``). Random: standard deviation
        ``init_scale / sqrt(fan_in)`` of every entry (default 0.1); a dict gives one scale per matrix.
    data : {"population", "samples", "user"}
        Train on the correlations ``U S_i V^T`` (exact expected gradient), on ``n_samples`` exactly whitened
        sequences with targets ``sum_i U S_i V^T x_i``, or on ``X``, ``Y`` (implied when they are given).
    n_samples : int, optional
        Number of samples P >= T * N_x (default ``T * N_x``, the fewest that can be white across time and
        dimensions); for population data it sets P in the mean loss conventions.
    X, Y : ndarray, optional
        User data, shapes (P, T, N_x) and (P, N_y), or (P, T, N_y) for targets at every step (an every-step task).
    seed : int
        Seeds U, V, R (the task's singular vectors and hidden basis), the samples and the random init.
    loss : {"sum_half", "sum", "mean_half", "mean"}
        Loss convention; the time per step follows from it (module docstring).
    freeze : iterable of {"W_x", "W_h", "W_y"}
        Weights that gradient descent does not update.
    record_every : int
        Record the modes every this many steps (the initial and final steps are always recorded).
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal; it appears only on runs longer than ~2 s).
    divergence_threshold : float
        Weights larger than this in magnitude count as diverged.
    on_record : callable, optional
        ``on_record(step, network)`` at every recorded step; its return values go to ``TrainingResult.records``
        (any extra measurement of the network during training, without a second training loop).
    ntk_steps : "records" or iterable of int, optional
        Record the network's NTK (``lrnn_theory.ntk``) at these steps ("records": at every recorded step); the
        last step (or the step where ``stop_loss`` stops the run) is always included. Off by default.
    ntk_inputs : ndarray (P, T, N_x), optional
        Inputs the NTK is taken over: by default the training inputs, or for population data the T N_x whitened
        one-hot probes (``lrnn_theory.ntk.whitened_probe_inputs``), which give the same kernel distances as any
        exactly whitened sample set.
    ntk_outputs : {"final", "every_step"}
        Outputs the NTK is taken of.
    stop_loss : float, optional
        Stop (and record) at the first step whose loss is at most this.

    Returns
    -------
    TrainingResult

    Raises
    ------
    DivergenceError
        When the loss or the weights overflow; the message gives the step and an estimate of the largest stable
        learning rate (``2 / largest Hessian eigenvalue`` at the lowest-loss state seen). Attributes ``step`` and
        ``lr_bound``.
    LrnnInputError
        On bad parameters.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> task = Task.inverse_exponential(delta=1.0, lam=0.5, T=3, init={"a": 0.3, "b": 0.3, "c": 0.3})
    >>> result = train_lrnn(task, lr=0.05, steps=2000, record_every=100)
    >>> round(float(result.trajectory.b[-1, 0]), 3), round(float(result.trajectory.u[-1, 0]), 3)
    (0.5, 1.0)
    """
    lr = check_real("lr", lr, positive=True)
    steps = check_int("steps", steps, minimum=0)
    record_every = check_int("record_every", record_every, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    loss = _check_choice("loss", loss, LOSSES)
    divergence_threshold = check_real("divergence_threshold", divergence_threshold, positive=True)
    freeze = _check_freeze(freeze)
    if not isinstance(init, LRNN):
        _check_choice("init", init, INITS)
    if X is not None or Y is not None:
        if data not in ("population", "user"):
            raise LrnnInputError(f"parameter 'data' must be 'user' when X and Y are given, got '{data}'")
        data = "user"
    data = _check_choice("data", data, DATA)
    if n_samples is not None:
        n_samples = check_int("n_samples", n_samples, minimum=1)
    if stop_loss is not None:
        stop_loss = check_real("stop_loss", stop_loss, nonnegative=True)

    basis_rng, data_rng, init_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    info = {}
    X_train = Y_train = None
    if data == "user":
        X_train, Y_train = check_user_data(X, Y)
        if n_samples is not None and n_samples != X_train.shape[0]:
            raise LrnnInputError(f"parameter 'n_samples' must match the {X_train.shape[0]} samples of X, "
                                 f"got {n_samples}")
        C, U, V, s, residual = fit_user_task(X_train, Y_train, basis_rng)
        given = coerce_task(task) if task is not None else None
        K = s.shape[0]
        task = Task(s, init=given.init if (given is not None and given.K == K) else None,
                    tau=given.tau if given is not None else 1.0, name="user data",
                    outputs="every_step" if Y_train.ndim == 3 else "final")
        N_x, N_y = X_train.shape[2], Y_train.shape[-1]
        P = X_train.shape[0]
        info.update(task_fit_residual=residual, whitening_error=whitening_error(X_train))
    else:
        if task is None:
            raise LrnnInputError("parameter 'task' is required unless user data X, Y are given")
        task = coerce_task(task)
        K = task.K
        sizes = mode_block_sizes(task) if task.is_complex else None
        units = K if sizes is None else int(np.sum(sizes))  # real units of the block form
        N_x = N_y = units
        U = random_orthonormal(basis_rng, N_y, units)
        V = random_orthonormal(basis_rng, N_x, units)
        C = task_correlations(task.singular_values, U, V) if sizes is None else \
            block_task_correlations(task.singular_values, U, V, sizes)
        P = n_samples if n_samples is not None else task.T * N_x
        if P < task.T * N_x:  # population data stand for P exactly whitened samples, which needs P >= T N_x
            raise bad("n_samples", n_samples, f"be >= T * N_x = {task.T * N_x} (exactly whitened samples, which "
                                              f"population data stand for)")
        if data == "samples":
            X_train = whitened_inputs(data_rng, P, task.T, N_x)
            Y_train = sample_targets(X_train, C)
            info["whitening_error"] = whitening_error(X_train)
    T = task.T
    if data == "user":
        sizes, units = None, K

    N_h = units if hidden is None else check_int("hidden", hidden, minimum=1)
    if N_h < units:
        raise bad("hidden", hidden, f"be >= the number of modes K = {K}" if sizes is None else
                  f"be >= {units} real units (two per complex mode) of the {K} modes")
    R = random_orthonormal(basis_rng, N_h, units)

    aligned = False
    if isinstance(init, LRNN):
        if (init.N_x, init.N_h, init.N_y) != (N_x, N_h, N_y):
            raise LrnnInputError(f"parameter 'init' must be a network with N_x={N_x}, N_h={N_h}, N_y={N_y}, "
                                 f"got {init!r}")
        net = init.copy()
        init_name, used_scale = "given", None
    elif init == "aligned":
        if isinstance(init_scale, dict):
            raise bad("init_scale", init_scale, "be a number for an aligned init (use task.with_init for "
                                                "per-mode values)")
        if init_scale is None:
            a0, b0, c0 = task.init.a, task.init.b, task.init.c
        else:
            a0 = b0 = c0 = np.full(K, check_real("init_scale", init_scale, nonnegative=True))
        net = LRNN.aligned(a0, b0, c0, U, V, R) if sizes is None else LRNN.aligned_blocks(a0, b0, c0, U, V, R, sizes)
        aligned, init_name, used_scale = True, "aligned", init_scale
    else:
        net, used_scale = _random_init(init_rng, N_x, N_h, N_y, init_scale)
        init_name = "random"
    initial_network = net.copy()

    scale = loss_scale(loss, P, N_y, T if task.every_step else 1)
    dt = lr * task.tau * scale
    population = LRNN.loss_and_grad_population_every_step if task.every_step else LRNN.loss_and_grad_population
    if data == "population":
        def loss_and_grad(weights):
            value, grads = population(_as_network(weights), C)
            return scale * value, tuple(scale * g for g in grads)
    else:
        output_loss = _output_loss(loss)

        def loss_and_grad(weights):
            return _as_network(weights).loss_and_grad_samples(X_train, Y_train, output_loss)

    trainable = tuple(j for j, name in enumerate(WEIGHT_NAMES) if name not in freeze)
    if steps // record_every + 2 > MAX_RECORDS:
        raise bad("record_every", record_every, f"leave at most {MAX_RECORDS} records of the {steps} steps "
                                                f"(use record_every >= {steps // (MAX_RECORDS - 2) + 1})")
    record_steps = np.unique(np.r_[np.arange(0, steps + 1, record_every), steps])
    n_rec = record_steps.size
    ntk_record = _ntk_recorder(ntk_steps, ntk_inputs, ntk_outputs, record_steps, X_train, data, T, N_x)
    modes = np.empty((3, n_rec, K), dtype=float if sizes is None else complex)
    losses = np.empty(n_rec)
    svs = {name: np.empty((n_rec, min(W.shape))) for name, W in zip(WEIGHT_NAMES, net.weights)}
    R_read = R if aligned else None
    records = []

    # (loss, step, weights) of the lowest-loss state: the update below makes new arrays and never writes into the
    # old ones, so keeping references is enough (no copy per step).
    best = (np.inf, 0, net.weights)
    a_start, b_start, c_start = read_modes(net, U, V, R_read, sizes)
    endpoint = lambda: _theory_endpoint(task, a_start, b_start, c_start, U, V, R, sizes)  # noqa: E731
    weights = [net.W_x, net.W_h, net.W_y]
    rec = 0
    bar = _progress_bar(steps, progress)
    bar_chunk = max(1, steps // 200)
    started = time.perf_counter()
    blas_limit, blas_threads = _blas_threads(N_h)
    try:
        with blas_limit, np.errstate(over="ignore", invalid="ignore"):
            for step in range(steps + 1):
                value, grads = loss_and_grad(net)
                if not np.isfinite(value):
                    _diverged(step, dt, lr, loss, "the loss overflowed", best, loss_and_grad, trainable, endpoint)
                if value < best[0]:
                    best = (value, step, net.weights)
                stopping = stop_loss is not None and value <= stop_loss
                if stopping and step != record_steps[rec]:  # record the stopping step in place of the next
                    record_steps[rec] = step
                if ntk_record is not None and (step in ntk_record["at"] or stopping or step == steps):
                    ntk_record["record"](step, net)
                if step == record_steps[rec]:
                    modes[:, rec] = read_modes(net, U, V, R_read, sizes)
                    losses[rec] = value
                    for name, sv in weight_singular_values(net).items():
                        svs[name][rec] = sv
                    if on_record is not None:
                        records.append(on_record(step, net))
                    rec += 1
                if step == steps or stopping:
                    break
                for j in trainable:
                    weights[j] = weights[j] - lr * grads[j]
                net.W_x, net.W_h, net.W_y = weights
                largest = max((float(np.max(np.abs(weights[j]))) for j in trainable), default=0.0)
                if not largest <= divergence_threshold:
                    _diverged(step + 1, dt, lr, loss,
                              f"the weights overflowed (largest |entry| {largest:.3g} > {divergence_threshold:g})",
                              best, loss_and_grad, trainable, endpoint)
                if (step + 1) % bar_chunk == 0:
                    bar.update(bar_chunk)
    finally:
        bar.close()
    elapsed = time.perf_counter() - started

    if rec < n_rec:  # stopped early by stop_loss
        record_steps, modes, losses = record_steps[:rec], modes[:, :rec], losses[:rec]
        svs = {name: sv[:rec] for name, sv in svs.items()}
        info["stopped_at_step"] = int(record_steps[-1])
    a, b, c = modes
    t = record_steps * dt
    info.update(
        lr=lr, steps=steps, dt_per_step=dt, loss=loss, loss_scale=scale, data=data, init=init_name,
        init_scale=used_scale, hidden=N_h, N_x=N_x, N_y=N_y, K=K, T=T, outputs=task.outputs, tau=task.tau,
        n_samples=P, seed=seed,
        freeze=list(freeze), record_every=record_every, t_final=float(t[-1]), source="simulation",
        block_sizes=None if sizes is None else sizes.tolist(),
        readout="aligned basis R" if aligned else "fitted hidden basis (polar factor of W_x V + W_y^T U)",
        blas_threads=blas_threads, wall_time=elapsed, steps_per_second=steps / elapsed if elapsed > 0 else float("inf"))
    trajectory = Trajectory(t=t, a=a, b=b, c=c, energy=mode_energy(task.singular_values, a, b, c, task.tau),
                            info=dict(info))
    return TrainingResult(trajectory=trajectory, network=net, losses=losses, info=info, steps=record_steps,
                          singular_values=svs, basis={"U": U, "V": V, "R": R}, task=task,
                          initial_network=initial_network, records=records,
                          ntk=None if ntk_record is None else ntk_record["result"](dt))


def _ntk_recorder(ntk_steps, ntk_inputs, ntk_outputs, record_steps, X_train, data, T, N_x):
    """Steps at which to take the NTK, the inputs, and the list the kernels go to (None when off)."""
    if ntk_steps is None:
        if ntk_inputs is not None:
            raise LrnnInputError("parameter 'ntk_inputs' needs 'ntk_steps'")
        return None
    from lrnn_theory.ntk import OUTPUTS, empirical_ntk, whitened_probe_inputs

    _check_choice("ntk_outputs", ntk_outputs, OUTPUTS)
    if isinstance(ntk_steps, str):
        if ntk_steps != "records":
            raise bad("ntk_steps", ntk_steps, "be 'records' or a list of step numbers")
        at = set(record_steps.tolist())
    else:
        try:
            at = {check_int("ntk_steps", s, minimum=0) for s in ntk_steps}
        except TypeError:
            raise bad("ntk_steps", ntk_steps, "be 'records' or a list of step numbers") from None
    if ntk_inputs is not None:
        X = np.asarray(ntk_inputs, dtype=float)
        if X.ndim != 3 or X.shape[2] != N_x:
            raise bad("ntk_inputs", ntk_inputs, f"have shape (P, T, {N_x})")
    else:
        X = whitened_probe_inputs(T, N_x) if data == "population" else X_train
    steps, kernels = [], []

    def record(step, net):
        steps.append(step)
        kernels.append(empirical_ntk(net.W_x, net.W_h, net.W_y, X, outputs=ntk_outputs))

    def result(dt):
        s = np.array(steps)
        return {"steps": s, "t": s * dt, "kernels": np.stack(kernels), "inputs": X, "outputs": ntk_outputs}

    return {"at": at, "record": record, "result": result}


def _theory_endpoint(task, a0, b0, c0, U, V, R, sizes=None):
    """Aligned network at the end point of the theory's flow from the read-off initial modes (None if it diverges)."""
    from lrnn_theory.flow import integrate

    start = task.with_init(a=a0, b=b0, c=c0)
    try:
        # Only advice for a divergence message: LSODA, one bounded attempt (the batched solver and its fallbacks can
        # take long on the badly scaled tasks whose training diverges).
        traj = integrate(start, 1e4 * task.tau, n_points=2, converged_tol=1e-9, method="LSODA")
    except DivergenceError:
        return None
    final = traj.final()
    if sizes is not None:
        return LRNN.aligned_blocks(final["a"], final["b"], final["c"], U, V, R, sizes)
    return LRNN.aligned(final["a"], final["b"], final["c"], U, V, R)


def _diverged(step, dt, lr, loss, what, best, loss_and_grad, trainable, endpoint=None):
    """Raise DivergenceError with the step and a stable learning-rate bound.

    The bound is ``2 / lambda_max`` of the loss Hessian, the largest curvature found at two states: the
    lowest-loss state the run reached, and (for task data) the theory's end point, where the curvature of tasks
    with large recurrent solutions is highest (notes Section 5.2).
    """
    _, best_step, best_weights = best
    candidates = [(f"the lowest-loss state (step {best_step})", LRNN(*best_weights))]
    if endpoint is not None:
        try:
            net = endpoint()
        except Exception:  # the bound is advice; never let it hide the divergence itself
            net = None
        if net is not None:
            candidates.append(("the theory's end point", net))
    top, where = float("nan"), ""
    for label, net in candidates:
        try:
            value = hessian_top_eigenvalue(lambda ws: loss_and_grad(ws)[1], list(net.weights), trainable)
        except Exception:
            continue
        if np.isfinite(value) and not value <= top:
            top, where = value, label
    if np.isfinite(top) and top > 0:
        bound = 2.0 / top
        advice = (f"a stable learning rate is below about {bound:.3g} (2 / largest Hessian eigenvalue "
                  f"{top:.3g} of the '{loss}' loss, at {where})")
    else:
        bound = float("nan")
        advice = "no stable learning-rate bound could be estimated; reduce lr"
    err = DivergenceError(f"training diverged at step {step} (t={step * dt:.6g}) with lr={lr:g}: {what}; {advice}",
                          time=float(step))
    err.step = step
    err.lr_bound = bound
    raise err


def rotational_setup(task, hidden=None, seed: int = 0) -> dict:
    """The real block-form network of a rotational (complex) task, as ``train_lrnn`` builds it.

    With the same ``task``, ``hidden`` and ``seed`` this gives the correlations, bases and aligned initial network
    that ``train_lrnn(task, hidden=hidden, seed=seed)`` starts from (population data, aligned init from
    ``task.init``); other code (for example kernels of the real network) can use them without training.

    Parameters
    ----------
    task : Task, dict or path
        A complex task (a real one works too: every block is then 1x1).
    hidden : int, optional
        Real hidden units (default: two per complex mode, one per real mode).
    seed : int

    Returns
    -------
    dict
        ``C`` (T, N, N) correlations ``U H(d_i) V^T``, ``U``, ``V`` (N, N), ``R`` (N_h, N), ``sizes`` (K,) block
        sizes, ``network`` the aligned ``LRNN``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrnn_theory import Task
    >>> setup = rotational_setup(Task.from_family("constant", T=3, delta=0.7, delta_phase=np.pi / 6))
    >>> setup["C"].shape, setup["sizes"].tolist(), setup["network"].N_h
    ((3, 2, 2), [2], 2)
    """
    task = coerce_task(task)
    seed = check_int("seed", seed, minimum=0)
    basis_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[0])
    sizes = mode_block_sizes(task)
    units = int(np.sum(sizes))
    U = random_orthonormal(basis_rng, units, units)
    V = random_orthonormal(basis_rng, units, units)
    N_h = units if hidden is None else check_int("hidden", hidden, minimum=units)
    R = random_orthonormal(basis_rng, N_h, units)
    return {"C": block_task_correlations(task.singular_values, U, V, sizes), "U": U, "V": V, "R": R, "sizes": sizes,
            "network": LRNN.aligned_blocks(task.init.a, task.init.b, task.init.c, U, V, R, sizes)}


def simulate(task, **kwargs) -> Trajectory:
    """``train_lrnn(task, **kwargs).trajectory``: the read-off modes on the theory's time axis.

    Parameters
    ----------
    task : Task, dict or path, or None
    **kwargs
        As in ``train_lrnn``.

    Returns
    -------
    Trajectory
    """
    return train_lrnn(task, **kwargs).trajectory

"""Train real linear RNNs by full-batch gradient descent and read their connectivity modes, on the theory's clock.

``train_lrnn(task, ...)`` is a composition of three stages, each usable on its own:

1. the set-up (``training_setup.set_up``): the task's data (population correlations, exactly whitened samples, or
   user arrays, whose task ``lrnn_theory.task_estimation.estimate_task`` estimates), the bases U, V, R and the
   initial network (aligned with the task's singular vectors, small random, or given);
2. the training loop (``gradient_descent``): full-batch gradient descent with exact gradients (backpropagation
   through time over the lag maps; samples through their second moments, ``network.SampleLoss``), frozen weights,
   stopping and divergence checks;
3. recorders (``recorders``): modes, losses, singular values, the NTK and any callback, at the steps they are due.

The read-off modes a, b, c come back as a ``lrnn_theory.trajectory.Trajectory`` whose time axis is the theory's
(``tau * da/dt = -tau dE/da``), so that it can be laid over ``lrnn_theory.integrate(task, ...)`` directly.

Options are objects (``PopulationData``, ``SampleData``, ``UserData``; ``AlignedInit``, ``RandomInit``;
``Recording``, ``NTKRecording``; ``Stopping``); the flat keywords of 0.x (``X=``, ``Y=``, ``n_samples=``,
``init_scale=``, ``record_every=``, ``on_record=``, ``progress=``, ``ntk_steps=``, ``ntk_inputs=``, ``ntk_outputs=``,
``stop_loss=``, ``divergence_threshold=``) are shorthands for their fields.

Time mapping
------------
A loss convention ``loss = scale * L`` (``L = 1/2 sum_p ||y_p - y_hat_p||^2``, the theory's loss) advances theory
time by ``dt = lr * tau * scale`` per step; the conventions ``sum_half``, ``sum``, ``mean_half``, ``mean`` and their
scales are in ``lrnn_theory.losses`` (``mean_half`` gives the paper's ``tau = P N_y / eta``). Population data stand
for ``n_samples`` exactly whitened samples (default ``T * N_x``, the fewest that can be white across time and
dimensions), so P is that number in the mean conventions, and population and sample training give the same
trajectory under every convention.

Every-step outputs
------------------
For an every-step task (``Task(..., outputs="every_step")``, App. M) the network is read out after every step,
``y_hat_t = W_y h_{t+1}``, and trained on ``L = 1/2 sum_p sum_t ||y_{p,t} - y_hat_{p,t}||^2``: population data are
``Sigma^{Y_t X_i} = U S_(t,i) V^T`` (i <= t), samples have targets ``y_{p,t} = sum_(i<=t) U S_(t,i) V^T x_{p,i}``,
user targets have shape (P, T, N_y). The mean conventions average over all ``P T N_y`` output entries.

Inputs correlated across time
-----------------------------
A task with an ``input_covariance`` (lambda_ij per mode) gives the inputs ``Sigma^{X_i X_j} = V diag(lambda_ij) V^T``
(summed over the P samples population data stand for, as white inputs have ``delta_ij I``; a complex mode's lambda
on both units of its block). Population data train on the loss of both second moments,
``1/2 sum_ij tr(M_i Sigma^{X_i X_j} M_j^T) - sum_i tr(M_i^T Sigma^{YX_i}) + const`` with
``M_i = W_y W_h^(T-i) W_x`` (every step: per output time t over i, j <= t), whose gradient is one batched product
with the engine's gram matrix G per unit (``data.CorrelatedMoments``). ``SampleData`` colours exactly whitened
sequences with the symmetric square root of the (T N_x) x (T N_x) covariance and takes the targets of the linear
teacher ``y = sum_i W*_i x_i`` (per mode w* = Lambda^+ sigma) that has exactly the task's cross-covariances, so
sample and population training agree to rounding. The recorded energy is the correlated task's
(``mode_energy(..., input_covariance)``). White covariances (None or the identity) take the white path, unchanged.

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
on the rotation-scalings (``data.block_values``). A complex every-step task is the same data per output step:
``Sigma^{Y_t X_i} = U H(d_(t,i)) V^T`` (notes §9). ``hidden`` counts real units. The time mapping is the same as for
real tasks, ``dt = lr * tau * scale``, and the flow it matches is the Wirtinger flow tau dz/dt = -2 tau dE/d(conj z)
(eqs. 182-184): the Frobenius norm of a block is 2|z|^2, which doubles the loss, and the gradient with respect to a
block's entries is half the gradient with respect to (Re z, Im z); the two factors cancel. Without the Wirtinger
factor 2 (S1 eqs. 187-189) the network would run twice as fast as the flow; ``tests/test_complex.py`` pins this.
With the fitted basis (unaligned networks), a complex mode is read in the gauge arg(a + conj(c)) = 0 (u and b do
not depend on it).
"""
from __future__ import annotations

import functools
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from lrnn_theory.errors import DivergenceError, LrnnInputError, bad, check_int, check_real
from lrnn_theory.losses import LOSSES, check_loss, time_per_step
from lrnn_theory.network import blas_threads
from lrnn_theory.tasks import Task
from lrnn_theory.trajectory import Trajectory, mode_energy

from .network import LRNN, WEIGHT_NAMES
from .recorders import MAX_RECORDS, NTKRecording, Recording
from .training_setup import (AlignedInit, PopulationData, RandomInit, SampleData, TrainingSetup, UserData,
                             fitted_hidden_basis, read_modes, set_up)

__all__ = ["AlignedInit", "DATA", "INITS", "LOSSES", "MAX_RECORDS", "NTKRecording", "PopulationData", "RandomInit",
           "Recording", "SampleData", "Stopping", "TrainingResult", "TrainingSetup", "UserData", "fitted_hidden_basis",
           "gradient_descent", "hessian_top_eigenvalue", "read_modes", "rotational_setup", "set_up", "simulate",
           "train_lrnn", "weight_singular_values"]

INITS = ("aligned", "random")
DATA = ("population", "samples", "user")
#: Weights larger than this in magnitude count as diverged (the same threshold as ``integrate``).
DIVERGENCE_THRESHOLD = 1e6


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
    from scipy.sparse.linalg import LinearOperator, eigsh  # scipy.sparse: only when a run diverges

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


# ---- stage 2: the training loop ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stopping:
    """When a training run stops before its last step. Errors name the ``train_lrnn`` keywords.

    Parameters
    ----------
    loss : float, optional
        Stop (and record) at the first step whose loss is at most this (``stop_loss``).
    divergence_threshold : float
        Weights larger than this in magnitude count as diverged (``DivergenceError``).
    """

    loss: float | None = None
    divergence_threshold: float = DIVERGENCE_THRESHOLD

    def __post_init__(self):
        if self.loss is not None:
            object.__setattr__(self, "loss", check_real("stop_loss", self.loss, nonnegative=True))
        object.__setattr__(self, "divergence_threshold",
                           check_real("divergence_threshold", self.divergence_threshold, positive=True))


@dataclass(frozen=True)
class LoopOutcome:
    """What ``gradient_descent`` returns: the trained network, the last step taken (earlier than ``steps`` when
    ``Stopping.loss`` stopped the run), the wall time and the BLAS threads used."""

    network: LRNN
    last_step: int
    stopped_early: bool
    wall_time: float
    blas_threads: object


def check_freeze(freeze) -> tuple:
    """Weight names to freeze, as a sorted tuple of W_x, W_h, W_y (a single name may be a string)."""
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


def _plain_divergence(step, what, best):
    return DivergenceError(f"training diverged at step {step}: {what}", time=float(step))


def gradient_descent(network: LRNN, loss_and_grad, *, lr: float, steps: int, freeze=(), recorders=(),
                     stopping: Stopping | None = None, progress=None, on_divergence=None) -> LoopOutcome:
    """Stage 2 of a training run: full-batch gradient descent ``W <- W - lr * grad`` on ``network`` (in place).

    Parameters
    ----------
    network : LRNN
        The starting network; its weights are replaced step by step (never written into).
    loss_and_grad : callable
        ``loss_and_grad(network) -> (loss, (g_x, g_h, g_y))`` (``TrainingSetup.objective(loss).loss_and_grad``).
    lr : float
    steps : int
        Gradient steps; the loop evaluates the loss at steps 0..steps.
    freeze : iterable of {"W_x", "W_h", "W_y"}
        Weights not updated.
    recorders : iterable
        Objects with ``start(steps, network)``, ``due(step, last)`` and ``record(step, network, loss)``
        (``lrnn_theory.validation.recorders``), called in order at every step they are due; with ``next_due(step)``
        (the first step >= step they can be due at, besides the last) they are asked only from that step; with
        ``flush()`` it is called when the loop ends, by every exit path (return, divergence, interruption), so that
        no recorder still holds the network's live weight arrays when the caller gets the network back.
    stopping : Stopping, optional
    progress : bool, optional
        Progress bar (default: when stderr is a terminal; it appears only on runs longer than ~2 s).
    on_divergence : callable, optional
        ``on_divergence(step, what, best) -> Exception`` to raise when the loss or the weights overflow, with
        ``best = (loss, step, weights)`` the lowest-loss state seen.

    Returns
    -------
    LoopOutcome
    """
    lr = check_real("lr", lr, positive=True)
    steps = check_int("steps", steps, minimum=0)
    trainable = tuple(j for j, name in enumerate(WEIGHT_NAMES) if name not in check_freeze(freeze))
    stopping = Stopping() if stopping is None else stopping
    on_divergence = _plain_divergence if on_divergence is None else on_divergence
    recorders = list(recorders)
    for recorder in recorders:
        recorder.start(steps, network)
    schedule = [(recorder.due, recorder.record, getattr(recorder, "next_due", _every_step)) for recorder in recorders]
    next_record = 0  # no recorder is due before this step, unless it is the last
    stop_loss, threshold = stopping.loss, stopping.divergence_threshold
    threshold_squared = threshold * threshold  # inf for thresholds above 1e154: then the exact check decides
    # The lowest-loss state (loss, step, weights): the update below makes new arrays and never writes into the old
    # ones, so keeping references is enough (no copy per step).
    best_loss, best_step, best_weights = np.inf, 0, network.weights
    weights = [network.W_x, network.W_h, network.W_y]
    bar = _progress_bar(steps, progress)
    bar_chunk = max(1, steps // 200)
    next_bar = bar_chunk
    started = time.perf_counter()
    blas_limit, threads = blas_threads(network.N_h)
    step = 0
    try:
        with blas_limit, np.errstate(over="ignore", invalid="ignore"):
            for step in range(steps + 1):
                value, grads = loss_and_grad(network)
                if not math.isfinite(value):
                    raise on_divergence(step, "the loss overflowed", (best_loss, best_step, best_weights))
                if value < best_loss:
                    best_loss, best_step, best_weights = value, step, tuple(weights)
                last = step == steps or (stop_loss is not None and value <= stop_loss)
                if step >= next_record or last:
                    next_record = math.inf
                    for due, record, next_due in schedule:
                        if due(step, last):
                            record(step, network, value)
                        upcoming = next_due(step + 1)
                        if upcoming < next_record:
                            next_record = upcoming
                    if last:
                        break
                squares = 0.0
                for j in trainable:
                    weights[j] = updated = weights[j] - lr * grads[j]
                    flat = updated.ravel()
                    squares += flat.dot(flat)
                network.W_x, network.W_h, network.W_y = weights
                # the sum of squares (one BLAS call per weight) bounds max |entry|^2: the exact maximum only when it
                # fails (NaN fails too)
                if not squares < threshold_squared:
                    largest = float(max(abs(weights[k]).max() for k in trainable))
                    if not largest <= threshold:
                        raise on_divergence(step + 1, f"the weights overflowed (largest |entry| {largest:.3g} "
                                                      f"> {threshold:g})", (best_loss, best_step, best_weights))
                if step + 1 == next_bar:
                    bar.update(bar_chunk)
                    next_bar += bar_chunk
    finally:
        bar.close()
        for recorder in recorders:  # deferred reads (BatchedRecorder): before the caller can edit the weights
            flush = getattr(recorder, "flush", None)
            if flush is not None:
                flush()
    return LoopOutcome(network=network, last_step=step, stopped_early=step < steps,
                       wall_time=time.perf_counter() - started, blas_threads=threads)


def _every_step(step: int) -> int:
    """``next_due`` of a recorder without one: it is asked at every step."""
    return step


def _progress_bar(total: int, progress):
    """tqdm bar that appears only after 2 s (so only on longer runs); off when not a TTY unless forced."""
    from tqdm.auto import tqdm  # tqdm.auto probes for notebooks: only when a run starts

    if progress is None:
        enabled = sys.stderr.isatty()
    else:
        enabled = bool(progress)
    return tqdm(total=total, disable=not enabled, delay=2.0, unit="step", desc="training", leave=False,
                mininterval=0.5)


# ---- the composition --------------------------------------------------------------------------------------------
#: The 0.x flat keywords of ``train_lrnn``: the option object each one is a field of.
SHORTHANDS = {"X": "data", "Y": "data", "n_samples": "data", "init_scale": "init", "record_every": "recording",
              "on_record": "recording", "progress": "recording", "ntk_steps": "recording", "ntk_inputs": "recording",
              "ntk_outputs": "recording", "stop_loss": "stopping", "divergence_threshold": "stopping"}


def train_lrnn(task, *, lr=0.01, steps=1000, loss="sum_half", hidden=None, data="population", init="aligned",
               seed=0, freeze=(), recording=None, stopping=None, **shorthand) -> TrainingResult:
    """Train an LRNN on a task by full-batch gradient descent and record its modes on the theory's time axis.

    The composition of ``set_up`` (stage 1), ``gradient_descent`` (stage 2) and the recorders of ``recording``
    (stage 3); see the module docstring.

    Parameters
    ----------
    task : Task, dict or path, or None
        The task (singular values, init, tau). May be None with user data (the task is then fitted from the data
        with tau = 1); with user data a given task contributes only its ``tau`` (and ``init`` if it has as many
        modes as the data).
    lr : float
        Learning rate of gradient descent on the chosen loss convention.
    steps : int
        Number of gradient steps.
    loss : {"sum_half", "sum", "mean_half", "mean"}
        Loss convention; the time per step follows from it (``lrnn_theory.losses``).
    hidden : int, optional
        Hidden width N_h >= K (default K, the number of modes). N_x = N_y = K for task data. For a complex task,
        real units: two per complex mode (the default and the minimum is their total).
    data : PopulationData, SampleData, UserData, or "population", "samples"
        Train on the correlations ``U S_i V^T`` (exact expected gradient), on exactly whitened sequences with
        targets ``sum_i U S_i V^T x_i``, or on user arrays (P, T, N_x) and (P, N_y) or (P, T, N_y) (every-step
        targets). Shorthands: ``n_samples=`` (P >= T N_x, default T N_x; for population data it sets P in the mean
        conventions), ``X=``, ``Y=`` (user data).
    init : AlignedInit, RandomInit, LRNN, or "aligned", "random"
        Aligned with the task's singular vectors (a, b, c from ``task.init``, or all ``scale``), small random
        ``N(0, scale^2 / fan_in)`` (default scale 0.1, a dict gives one per matrix), or these weights. Shorthand:
        ``init_scale=``.
    seed : int
        Seeds U, V, R (the task's singular vectors and hidden basis), the samples and the random init.
    freeze : iterable of {"W_x", "W_h", "W_y"}
        Weights that gradient descent does not update.
    recording : Recording, optional
        What to record and how often (default: modes, losses and singular values at every step). Shorthands:
        ``record_every=``, ``on_record=``, ``progress=``, ``ntk_steps=``, ``ntk_inputs=``, ``ntk_outputs=``.
    stopping : Stopping, optional
        Stop at a loss, and the divergence threshold of the weights. Shorthands: ``stop_loss=``,
        ``divergence_threshold=``.
    **shorthand
        The flat keywords above (each a field of the option object named there; not together with that object).

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
    >>> same = train_lrnn(task, lr=0.05, steps=2000, recording=Recording(every=100))
    >>> bool((same.trajectory.b == result.trajectory.b).all())
    True
    """
    lr = check_real("lr", lr, positive=True)
    steps = check_int("steps", steps, minimum=0)
    seed = check_int("seed", seed, minimum=0)
    loss, freeze = check_loss(loss), check_freeze(freeze)
    data, init, recording, stopping = _options(data, init, recording, stopping, shorthand)
    setup = set_up(task, hidden=hidden, data=data, init=init, seed=seed)
    objective = setup.objective(loss)
    dt = time_per_step(lr, setup.task.tau, objective.scale)
    recorders = recording.recorders(setup)
    on_divergence = functools.partial(_divergence_error, setup=setup, objective=objective, lr=lr, dt=dt,
                                      freeze=freeze)
    outcome = gradient_descent(setup.network.copy(), objective.loss_and_grad, lr=lr, steps=steps, freeze=freeze,
                               recorders=recorders.values(), stopping=stopping, progress=recording.progress,
                               on_divergence=on_divergence)
    run = {"lr": lr, "steps": steps, "dt": dt, "seed": seed, "freeze": freeze, "record_every": recording.every}
    return _training_result(setup, objective, outcome, recorders, run)


def _options(data, init, recording, stopping, shorthand):
    """The option objects, with the flat keywords of ``shorthand`` folded into them."""
    unknown = sorted(set(shorthand) - set(SHORTHANDS))
    if unknown:
        raise TypeError(f"train_lrnn() got an unexpected keyword argument '{unknown[0]}'")
    objects = {"data": data, "init": init, "recording": recording, "stopping": stopping}
    for name in shorthand:  # a shorthand fills in a default or named option, never an option object given too
        owner = SHORTHANDS[name]
        if not isinstance(objects[owner], (str, LRNN, type(None))):
            raise LrnnInputError(f"parameter '{name}' is a field of '{owner}': give it there, not both")
    get = shorthand.get
    if get("X") is not None or get("Y") is not None or data == "user":
        if data not in ("population", "user"):
            raise LrnnInputError(f"parameter 'data' must be 'user' when X and Y are given, got '{data}'")
        data = UserData(get("X"), get("Y"))
        if get("n_samples") is not None and get("n_samples") != data.X.shape[0]:
            raise LrnnInputError(f"parameter 'n_samples' must match the {data.X.shape[0]} samples of X, "
                                 f"got {get('n_samples')}")
    elif data in ("population", "samples"):
        data = {"population": PopulationData, "samples": SampleData}[data](get("n_samples"))
    if init in INITS:
        init = {"aligned": AlignedInit, "random": RandomInit}[init](get("init_scale"))
    if recording is None:
        ntk = None
        if get("ntk_steps") is not None:
            ntk = NTKRecording(get("ntk_steps"), get("ntk_inputs"), get("ntk_outputs", "final"))
        elif get("ntk_inputs") is not None:
            raise LrnnInputError("parameter 'ntk_inputs' needs 'ntk_steps'")
        recording = Recording(get("record_every", 1), get("on_record"), ntk, get("progress"))
    if stopping is None:
        stopping = Stopping(get("stop_loss"), get("divergence_threshold", DIVERGENCE_THRESHOLD))
    return data, init, recording, stopping


def _training_result(setup: TrainingSetup, objective, outcome: LoopOutcome, recorders: dict, run: dict):
    """Assemble the recorders' arrays and the run's description into a ``TrainingResult``."""
    task, data, dt = setup.task, setup.data, run["dt"]
    modes = recorders["modes"]
    info = dict(data.info)
    if outcome.stopped_early:
        info["stopped_at_step"] = int(modes.steps[-1])
    a, b, c = modes.modes
    t = modes.steps * dt
    wall_time = outcome.wall_time
    info.update(
        lr=run["lr"], steps=run["steps"], dt_per_step=dt, loss=objective.loss, loss_scale=objective.scale,
        data=data.source, init=setup.init, init_scale=setup.init_scale, hidden=setup.R.shape[0],
        N_x=data.V.shape[0], N_y=data.U.shape[0], K=task.K, T=task.T, outputs=task.outputs, tau=task.tau,
        n_samples=data.n_samples, seed=run["seed"], freeze=list(run["freeze"]), record_every=run["record_every"],
        t_final=float(t[-1]), source="simulation", block_sizes=None if data.sizes is None else data.sizes.tolist(),
        readout="aligned basis R" if setup.aligned else "fitted hidden basis (polar factor of W_x V + W_y^T U)",
        singular_value_readout=recorders["singular_values"].method,
        blas_threads=outcome.blas_threads, wall_time=wall_time,
        steps_per_second=run["steps"] / wall_time if wall_time > 0 else float("inf"))
    energy = mode_energy(task.singular_values, a, b, c, task.tau, task.input_covariance)
    trajectory = Trajectory(t=t, a=a, b=b, c=c, energy=energy, info=dict(info))
    return TrainingResult(trajectory=trajectory, network=outcome.network, losses=recorders["losses"].losses,
                          info=info, steps=modes.steps, singular_values=recorders["singular_values"].singular_values,
                          basis={"U": data.U, "V": data.V, "R": setup.R}, task=task,
                          initial_network=setup.network.copy(),
                          records=recorders["records"].records if "records" in recorders else [],
                          ntk=recorders["ntk"].result(dt) if "ntk" in recorders else None)


def _theory_endpoint(setup: TrainingSetup):
    """Aligned network at the end point of the theory's flow from the initial read-off modes (None if it diverges)."""
    from lrnn_theory.flow import integrate  # the flow compiles sympy: only when a run diverges

    a0, b0, c0 = setup.read_modes(setup.network)
    start = setup.task.with_init(a=a0, b=b0, c=c0)
    try:
        # Only advice for a divergence message: LSODA, one bounded attempt (the batched solver and its fallbacks can
        # take long on the badly scaled tasks whose training diverges).
        traj = integrate(start, 1e4 * setup.task.tau, n_points=2, converged_tol=1e-9, method="LSODA")
    except DivergenceError:
        return None
    final = traj.final()
    return setup.aligned_network(final["a"], final["b"], final["c"])


def _divergence_error(step, what, best, *, setup, objective, lr, dt, freeze) -> DivergenceError:
    """DivergenceError with the step and a stable learning-rate bound.

    The bound is ``2 / lambda_max`` of the loss Hessian, the largest curvature found at two states: the
    lowest-loss state the run reached, and (for task data) the theory's end point, where the curvature of tasks
    with large recurrent solutions is highest (notes Section 5.2).
    """
    trainable = tuple(j for j, name in enumerate(WEIGHT_NAMES) if name not in freeze)
    _, best_step, best_weights = best
    candidates = [(f"the lowest-loss state (step {best_step})", LRNN(*best_weights))]
    try:
        net = _theory_endpoint(setup)
    except Exception:  # the bound is advice; never let it hide the divergence itself
        net = None
    if net is not None:
        candidates.append(("the theory's end point", net))
    top, where = float("nan"), ""
    for label, net in candidates:
        try:
            value = hessian_top_eigenvalue(lambda ws: objective.loss_and_grad(ws)[1], list(net.weights), trainable)
        except Exception:
            continue
        if np.isfinite(value) and not value <= top:
            top, where = value, label
    if np.isfinite(top) and top > 0:
        bound = 2.0 / top
        advice = (f"a stable learning rate is below about {bound:.3g} (2 / largest Hessian eigenvalue "
                  f"{top:.3g} of the '{objective.loss}' loss, at {where})")
    else:
        bound = float("nan")
        advice = "no stable learning-rate bound could be estimated; reduce lr"
    err = DivergenceError(f"training diverged at step {step} (t={step * dt:.6g}) with lr={lr:g}: {what}; {advice}",
                          time=float(step))
    err.step = step
    err.lr_bound = bound
    return err


def rotational_setup(task, hidden=None, seed: int = 0) -> dict:
    """The set-up ``train_lrnn(task, hidden=hidden, seed=seed)`` starts from, as a dict: ``set_up(...).as_dict()``.

    Population data and the aligned init from ``task.init``; meant for a complex task's real block form, whose
    correlations, bases and network other code (for example kernels of the real network) can use without training.

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
        ``C`` (T, N, N) correlations ``U H(d_i) V^T`` (every-step tasks: (T, T, N, N), ``U H(d_(t,i)) V^T``),
        ``U``, ``V`` (N, N), ``R`` (N_h, N), ``sizes`` (K,) block sizes, ``network`` the aligned ``LRNN``.

    Examples
    --------
    >>> import numpy as np
    >>> from lrnn_theory import Task
    >>> setup = rotational_setup(Task.from_family("constant", T=3, delta=0.7, delta_phase=np.pi / 6))
    >>> setup["C"].shape, setup["sizes"].tolist(), setup["network"].N_h
    ((3, 2, 2), [2], 2)
    """
    return set_up(task, hidden=hidden, seed=seed).as_dict()


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

"""Stage 1 of the harness: the set-up of a training run (data, bases, initial weights).

``set_up(task, hidden=, data=, init=, seed=)`` builds what a run starts from, in one way for every kind of data:

- the data, by a strategy object: ``PopulationData(n_samples=)`` (the correlations ``U S_i V^T``, the exact expected
  gradient over exactly whitened inputs), ``SampleData(n_samples=)`` (exactly whitened samples with targets
  ``sum_i U S_i V^T x_i``) or ``UserData(X, Y)`` (the task is estimated from the arrays by
  ``lrnn_theory.task_estimation.estimate_task``, the estimator of ``Task.from_data``). A complex (rotational) task
  becomes real data in block form (``data.block_task_correlations``, S1 App. P.4.1), read out at the last step
  (``U H(d_i) V^T``) or at every step (``U H(d_(t,i)) V^T``) as its profile says. A task with inputs correlated
  across time (``Task(..., input_covariance=)``) has ``Sigma^{X_i X_j} = V diag(lambda_ij) V^T`` as well
  (``data.CorrelatedMoments``; a complex mode's lambda on both units of its block): population data take the
  exact loss of both second moments, samples are coloured to have exactly this covariance, with targets from the
  linear teacher that has the task's cross-covariances;
- the bases: random orthonormal U, V (task data; user data: the estimated ones) and the hidden basis R;
- the initial network, by a strategy object: ``AlignedInit(scale=)``, ``RandomInit(scale=)`` or a given ``LRNN``.

The strings "population", "samples", "aligned", "random" stand for the strategies with their defaults. One seed
gives three independent streams (``SeedSequence(seed).spawn(3)``): bases (U and V, or the estimator's random
combination, then R), samples, random init; so the bases do not depend on the data or init chosen.

The set-up also knows how to read the modes off a network (``read_modes``) and gives the loss of a convention
(``objective``), which the training loop (``harness.gradient_descent``) and recorders (``recorders``) use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

from lrnn_theory.block_form import block_task_correlations, block_values, mode_block_sizes
from lrnn_theory.errors import LrnnInputError, bad, check_int, check_real
from lrnn_theory.losses import check_loss, loss_scale
from lrnn_theory.task_estimation import check_data, estimate_task
from lrnn_theory.tasks import Task, coerce_task

from .data import (CorrelatedMoments, random_orthonormal, sample_targets, task_correlations, unit_covariance,
                   whitened_inputs, whitening_error)
from .network import LRNN, WEIGHT_NAMES, SampleLoss, population_loss

DEFAULT_RANDOM_SCALE = 0.1


# ---- what a data strategy produces --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TaskData:
    """The task trained on, its correlations and bases, and (for sample and user data) the samples.

    Attributes
    ----------
    source : {"population", "samples", "user"}
        Which data strategy made them.
    task : Task
    correlations : ndarray (T, N_y, N_x) or (T, T, N_y, N_x)
    U, V : ndarray (N_y, N), (N_x, N)
        Output and input bases, N = K real units (a complex task: the sum of ``sizes``).
    sizes : ndarray of int (K,) or None
        Block sizes of a complex task's real form (2 per complex mode); None for a real task and user data.
    n_samples : int
        P, the number of samples (population data stand for P exactly whitened ones).
    X, Y : ndarray or None
        Training samples; None for population data.
    info : dict
        Diagnostics of the data (``whitening_error``; correlated samples: ``covariance_error``; user data:
        ``task_fit_residual``).
    moments : CorrelatedMoments or None
        The input covariance across time and the population loss it gives (task data with a non-white
        ``input_covariance``); None for white inputs and user data.
    """

    source: str
    task: Task
    correlations: np.ndarray
    U: np.ndarray
    V: np.ndarray
    sizes: np.ndarray | None
    n_samples: int
    X: np.ndarray | None = None
    Y: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    moments: CorrelatedMoments | None = None

    @property
    def units(self) -> int:
        """Real units of the mode basis: K, or two per complex mode."""
        return self.U.shape[1]


def _task_data(task, basis_rng, n_samples) -> TaskData:
    """Correlations ``U S_i V^T`` (complex tasks: ``U H(d_i) V^T`` in block form; every-step tasks the same per
    (t, i)) with random orthonormal U, V, and the input covariance ``V diag(lambda_ij) V^T`` of a correlated task."""
    if task is None:
        raise LrnnInputError("parameter 'task' is required unless user data X, Y are given")
    task = coerce_task(task)
    sizes = mode_block_sizes(task) if task.is_complex else None
    units = task.K if sizes is None else int(np.sum(sizes))  # real units of the block form
    U = random_orthonormal(basis_rng, units, units)
    V = random_orthonormal(basis_rng, units, units)
    C = task_correlations(task.singular_values, U, V) if sizes is None else \
        block_task_correlations(task.singular_values, U, V, sizes)
    P = n_samples if n_samples is not None else task.T * units
    if P < task.T * units:  # population data stand for P exactly whitened samples, which needs P >= T N_x
        raise bad("n_samples", n_samples, f"be >= T * N_x = {task.T * units} (exactly whitened samples, which "
                                          f"population data stand for)")
    lam = unit_covariance(task, sizes)
    moments = None if lam is None else CorrelatedMoments(C, V, lam)
    return TaskData(source="population", task=task, correlations=C, U=U, V=V, sizes=sizes, n_samples=P,
                    moments=moments)


def _check_n_samples(data):
    if data.n_samples is not None:
        check_int("n_samples", data.n_samples, minimum=1)


# ---- data strategies ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PopulationData:
    """Train on the task's correlations ``U S_i V^T``: the exact expected gradient, no samples.

    With an ``input_covariance`` the loss takes both second moments, ``Sigma^{YX_i}`` and
    ``Sigma^{X_i X_j} = V diag(lambda_ij) V^T`` (``data.CorrelatedMoments``).

    Parameters
    ----------
    n_samples : int, optional
        P >= T N_x, the number of exactly whitened samples the population stands for (default T N_x); it sets P in
        the mean loss conventions.
    """

    n_samples: int | None = None
    name: ClassVar[str] = "population"

    def __post_init__(self):
        _check_n_samples(self)

    def build(self, task, basis_rng, data_rng) -> TaskData:
        """The task's correlations and random bases U, V (drawn from ``basis_rng``)."""
        return _task_data(task, basis_rng, self.n_samples)


@dataclass(frozen=True)
class SampleData:
    """Train on ``n_samples`` exactly whitened sequences with targets ``sum_i U S_i V^T x_i``.

    With an ``input_covariance``: those sequences coloured to have exactly the second moments
    ``sum_p x_{p,i} x_{p,j}^T = V diag(lambda_ij) V^T``, with the targets of the linear teacher whose
    cross-covariances with them are exactly ``Sigma^{YX_i}`` (``data.CorrelatedMoments.samples``), so that training
    on them equals population training to rounding.

    Parameters
    ----------
    n_samples : int, optional
        P >= T N_x (default T N_x, the fewest that can be white across time and dimensions).
    """

    n_samples: int | None = None
    name: ClassVar[str] = "samples"

    def __post_init__(self):
        _check_n_samples(self)

    def build(self, task, basis_rng, data_rng) -> TaskData:
        """As ``PopulationData``, plus the samples (drawn from ``data_rng``)."""
        made = _task_data(task, basis_rng, self.n_samples)
        X = whitened_inputs(data_rng, made.n_samples, made.task.T, made.units)
        if made.moments is None:
            Y, info = sample_targets(X, made.correlations), {"whitening_error": whitening_error(X)}
        else:
            X, Y = made.moments.samples(X)
            info = {"covariance_error": made.moments.covariance_error(X)}
        return TaskData(source="samples", task=made.task, correlations=made.correlations, U=made.U, V=made.V,
                        sizes=made.sizes, n_samples=made.n_samples, X=X, Y=Y, info=info, moments=made.moments)


@dataclass(frozen=True, eq=False)
class UserData:
    """Train on given arrays; the task is estimated from them (``estimate_task(..., bases="combination")``).

    Parameters
    ----------
    X : array_like, shape (P, T, N_x)
        Input sequences, P >= T N_x.
    Y : array_like, shape (P, N_y), or (P, T, N_y) for targets at every step (an every-step task)

    With user data, the ``task`` given to ``set_up`` contributes only its ``tau`` (and ``init`` if it has as many
    modes as the data); without one, tau = 1.
    """

    X: np.ndarray
    Y: np.ndarray
    name: ClassVar[str] = "user"

    def __post_init__(self):
        if self.X is None or self.Y is None:
            raise LrnnInputError("user data needs both 'X' (P, T, N_x) and 'Y' (P, N_y) or (P, T, N_y)")
        X, Y = check_data(self.X, self.Y)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "Y", Y)

    def build(self, task, basis_rng, data_rng) -> TaskData:
        """The estimated task and bases; the estimator's random combination is drawn from ``basis_rng``."""
        given = coerce_task(task) if task is not None else None
        K = min(self.X.shape[2], self.Y.shape[-1])
        estimate = estimate_task(self.X, self.Y, tau=given.tau if given is not None else 1.0,
                                 init=given.init if (given is not None and given.K == K) else None,
                                 name="user data", seed=basis_rng, bases="combination")
        info = {"task_fit_residual": estimate.diagnostic["largest_off_diagonal"],
                "whitening_error": estimate.diagnostic["whitening_error"]}
        return TaskData(source="user", task=estimate.task, correlations=estimate.correlations, U=estimate.U,
                        V=estimate.V, sizes=None, n_samples=self.X.shape[0], X=self.X, Y=self.Y, info=info)


DATA = {"population": PopulationData, "samples": SampleData, "user": UserData}


def as_data(data):
    """A data strategy from a strategy object or its name ("population", "samples"; "user" needs ``UserData``)."""
    if isinstance(data, (PopulationData, SampleData, UserData)):
        return data
    if data == "user":
        return UserData(None, None)  # raises: the arrays are missing
    if isinstance(data, str) and data in DATA:
        return DATA[data]()
    raise bad("data", data, f"be one of {', '.join(DATA)} or PopulationData, SampleData, UserData")


# ---- initialisation strategies --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlignedInit:
    """Start aligned with the task's singular vectors: ``W_x = R diag(a) V^T``, ``W_h = R diag(b) R^T``,
    ``W_y = U diag(c) R^T`` (complex tasks: 2x2 blocks ``H(z)`` in place of the diagonals).

    Parameters
    ----------
    scale : float, optional
        Every mode set to this value >= 0; by default a, b, c come from ``task.init`` (signed per-mode values go
        there, ``task.with_init``).
    """

    scale: float | None = None
    name: ClassVar[str] = "aligned"

    def __post_init__(self):
        if isinstance(self.scale, dict):
            raise bad("init_scale", self.scale, "be a number for an aligned init (use task.with_init for per-mode "
                                                "values)")
        if self.scale is not None:
            check_real("init_scale", self.scale, nonnegative=True)

    def network(self, made: TaskData, R, rng):
        """The aligned network and the scale used (None: ``task.init``)."""
        K = made.task.K
        if self.scale is None:
            a0, b0, c0 = made.task.init.a, made.task.init.b, made.task.init.c
        else:
            a0 = b0 = c0 = np.full(K, float(self.scale))
        if made.sizes is None:
            return LRNN.aligned(a0, b0, c0, made.U, made.V, R), self.scale
        return LRNN.aligned_blocks(a0, b0, c0, made.U, made.V, R, made.sizes), self.scale


@dataclass(frozen=True)
class RandomInit:
    """Start from independent Gaussian entries ``N(0, scale^2 / fan_in)``, fan_in the number of columns of the
    matrix (S1 App. P.1.2's ``sigma^2 / N_in``; W_h then has an expected spectral radius of ``scale``).

    Parameters
    ----------
    scale : float or dict, optional
        Standard deviation times sqrt(fan_in) (default 0.1); a dict ``{"W_x": .., "W_h": .., "W_y": ..}`` gives one
        per matrix (the others keep 0.1).
    """

    scale: float | dict | None = None
    name: ClassVar[str] = "random"

    def __post_init__(self):
        self.scales()  # checks the scale

    def scales(self) -> dict:
        """The standard-deviation scale of each matrix."""
        scales = dict.fromkeys(WEIGHT_NAMES, DEFAULT_RANDOM_SCALE)
        if isinstance(self.scale, dict):
            if set(self.scale) - set(WEIGHT_NAMES):
                raise bad("init_scale", self.scale, "have keys among W_x, W_h, W_y")
            scales.update({k: check_real(f"init_scale.{k}", v, nonnegative=True) for k, v in self.scale.items()})
        elif self.scale is not None:
            scales = dict.fromkeys(WEIGHT_NAMES, check_real("init_scale", self.scale, nonnegative=True))
        return scales

    def network(self, made: TaskData, R, rng):
        """The random network (drawn from ``rng``) and the scales used."""
        scales = self.scales()
        N_x, N_h, N_y = made.V.shape[0], R.shape[0], made.U.shape[0]
        shapes = {"W_x": (N_h, N_x), "W_h": (N_h, N_h), "W_y": (N_y, N_h)}
        # fan-in = number of columns: N(0, scale^2 / fan_in)
        weights = {k: rng.standard_normal(shape) * scales[k] / np.sqrt(shape[1]) for k, shape in shapes.items()}
        return LRNN(weights["W_x"], weights["W_h"], weights["W_y"]), scales


@dataclass(frozen=True, eq=False)
class GivenInit:
    """Start from these weights (a copy)."""

    start: LRNN
    name: ClassVar[str] = "given"

    def network(self, made: TaskData, R, rng):
        shape = (made.V.shape[0], R.shape[0], made.U.shape[0])
        if (self.start.N_x, self.start.N_h, self.start.N_y) != shape:
            raise LrnnInputError(f"parameter 'init' must be a network with N_x={shape[0]}, N_h={shape[1]}, "
                                 f"N_y={shape[2]}, got {self.start!r}")
        return self.start.copy(), None


INITS = {"aligned": AlignedInit, "random": RandomInit}


def as_init(init):
    """An init strategy from a strategy object, an ``LRNN`` (start from it) or a name ("aligned", "random")."""
    if isinstance(init, (AlignedInit, RandomInit, GivenInit)):
        return init
    if isinstance(init, LRNN):
        return GivenInit(init)
    if isinstance(init, str) and init in INITS:
        return INITS[init]()
    raise bad("init", init, f"be one of {', '.join(INITS)}, an LRNN, or AlignedInit, RandomInit")


# ---- the set-up -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """A loss convention on a set-up's data: ``loss_and_grad(weights) -> (loss, (g_x, g_h, g_y))``, with
    ``loss = scale * L`` (``lrnn_theory.losses``); ``weights`` is an ``LRNN`` or ``[W_x, W_h, W_y]``."""

    loss: str
    scale: float
    loss_and_grad: Callable


@dataclass(frozen=True, eq=False)
class TrainingSetup:
    """Everything a training run starts from (``set_up``).

    Attributes
    ----------
    data : TaskData
        Task, correlations, bases U, V, block sizes, samples.
    R : ndarray (N_h, N)
        Hidden basis of the aligned init (drawn whatever the init, so that the seed fixes it).
    network : LRNN
        The initial network (train a copy).
    init : str
        "aligned", "random" or "given".
    init_scale : float, dict or None
        The scale used (random: per matrix).
    """

    data: TaskData
    R: np.ndarray
    network: LRNN
    init: str
    init_scale: object = None

    @property
    def task(self) -> Task:
        return self.data.task

    @property
    def aligned(self) -> bool:
        """Whether the network started aligned, so that R is its hidden basis."""
        return self.init == "aligned"

    def read_modes(self, network: LRNN):
        """The modes a, b, c of ``network`` in this set-up's bases (``harness.read_modes``; the fitted hidden basis
        unless the network started aligned)."""
        return read_modes(network, self.data.U, self.data.V, self.R if self.aligned else None, self.data.sizes)

    def aligned_network(self, a, b, c) -> LRNN:
        """The network aligned with these bases that has modes a, b, c."""
        if self.data.sizes is None:
            return LRNN.aligned(a, b, c, self.data.U, self.data.V, self.R)
        return LRNN.aligned_blocks(a, b, c, self.data.U, self.data.V, self.R, self.data.sizes)

    def objective(self, loss: str = "sum_half") -> Objective:
        """The loss convention ``loss`` on these data (population: exact adjoint gradients, with the input
        covariance of a correlated task; samples: the same adjoint from the samples' second moments,
        ``network.SampleLoss``, equal to BPTT over the samples to rounding)."""
        loss = check_loss(loss)
        d = self.data
        scale = loss_scale(loss, d.n_samples, d.U.shape[0], d.task.output_steps)
        # what depends on the data only, once per run: the samples' second moments (a step then costs the same for
        # any number of samples; equal to BPTT over the samples to rounding), the input covariance, or the lag targets
        # (the loss objects of samples and correlations take the scale in: one product per step instead of three)
        if d.moments is not None and d.X is None:
            unscaled = d.moments.loss_and_grad

            def fixed(net):
                value, grads = unscaled(net)
                if scale == 1.0:  # sum_half: x * 1.0 == x, so skipping the products changes no bit
                    return value, grads
                g_x, g_h, g_y = grads
                return scale * value, (scale * g_x, scale * g_h, scale * g_y)
        else:
            fixed = SampleLoss(d.X, d.Y, scale) if d.X is not None else population_loss(d.correlations, scale)

        def loss_and_grad(weights):
            return fixed(weights if isinstance(weights, LRNN) else LRNN(*weights))
        return Objective(loss=loss, scale=scale, loss_and_grad=loss_and_grad)

    def as_dict(self) -> dict:
        """``C`` correlations, ``U``, ``V``, ``R`` bases, ``sizes`` block sizes (1 per real mode), ``network``."""
        sizes = self.data.sizes if self.data.sizes is not None else np.ones(self.task.K, dtype=int)
        return {"C": self.data.correlations, "U": self.data.U, "V": self.data.V, "R": self.R, "sizes": sizes,
                "network": self.network}


def set_up(task, *, hidden=None, data="population", init="aligned", seed: int = 0) -> TrainingSetup:
    """Stage 1 of a training run: data, bases and the initial network (module docstring).

    Parameters
    ----------
    task : Task, dict or path, or None
        The task; None with user data (then tau = 1).
    hidden : int, optional
        Hidden width N_h >= K (default K); for a complex task real units, two per complex mode.
    data : PopulationData, SampleData, UserData, or "population", "samples"
    init : AlignedInit, RandomInit, LRNN, or "aligned", "random"
    seed : int

    Returns
    -------
    TrainingSetup

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> setup = set_up(Task.constant(delta=1.0, T=3), hidden=2, data=SampleData(n_samples=6))
    >>> setup.data.X.shape, setup.network.N_h, setup.objective("mean").scale
    ((6, 3, 1), 2, 0.3333333333333333)
    """
    data, init = as_data(data), as_init(init)
    seed = check_int("seed", seed, minimum=0)
    basis_rng, data_rng, init_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    made = data.build(task, basis_rng, data_rng)
    units = made.units
    N_h = units if hidden is None else check_int("hidden", hidden, minimum=1)
    if N_h < units:
        raise bad("hidden", hidden, f"be >= the number of modes K = {made.task.K}" if made.sizes is None else
                  f"be >= {units} real units (two per complex mode) of the {made.task.K} modes")
    R = random_orthonormal(basis_rng, N_h, units)
    network, used_scale = init.network(made, R, init_rng)
    return TrainingSetup(data=made, R=R, network=network, init=init.name, init_scale=used_scale)


# ---- reading modes ----------------------------------------------------------------------------------------------
def fitted_hidden_basis(net: LRNN, U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Orthonormal polar factor of ``W_x V + W_y^T U``: the hidden direction of each task mode.

    Parameters
    ----------
    net : LRNN, or an object with weights ``W_x``, ``W_h``, ``W_y`` stacked along a leading axis (n, ...)
    U, V : ndarray, shapes (N_y, K) and (N_x, K)
        Output and input singular vectors of the task.

    Returns
    -------
    ndarray, shape (N_h, K), or (n, N_h, K) for stacked weights
        Orthonormal columns; equals R for an aligned network with a + c > 0.
    """
    A = net.W_x @ V + np.swapaxes(net.W_y, -1, -2) @ U
    left, _, right = np.linalg.svd(A, full_matrices=False)
    return left @ right


def read_modes(net: LRNN, U: np.ndarray, V: np.ndarray, R: np.ndarray | None = None, sizes=None):
    """Mode strengths ``a = diag(R^T W_x V)``, ``b = diag(R^T W_h R)``, ``c = diag(U^T W_y R)``.

    Parameters
    ----------
    net : LRNN, or an object with weights ``W_x``, ``W_h``, ``W_y`` stacked along a leading axis (n, ...)
        Stacked weights are read at once (the recorders read the records of a run in batches).
    U, V : ndarray, shapes (N_y, K) and (N_x, K)
        Output and input singular vectors of the task.
    R : ndarray (N_h, K), optional
        Hidden basis; None fits it (``fitted_hidden_basis``), for unaligned networks.
    sizes : array_like of int, optional
        Block sizes of a rotational task (``data.mode_block_sizes``): the complex modes are read off the diagonal
        blocks (``data.block_values``) of the same projections.

    Returns
    -------
    a, b, c : ndarray, shape (K,), or (n, K) for stacked weights
        Complex when ``sizes`` is given.
    """
    fitted = R is None
    if fitted:
        R = fitted_hidden_basis(net, U, V)
    if sizes is not None:
        # the three projections read together: one block_values call instead of three
        R_t = np.swapaxes(R, -1, -2)
        return tuple(block_values(np.stack((R_t @ net.W_x @ V, R_t @ net.W_h @ R, U.T @ net.W_y @ R)), sizes))
    if fitted:  # a basis per record
        return (R * (net.W_x @ V)).sum(axis=-2), (R * (net.W_h @ R)).sum(axis=-2), (U * (net.W_y @ R)).sum(axis=-2)
    return _diagonal(net.W_x, R, V), _diagonal(net.W_h, R, R), _diagonal(net.W_y, U, R)


def _diagonal(W: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``diag(left^T W right)`` of W (p, q) or stacked (n, p, q): one product of the flattened W with the columns
    vec(left_k right_k^T) (a batch of records in one BLAS call, no (n, p, K) intermediate)."""
    pairs = (left[:, None, :] * right[None, :, :]).reshape(-1, left.shape[1])
    return W.reshape(W.shape[:-2] + (-1,)) @ pairs

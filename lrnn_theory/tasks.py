"""Tasks: the temporal structure of the input-output correlations, mode by mode.

A task is the array of data singular values ``s[alpha, i-1]`` of ``K`` connectivity modes over the ``T`` trajectory
steps ``i = 1..T`` (column ``i-1`` is step ``i``; the last column is the final step, whose input reaches the output
with no recurrent factor), plus the initial mode strengths ``a`` (input), ``b`` (recurrent), ``c`` (output) and the
timescale ``tau`` (``tau * da/dt = ...``).

Rotational tasks (App. N of the paper) have complex singular values (eigenvalues d_i of a normal correlation
P D_i P^dagger) and complex initial modes; ``Task.is_complex`` tells them apart. A task whose imaginary parts are
all zero is stored as a real task. Every-step tasks (``outputs="every_step"``, App. M: the network is read out at
every step) hold ``s[alpha, t-1, i-1]`` of shape (K, T, T), output time t by input step i, without changing the
(K, T) single-output case. Every kind of task enters the engine through its task-sum coefficients
(``Task.sum_coefficients``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LrnnInputError, bad, check_finite_array, check_int, check_real, describe
from .correlated import InputCovariance, explained_norm, gram
from .io import atomic_write
from .task_sums import TaskSums
from .taskfile import MAX_TASK_SIZE, read_task_data

#: Initial value of every mode strength when a task does not say otherwise (a small, balanced initialisation).
DEFAULT_INIT = 0.1

FAMILIES = ("constant", "inverse_exponential", "exponential", "last_step", "dirac")
BASE_FAMILIES = ("constant", "inverse_exponential", "exponential")
#: Fields of ``init``: real parts a, b, c and imaginary parts (rotational tasks), each a scalar or one per mode.
INIT_FIELDS = ("a", "b", "c", "a_imag", "b_imag", "c_imag")
#: Phase (radians) of a family parameter, for rotational families: delta = |delta| e^(i delta_phase), ...
PHASES = {"delta_phase": "delta", "lambda_phase": "lambda"}
#: Where the network is read out: only after the last step (the paper's main text) or at every step (App. M).
OUTPUTS = ("final", "every_step")


def family_profile(family: str, T: int, lam=None) -> np.ndarray:
    """Temporal profile f(lambda, i) for steps i = 1..T of a base family (shape ``(K, T)`` or ``(T,)``)."""
    i = np.arange(1, T + 1, dtype=float)
    if family == "constant":
        return np.ones_like(i) if lam is None else np.ones((np.size(lam), T))
    lam = np.asarray(lam)
    lam = lam.astype(complex if lam.dtype.kind == "c" else float)[..., None]  # complex: rotational families
    with np.errstate(over="ignore"):  # overflow is reported by the caller, naming the parameters
        if family == "inverse_exponential":
            return lam ** (T - i)
        if family == "exponential":
            return lam**i
    raise bad("family", family, f"be one of {', '.join(BASE_FAMILIES)}")


def every_step_profile(family: str, T: int, lam=None) -> np.ndarray:
    """Every-step profile f(lambda, t, i) for outputs t and inputs i <= t (shape ``(K, T, T)``, 0 where i > t).

    ``constant``: 1; ``inverse_exponential``: lambda^(t-i) (by lag, the zero-loss family); ``exponential``:
    lambda^i. Entry ``[:, t-1, i-1]`` is output time t, input step i.

    Examples
    --------
    >>> every_step_profile("inverse_exponential", 3, lam=0.5)
    array([[[1.  , 0.  , 0.  ],
            [0.5 , 1.  , 0.  ],
            [0.25, 0.5 , 1.  ]]])
    """
    lam = np.ones(1) if lam is None else np.atleast_1d(np.asarray(lam, dtype=complex if np.iscomplexobj(lam) else float))
    t = np.arange(1, T + 1, dtype=float)[:, None]
    i = np.arange(1, T + 1, dtype=float)[None, :]
    causal = i <= t
    lam = lam[:, None, None]
    with np.errstate(over="ignore"):  # overflow is reported by the caller, naming the parameters
        if family == "constant":
            prof = np.ones_like(lam) * np.ones((T, T))
        elif family == "inverse_exponential":
            prof = lam ** np.where(causal, t - i, 0.0)
        elif family == "exponential":
            prof = lam**i * np.ones((T, 1))
        else:
            raise bad("family", family, f"be one of {', '.join(BASE_FAMILIES)} for every-step outputs")
    return np.where(causal, prof, 0.0)


def sum_coefficients_of(singular_values) -> tuple:
    """``(alpha, w)`` of the task sums A(b) = sum_k alpha[:, k] b^k, B(b) = sum_k w[k] b^(2k) of a profile.

    A (K, T) profile is a final-output task: alpha[:, k] = s_(T-k), w[k] = 1. A (K, T, T) profile is an every-step
    task (derived in ``lrnn_theory.derivations.every_step``): with the lag k = t - i, alpha[:, k] = sum_t s_(t,t-k)
    (the k-th subdiagonal summed) and w[k] = T - k (the number of (t, i) pairs at lag k).

    Examples
    --------
    >>> alpha, w = sum_coefficients_of(every_step_profile("inverse_exponential", 3, lam=0.5))
    >>> alpha, w          # A(b) = 3 + 1.0 b + 0.25 b^2, B(b) = 3 + 2 b^2 + b^4
    (array([[3.  , 1.  , 0.25]]), array([3., 2., 1.]))
    """
    s = np.asarray(singular_values)
    if s.ndim == 3:
        T = s.shape[-1]
        alpha = np.stack([np.trace(s, offset=-k, axis1=1, axis2=2) for k in range(T)], axis=1)
        return alpha, np.arange(T, 0, -1, dtype=float)
    return s[:, ::-1].copy(), np.ones(s.shape[-1])


def lag_exponents(T: int, every_step: bool) -> tuple:
    """Power of b that links each input to each output, and where a link exists.

    Final output: exponents T - i for i = 1..T (shape (T,)), all present. Every step: t - i (shape (T, T), output t
    rows, input i columns), present for i <= t only.
    """
    if not every_step:
        return np.arange(T - 1, -1, -1, dtype=float), np.ones(T, dtype=bool)
    lag = np.arange(T, dtype=float)[:, None] - np.arange(T, dtype=float)[None, :]
    return np.maximum(lag, 0.0), lag >= 0


def predicted_profile(u, b, T: int, every_step: bool) -> np.ndarray:
    """u b^(power) for every link of the modes (u, b) of shape (..., K): shape (..., K, T) or (..., K, T, T)."""
    u, b = (np.asarray(x, dtype=complex if np.iscomplexobj(x) else float) for x in (u, b))  # complex: rotational
    with np.errstate(over="ignore", invalid="ignore"):
        if not every_step:
            return u[..., None] * b[..., None] ** np.arange(T - 1, -1, -1, dtype=float)
        exponents, present = lag_exponents(T, True)
        # T powers per mode, gathered by lag (T^2 power evaluations would dominate long trajectories).
        powers = u[..., None] * b[..., None] ** np.arange(T, dtype=float)
        return np.where(present, powers[..., exponents.astype(int)], 0.0)


@dataclass(frozen=True)
class InitialModes:
    """Initial input (``a``), recurrent (``b``) and output (``c``) mode strengths, one value per mode (complex for
    rotational tasks)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray

    @classmethod
    def build(cls, K: int, a=DEFAULT_INIT, b=DEFAULT_INIT, c=DEFAULT_INIT, suffix: str = "") -> "InitialModes":
        values = {}
        for name, v in (("a", a), ("b", b), ("c", c)):
            name += suffix
            arr = check_finite_array(f"init.{name}", v, allow_complex=not suffix)
            if arr.ndim == 0:
                arr = np.full(K, arr[()])
            elif arr.shape != (K,):
                raise LrnnInputError(
                    f"parameter 'init.{name}' must be a scalar or a list of {K} values (one per mode), "
                    f"got {describe(v)}")
            values[name[0]] = arr
        return cls(**values)

    def as_dict(self) -> dict:
        out = {k: np.real(getattr(self, k)).tolist() for k in ("a", "b", "c")}
        if any(np.iscomplexobj(getattr(self, k)) for k in ("a", "b", "c")):
            out.update({f"{k}_imag": np.imag(getattr(self, k)).tolist() for k in ("a", "b", "c")})
        return out

    def astype(self, dtype) -> "InitialModes":
        return InitialModes(*(getattr(self, k).astype(dtype) for k in ("a", "b", "c")))


class Task:
    """Singular-value profile of a task, with initial mode strengths and timescale.

    Parameters
    ----------
    singular_values : array_like, shape (K, T) or (T,); (K, T, T) or (T, T) for every-step outputs
        ``s[alpha, i-1]``: singular value of mode ``alpha`` at trajectory step ``i``. A 1-D array is one mode.
        Complex values make a rotational task (eigenvalues d_i of App. N).
        Every-step outputs: ``s[alpha, t-1, i-1]`` for the output at time t and the input at step i; entries with
        i > t must be 0 (an output cannot depend on later inputs).
    init : dict or InitialModes, optional
        Initial ``a``, ``b``, ``c``: scalars (all modes) or one value per mode, complex allowed; ``a_imag``,
        ``b_imag``, ``c_imag`` add imaginary parts. Missing entries default to 0.1 (imaginary parts to 0).
    tau : float, optional
        Learning timescale, ``tau * d(theta)/dt = -grad``; 1 by default.
    name : str, optional
        Label used in plots and printed output.
    outputs : {"final", "every_step"}, optional
        Read out after the last step only (default, the paper's main text) or at every step (App. M).

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> task = Task.from_family("inverse_exponential", T=4, delta=1.0, lam=0.5)
    >>> task.singular_values
    array([[0.125, 0.25 , 0.5  , 1.   ]])
    >>> task.K, task.T
    (1, 4)
    """

    def __init__(self, singular_values, init=None, tau=1.0, name: str | None = None, spec: dict | None = None,
                 outputs: str = "final", input_covariance=None):
        if outputs not in OUTPUTS:
            raise bad("outputs", outputs, f"be one of {', '.join(OUTPUTS)}")
        self.outputs = outputs
        s = check_finite_array("singular_values", singular_values, allow_complex=True)
        if outputs == "every_step":
            s = _check_every_step(s)
        else:
            if s.ndim == 1:
                s = s[None, :]
            if s.ndim != 2:
                raise LrnnInputError(
                    f"parameter 'singular_values' must be a (K, T) array (modes x trajectory steps), got shape "
                    f"{s.shape}" + (" (a (K, T, T) array needs outputs='every_step')" if s.ndim == 3 else ""))
        self.singular_values = s
        self.tau = check_real("tau", tau, positive=True)
        if self.tau < np.finfo(float).tiny:  # 1/tau would overflow
            raise bad("tau", tau, f"be at least {np.finfo(float).tiny:.3g}")
        if init is None:
            init = {}
        if isinstance(init, InitialModes):
            self.init = InitialModes.build(self.K, init.a, init.b, init.c)
        elif isinstance(init, dict):
            unknown = set(init) - set(INIT_FIELDS)
            if unknown:
                key = sorted(unknown)[0]
                raise LrnnInputError(f"unknown field 'init.{key}' (allowed: {', '.join(INIT_FIELDS)})")
            self.init = InitialModes.build(self.K, **{k: v for k, v in init.items() if k in ("a", "b", "c")})
            imag = {k: init[f"{k}_imag"] for k in ("a", "b", "c") if f"{k}_imag" in init}
            if imag:
                parts = dict(imag)
                full = InitialModes.build(self.K, **parts, suffix="_imag")
                self.init = InitialModes(*(getattr(self.init, k) + 1j * getattr(full, k) if k in parts
                                           else getattr(self.init, k) for k in ("a", "b", "c")))
        else:
            raise bad("init", init, "be a mapping with keys a, b, c")
        # One dtype for the whole task: complex when any imaginary part is non-zero, real otherwise.
        values = [self.singular_values] + [getattr(self.init, k) for k in ("a", "b", "c")]
        rotational = any(np.any(np.imag(v) != 0) for v in values)
        dtype = complex if rotational else float
        self.singular_values = (self.singular_values if rotational else np.real(self.singular_values)).astype(dtype)
        self.init = (self.init if rotational else InitialModes(*(np.real(v) for v in values[1:]))).astype(dtype)
        self.name = name or (spec["family"] if spec else "custom")
        self.spec = dict(spec) if spec else None
        #: Covariance of the inputs across steps (``lrnn_theory.correlated.InputCovariance``); None: white inputs.
        self.input_covariance = (None if input_covariance is None else
                                 InputCovariance.build(input_covariance, self.K, self.T))

    # ---- shape --------------------------------------------------------------------------------------------------
    @property
    def K(self) -> int:
        """Number of connectivity modes."""
        return self.singular_values.shape[0]

    @property
    def T(self) -> int:
        """Trajectory length (number of input steps)."""
        return self.singular_values.shape[-1]

    @property
    def every_step(self) -> bool:
        """True when the network is read out at every step (App. M): singular values of shape (K, T, T)."""
        return self.outputs == "every_step"

    @property
    def output_steps(self) -> int:
        """Output steps read per sequence: T when the network is read out at every step, 1 for the final output."""
        return self.T if self.every_step else 1

    @property
    def is_complex(self) -> bool:
        """Rotational task: some singular value or initial mode has a non-zero imaginary part (App. N)."""
        return np.iscomplexobj(self.singular_values)

    @property
    def kind(self) -> str:
        """The kind of task, for messages: "real", "complex", "every-step" or "complex every-step", followed by
        " correlated" when the inputs are correlated across time (a non-white ``input_covariance``)."""
        if self.is_complex:
            kind = "complex every-step" if self.every_step else "complex"
        else:
            kind = "every-step" if self.every_step else "real"
        return kind + (" correlated" if self.correlated else "")

    @property
    def correlated(self) -> bool:
        """Inputs correlated across time: an ``input_covariance`` other than the identity."""
        cov = getattr(self, "input_covariance", None)
        return cov is not None and not cov.is_white

    def target_filter(self) -> np.ndarray:
        """The best linear filter w* of every mode, in the layout of ``singular_values``: what the LRNN's filter
        w_i = u b^(T-i) (every step: w_(t,i) = u b^(t-i)) must equal for zero loss.

        White inputs: the singular values themselves (the same array). Inputs correlated across time:
        w* = Lambda^+ sigma, and for every-step outputs w*_(t, i<=t) = Lambda_t^+ sigma_(t, i<=t) with Lambda_t the
        covariance of the inputs 1..t (``derivations.correlated``: E = (w - w*)^T Lambda (w - w*) / (2 tau) + const).
        With a singular Lambda this is the minimum-norm best filter (any w with Lambda (w - w*) = 0 is as good).

        Examples
        --------
        >>> task = Task([[0.5, 1.0]], input_covariance=[[1.0, 0.5], [0.5, 1.0]])   # sigma = Lambda (0, 1)
        >>> task.target_filter().round(12).tolist()
        [[0.0, 1.0]]
        """
        if not self.correlated:
            return self.singular_values
        lam = self.input_covariance.matrix
        s = self.singular_values
        if not self.every_step:
            return np.einsum("ij,kj->ki" if lam.ndim == 2 else "kij,kj->ki", np.linalg.pinv(lam, hermitian=True), s)
        w = np.zeros_like(s)
        for t in range(1, self.T + 1):  # output time t sees the inputs 1..t
            inv = np.linalg.pinv(lam[..., :t, :t], hermitian=True)
            w[:, t - 1, :t] = np.einsum("ij,kj->ki" if lam.ndim == 2 else "kij,kj->ki", inv, s[:, t - 1, :t])
        return w

    def sum_coefficients(self):
        """Coefficients of the task sums per power of b: how this task enters the engine.

        Returns ``(alpha, w)`` with ``A(b) = sum_k alpha[:, k] b^k`` (shape (K, T)) and ``B(b) = sum_k w[k] b^(2k)``
        (shape (T,)). For the final-output task, k = T - i: ``alpha[:, k] = s_(T-k)`` (the singular value of the step
        whose input reaches the output through b^k) and ``w[k] = 1``. For an every-step task, with the lag
        k = t - i: ``alpha[:, k] = sum_t s_(t,t-k)`` and ``w[k] = T - k`` (see ``sum_coefficients_of``). Complex tasks
        give complex ``alpha``: their sums are A(b) = sum_k alpha_k conj(b)^k and B(b) = sum_k w_k |b|^(2k)
        (``lrnn_theory.derivations.complex``).

        Examples
        --------
        >>> alpha, w = Task([[0.25, 0.5, 1.0]]).sum_coefficients()
        >>> alpha, w
        (array([[1.  , 0.5 , 0.25]]), array([1., 1., 1.]))
        >>> Task.constant(delta=1.0, T=3, outputs="every_step").sum_coefficients()
        (array([[3., 2., 1.]]), array([3., 2., 1.]))
        """
        return sum_coefficients_of(self.singular_values)

    def sums(self) -> TaskSums:
        """The task sums of this task (``lrnn_theory.task_sums.TaskSums``): the one way every result sees a task.

        Examples
        --------
        >>> sums = Task([[0.25, 0.5, 1.0]]).sums()
        >>> float(sums.optimal_u(np.array([0.5]))[0]), float(sums.norm[0])
        (1.0, 1.3125)
        """
        alpha, weights = self.sum_coefficients()
        cov = self.input_covariance
        if cov is not None and not cov.is_white:  # inputs correlated across time: a full gram matrix G
            return TaskSums(alpha, gram=gram(cov.matrix, self.every_step),
                            norm=explained_norm(self.singular_values, cov.matrix, self.every_step))
        with np.errstate(over="ignore"):  # an overflowing norm is refused by the results that use it
            norm = np.sum(np.abs(self.singular_values.reshape(self.K, -1)) ** 2, axis=1)
        return TaskSums(alpha, weights=weights, norm=norm)

    def __repr__(self) -> str:
        extra = ", outputs='every_step'" if self.every_step else ""
        return f"Task(name={self.name!r}, K={self.K}, T={self.T}, tau={self.tau}{extra})"

    def as_complex(self) -> "Task":
        """The same task stored as complex even when every imaginary part is 0: it then runs through the complex
        engine (Wirtinger flow, 6x6 blocks), which must reproduce the real one (a check of the engine)."""
        clone = Task(self.singular_values, init=self.init, tau=self.tau, name=self.name, spec=self.spec,
                     outputs=self.outputs, input_covariance=self.input_covariance)
        clone.singular_values = clone.singular_values.astype(complex)
        clone.init = clone.init.astype(complex)
        return clone

    def with_init(self, a=None, b=None, c=None) -> "Task":
        """Copy of the task with some initial mode strengths replaced."""
        init = {k: (getattr(self.init, k) if v is None else v) for k, v in (("a", a), ("b", b), ("c", c))}
        return Task(self.singular_values, init=init, tau=self.tau, name=self.name, spec=self.spec,
                    outputs=self.outputs, input_covariance=self.input_covariance)

    # ---- families ---------------------------------------------------------------------------------------------
    @classmethod
    def from_family(cls, family: str, T: int, delta=None, lam=None, kappa=None, beta=None, base: str | None = None,
                    delta_phase=None, lambda_phase=None, **task_options) -> "Task":
        """A task from one of the paper's families (Table A1, eqs. 10-11).

        Parameters
        ----------
        family : {"constant", "inverse_exponential", "exponential", "last_step", "dirac"}
            ``constant``: s_i = delta; ``inverse_exponential``: s_i = delta * lam**(T-i); ``exponential``:
            s_i = delta * lam**i; ``last_step``: the ``base`` family for i < T and s_T = kappa ("the last step breaks
            the pattern"); ``dirac``: s_1 = beta, s_T = kappa, all other steps 0.
        T : int
            Trajectory length (>= 1; >= 2 for ``dirac``).
        delta, lam, kappa, beta : float or sequence of float
            Family parameters (``delta`` defaults to 1). A sequence gives one mode per entry; scalars are shared by
            all modes. Giving a parameter that the family does not use is an error.
        base : str, optional
            Base family for ``last_step`` (default ``constant``).
        outputs : {"final", "every_step"}, optional (in ``task_options``)
            Every-step families (App. M) give ``s[:, t-1, i-1]`` for i <= t: ``constant`` delta,
            ``inverse_exponential`` delta * lam**(t-i) (by lag: the zero-loss family), ``exponential``
            delta * lam**i; ``last_step`` and ``dirac`` have no every-step form.
        delta_phase, lambda_phase : float or sequence of float, optional
            Phases in radians of a rotational task (App. O): delta and lambda are then radii (>= 0) and the complex
            parameters are delta * exp(i delta_phase), lambda * exp(i lambda_phase). A phase needs its radius.
        **task_options
            ``init``, ``tau``, ``name``, ``outputs``, ``input_covariance``: as for ``Task``.

        Examples
        --------
        >>> task = Task.from_family("inverse_exponential", T=3, delta=1.0, lam=0.5, lambda_phase=np.pi / 2)
        >>> np.round(task.singular_values, 6)
        array([[-0.25+0.j ,  0.  +0.5j,  1.  +0.j ]])
        """
        unknown = sorted(set(task_options) - set(TASK_OPTIONS))
        if unknown:
            raise TypeError(f"Task.from_family() got an unexpected keyword argument '{unknown[0]}'")
        outputs = task_options.get("outputs", "final")
        T, needed = _check_family(family, T, outputs, base)
        params = {"delta": delta, "lambda": lam, "kappa": kappa, "beta": beta}
        phases = {"delta_phase": delta_phase, "lambda_phase": lambda_phase}
        p, K = _family_parameters(family, T, needed, params, phases, base, outputs)
        s = _family_values(family, T, K, p, base, outputs)
        if not np.all(np.isfinite(s)):
            shown = ", ".join(f"{k}={params[k]}" for k in needed)
            raise LrnnInputError(f"family '{family}' with {shown} overflows at T={T}: singular values beyond "
                                 "floating point")
        spec = {"family": family, "T": T}
        for key in needed:
            spec[key] = np.asarray(params[key], dtype=float).tolist()
        spec.update({k: np.asarray(v, dtype=float).tolist() for k, v in phases.items() if v is not None})
        if family == "last_step":
            spec["base"] = base or "constant"
        if outputs == "every_step":
            spec["outputs"] = outputs
        options = dict(task_options, name=task_options.get("name") or family)
        return cls(s, spec=spec, **options)

    @classmethod
    def constant(cls, delta=1.0, T=6, **kw) -> "Task":
        return cls.from_family("constant", T=T, delta=delta, **kw)

    @classmethod
    def inverse_exponential(cls, delta=1.0, lam=0.7, T=6, **kw) -> "Task":
        return cls.from_family("inverse_exponential", T=T, delta=delta, lam=lam, **kw)

    @classmethod
    def exponential(cls, delta=1.0, lam=0.7, T=6, **kw) -> "Task":
        return cls.from_family("exponential", T=T, delta=delta, lam=lam, **kw)

    @classmethod
    def last_step(cls, delta=1.0, kappa=1.0, T=6, base="constant", lam=None, **kw) -> "Task":
        return cls.from_family("last_step", T=T, delta=delta, kappa=kappa, base=base, lam=lam, **kw)

    @classmethod
    def dirac(cls, beta=1.0, kappa=1.0, T=6, **kw) -> "Task":
        return cls.from_family("dirac", T=T, beta=beta, kappa=kappa, **kw)

    @classmethod
    def from_data(cls, X, Y, **kwargs) -> "Task":
        """The task of data ``X`` (P, T, N_x) and final targets ``Y`` (P, N_y), or targets at every step
        (P, T, N_y) for an every-step task: ``task_estimation.estimate_task``.

        Keyword arguments (``normalisation``, ``loss``, ``white``, ``tau``, ``init``, ``name``, ``seed``, ``bases``)
        are passed on. The task carries the input covariance of its modes across steps (``input_covariance``, in the
        scale of ``loss``; ``white=True`` leaves it out); the diagnostic (off-diagonal energies, input whiteness) is
        in ``task.estimate.diagnostic`` and ``task.estimate.verdict()`` says in one line whether the theory applies.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).standard_normal((200, 3, 2))
        >>> Task.from_data(X, X.sum(axis=1)).T
        3
        """
        from .task_estimation import estimate_task

        estimate = estimate_task(X, Y, **kwargs)
        estimate.task.estimate = estimate
        return estimate.task

    # ---- JSON ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict) -> "Task":
        """Build a task from the JSON schema documented in docs/user_guide/tasks.rst."""
        if not isinstance(data, dict):
            raise bad("task", data, "be a JSON object")
        common = {"init", "tau", "name", "outputs", "input_covariance"}
        if "singular_values" in data and "family" in data:
            raise LrnnInputError("a task gives either 'singular_values' or 'family', not both")
        if "singular_values" in data:
            allowed = common | {"singular_values", "singular_values_imag"}
        elif "family" in data:
            allowed = common | {"family", "T", "delta", "lambda", "kappa", "beta", "base"} | set(PHASES)
        else:
            raise LrnnInputError("a task needs a field 'singular_values' or 'family'")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise LrnnInputError(f"unknown field '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")
        nulls = sorted(k for k, v in data.items() if v is None)
        if nulls:
            raise LrnnInputError(f"field '{nulls[0]}' is null; give a value or leave the field out")
        init = data.get("init")
        if init is not None and not isinstance(init, dict):
            raise bad("init", init, "be an object with keys a, b, c (and a_imag, b_imag, c_imag)")
        tau = data.get("tau", 1.0)
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise bad("name", name, "be a string")
        outputs = data.get("outputs", "final")
        if outputs not in OUTPUTS:
            raise bad("outputs", outputs, f"be one of {', '.join(OUTPUTS)}")
        if "singular_values" in data:
            values = data["singular_values"]
            if "singular_values_imag" in data:
                real = check_finite_array("singular_values", values)
                imag = check_finite_array("singular_values_imag", data["singular_values_imag"])
                if imag.shape != real.shape:
                    raise LrnnInputError(f"field 'singular_values_imag' must have the shape {real.shape} of "
                                         f"'singular_values', got shape {imag.shape}")
                values = real + 1j * imag
            return cls(values, init=init, tau=tau, name=name, outputs=outputs,
                       input_covariance=data.get("input_covariance"))
        if "T" not in data:
            raise LrnnInputError(f"family '{data['family']}' needs field 'T'")
        return cls.from_family(data["family"], T=data["T"], delta=data.get("delta"), lam=data.get("lambda"),
                               kappa=data.get("kappa"), beta=data.get("beta"), base=data.get("base"),
                               init=init, tau=tau, name=name, delta_phase=data.get("delta_phase"),
                               input_covariance=data.get("input_covariance"),
                               lambda_phase=data.get("lambda_phase"), outputs=outputs)

    @classmethod
    def from_json(cls, path) -> "Task":
        """Read a task file (every field: docs/user_guide/tasks.rst) safely: ``lrnn_theory.taskfile.read_task_data``."""
        return cls.from_dict(read_task_data(path))

    def to_dict(self) -> dict:
        """JSON-ready description; family tasks keep their family parameters."""
        out = dict(self.spec) if self.spec else {"singular_values": np.real(self.singular_values).tolist()}
        if not self.spec and self.is_complex:
            out["singular_values_imag"] = np.imag(self.singular_values).tolist()
        if self.every_step:
            out["outputs"] = self.outputs
        if self.input_covariance is not None:
            out["input_covariance"] = self.input_covariance.to_json()
        out["init"] = self.init.as_dict()
        out["tau"] = self.tau
        out["name"] = self.name
        return out

    def to_json(self, path) -> None:
        _write_whole(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


#: Keyword options every way of building a task passes on to ``Task``.
TASK_OPTIONS = ("init", "tau", "name", "outputs", "input_covariance")

#: Parameters each family uses (``lambda`` for ``last_step`` only with a non-constant base).
FAMILY_PARAMETERS = {"constant": ("delta",), "inverse_exponential": ("delta", "lambda"),
                     "exponential": ("delta", "lambda"), "last_step": ("delta", "kappa"), "dirac": ("beta", "kappa")}


def _check_family(family, T, outputs, base) -> tuple:
    """The checked T and the parameters the family uses."""
    if family not in FAMILIES:
        raise bad("family", family, f"be one of {', '.join(FAMILIES)}")
    if outputs not in OUTPUTS:
        raise bad("outputs", outputs, f"be one of {', '.join(OUTPUTS)}")
    if outputs == "every_step" and family not in BASE_FAMILIES:
        raise LrnnInputError(f"family '{family}' has no every-step form (outputs='every_step' takes "
                             f"{', '.join(BASE_FAMILIES)})")
    T = check_int("T", T, minimum=1)
    if T > MAX_TASK_SIZE:
        raise bad("T", T, f"be at most {MAX_TASK_SIZE}")
    needed = FAMILY_PARAMETERS[family]
    if family == "last_step" and (base or "constant") != "constant":
        needed = needed + ("lambda",)
    return T, needed


def _family_parameters(family, T, needed, params, phases, base, outputs) -> tuple:
    """Checked family parameters, one value per mode (complex where a phase is given), and the number of modes."""
    for phase, radius in PHASES.items():
        if phases[phase] is not None and radius not in needed:
            raise LrnnInputError(f"parameter '{phase}' does not apply to family '{family}' "
                                 f"(it uses {', '.join(needed)})")
        if phases[phase] is not None and params[radius] is None:
            raise LrnnInputError(f"parameter '{phase}' needs the radius '{radius}' as well")
    if "delta" in needed and params["delta"] is None:
        params["delta"] = 1.0  # the default scale, filled in place so that the task's spec records it
    unused = [k for k, v in params.items() if v is not None and k not in needed]
    if unused:
        raise LrnnInputError(f"parameter '{unused[0]}' does not apply to family '{family}' "
                             f"(it uses {', '.join(needed)})")
    if base is not None and family != "last_step":
        raise LrnnInputError(f"parameter 'base' applies only to family 'last_step', not '{family}'")
    arrays = {}
    for key in needed:
        if params[key] is None:
            raise LrnnInputError(f"family '{family}' needs parameter '{key}'")
        arrays[key] = _flat_parameter(key, params[key])
    for phase, radius in PHASES.items():
        if phases[phase] is None:
            continue
        arrays[phase] = _flat_parameter(phase, phases[phase])
        if np.any(arrays[radius] < 0):
            raise bad(radius, params[radius], f"be a radius >= 0 when '{phase}' is given")
    sizes = {len(v) for v in arrays.values()} - {1}
    if sizes and max(sizes) * T > MAX_TASK_SIZE:
        raise LrnnInputError(f"a task of {max(sizes)} modes x T={T} steps exceeds {MAX_TASK_SIZE} singular values")
    if len(sizes) > 1:
        raise LrnnInputError(
            "family parameters given as lists must all have the same length (one per mode), got lengths "
            + ", ".join(f"{k}={len(v)}" for k, v in arrays.items()))
    K = sizes.pop() if sizes else 1
    if outputs == "every_step" and K * T * T > MAX_TASK_SIZE:
        raise LrnnInputError(f"an every-step task of {K} modes x T={T} x T={T} exceeds {MAX_TASK_SIZE} singular "
                             "values")
    p = {k: np.broadcast_to(v, (K,)).astype(float) for k, v in arrays.items()}
    for phase, radius in PHASES.items():
        if phase in p:
            p[radius] = p[radius] * np.exp(1j * p.pop(phase))
    return p, K


def _flat_parameter(name, value) -> np.ndarray:
    arr = check_finite_array(name, value)
    if arr.ndim > 1:
        raise bad(name, value, "be a number or a flat list of numbers (one per mode)")
    return np.atleast_1d(arr)


def _family_values(family, T, K, p, base, outputs) -> np.ndarray:
    """The singular values of a family from its per-mode parameters ``p``."""
    lam = p.get("lambda", np.ones(K))
    if outputs == "every_step":
        return p["delta"][:, None, None] * every_step_profile(family, T, lam)
    if family in BASE_FAMILIES:
        return p["delta"][:, None] * family_profile(family, T, lam)
    if family == "last_step":
        base = base or "constant"
        if base not in BASE_FAMILIES:
            raise bad("base", base, f"be one of {', '.join(BASE_FAMILIES)}")
        s = p["delta"][:, None] * family_profile(base, T, lam)
        s[:, -1] = p["kappa"]
        return s
    if T < 2:  # dirac
        raise bad("T", T, "be >= 2 for the 'dirac' family (s_1 = beta and s_T = kappa are distinct steps)")
    s = np.zeros((K, T))
    s[:, 0] = p["beta"]
    s[:, -1] = p["kappa"]
    return s


def _check_every_step(s: np.ndarray) -> np.ndarray:
    """Every-step singular values as (K, T, T), with the entries of later inputs (i > t) all 0."""
    if s.ndim == 2:
        s = s[None]
    if s.ndim != 3 or s.shape[1] != s.shape[2]:
        raise LrnnInputError(
            "parameter 'singular_values' must be a (K, T, T) array for every-step outputs (modes x output time t x "
            f"input step i), got shape {s.shape}")
    later = np.triu(np.ones(s.shape[1:], dtype=bool), k=1) & (s != 0)
    if np.any(later):
        k, t, i = (int(x[0]) for x in np.nonzero(later))
        raise LrnnInputError(
            f"parameter 'singular_values' must be 0 where the input step i comes after the output time t, got "
            f"s[{k}][{t}][{i}] = {s[k, t, i]:g} (mode {k}, output t={t + 1}, input i={i + 1})")
    return s


def _write_whole(path: Path, text: str) -> None:
    """Write a text file atomically: a reader sees the old file or the whole new one, never a partial one."""
    with atomic_write(path, "w") as fh:
        fh.write(text)


def coerce_task(task) -> Task:
    """Accept a Task, a dict in the JSON schema, or a path to a task file."""
    if isinstance(task, Task):
        return task
    if isinstance(task, dict):
        return Task.from_dict(task)
    if isinstance(task, (str, Path)):
        return Task.from_json(task)
    raise bad("task", task, "be a Task, a dict or a path to a task JSON file")


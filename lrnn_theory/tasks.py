"""Tasks: the temporal structure of the input-output correlations, mode by mode.

A task is the array of data singular values ``s[alpha, i-1]`` of ``K`` connectivity modes over the ``T`` trajectory
steps ``i = 1..T`` (column ``i-1`` is step ``i``; the last column is the final step, whose input reaches the output
with no recurrent factor), plus the initial mode strengths ``a`` (input), ``b`` (recurrent), ``c`` (output) and the
timescale ``tau`` (``tau * da/dt = ...``).

Room for later extensions is kept in the types: ``singular_values`` may become complex (rotational tasks, App. N of
the paper; ``Task.is_complex``, refused for now by the integrator) and may gain a leading output-time axis
(every-step outputs, App. M) without changing the (K, T) single-output case.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import LrnnInputError, bad, check_finite_array, check_int, check_real, describe

#: Initial value of every mode strength when a task does not say otherwise (a small, balanced initialisation).
DEFAULT_INIT = 0.1

FAMILIES = ("constant", "inverse_exponential", "exponential", "last_step", "dirac")
#: Largest number of singular values (K * T) a task may hold: 10^8 floats are 800 MB.
MAX_TASK_SIZE = 10**8
BASE_FAMILIES = ("constant", "inverse_exponential", "exponential")


def family_profile(family: str, T: int, lam=None) -> np.ndarray:
    """Temporal profile f(lambda, i) for steps i = 1..T of a base family (shape ``(K, T)`` or ``(T,)``)."""
    i = np.arange(1, T + 1, dtype=float)
    if family == "constant":
        return np.ones_like(i) if lam is None else np.ones((np.size(lam), T))
    lam = np.asarray(lam, dtype=float)[..., None]
    with np.errstate(over="ignore"):  # overflow is reported by the caller, naming the parameters
        if family == "inverse_exponential":
            return lam ** (T - i)
        if family == "exponential":
            return lam**i
    raise bad("family", family, f"be one of {', '.join(BASE_FAMILIES)}")


@dataclass(frozen=True)
class InitialModes:
    """Initial input (``a``), recurrent (``b``) and output (``c``) mode strengths, one value per mode."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray

    @classmethod
    def build(cls, K: int, a=DEFAULT_INIT, b=DEFAULT_INIT, c=DEFAULT_INIT) -> "InitialModes":
        values = {}
        for name, v in (("a", a), ("b", b), ("c", c)):
            arr = check_finite_array(f"init.{name}", v)
            if arr.ndim == 0:
                arr = np.full(K, float(arr))
            elif arr.shape != (K,):
                raise LrnnInputError(
                    f"parameter 'init.{name}' must be a scalar or a list of {K} values (one per mode), "
                    f"got {describe(v)}")
            values[name] = arr
        return cls(**values)

    def as_dict(self) -> dict:
        return {k: getattr(self, k).tolist() for k in ("a", "b", "c")}


class Task:
    """Singular-value profile of a task, with initial mode strengths and timescale.

    Parameters
    ----------
    singular_values : array_like, shape (K, T) or (T,)
        ``s[alpha, i-1]``: singular value of mode ``alpha`` at trajectory step ``i``. A 1-D array is one mode.
    init : dict or InitialModes, optional
        Initial ``a``, ``b``, ``c``: scalars (all modes) or one value per mode. Missing entries default to 0.1.
    tau : float, optional
        Learning timescale, ``tau * d(theta)/dt = -grad``; 1 by default.
    name : str, optional
        Label used in plots and printed output.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> task = Task.from_family("inverse_exponential", T=4, delta=1.0, lam=0.5)
    >>> task.singular_values
    array([[0.125, 0.25 , 0.5  , 1.   ]])
    >>> task.K, task.T
    (1, 4)
    """

    def __init__(self, singular_values, init=None, tau=1.0, name: str | None = None, spec: dict | None = None):
        s = check_finite_array("singular_values", singular_values)
        if s.ndim == 1:
            s = s[None, :]
        if s.ndim != 2:
            raise LrnnInputError(
                f"parameter 'singular_values' must be a (K, T) array (modes x trajectory steps), got shape {s.shape}")
        self.singular_values = s
        self.tau = check_real("tau", tau, positive=True)
        if self.tau < np.finfo(float).tiny:  # 1/tau would overflow
            raise bad("tau", tau, f"be at least {np.finfo(float).tiny:.3g}")
        if init is None:
            init = {}
        if isinstance(init, InitialModes):
            self.init = InitialModes.build(self.K, init.a, init.b, init.c)
        elif isinstance(init, dict):
            unknown = set(init) - {"a", "b", "c"}
            if unknown:
                key = sorted(unknown)[0]
                raise LrnnInputError(f"unknown field 'init.{key}' (allowed: a, b, c)")
            self.init = InitialModes.build(self.K, **init)
        else:
            raise bad("init", init, "be a mapping with keys a, b, c")
        self.name = name or (spec["family"] if spec else "custom")
        self.spec = dict(spec) if spec else None

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
    def is_complex(self) -> bool:
        return np.iscomplexobj(self.singular_values)

    def __repr__(self) -> str:
        return f"Task(name={self.name!r}, K={self.K}, T={self.T}, tau={self.tau})"

    def with_init(self, a=None, b=None, c=None) -> "Task":
        """Copy of the task with some initial mode strengths replaced."""
        init = {k: (getattr(self.init, k) if v is None else v) for k, v in (("a", a), ("b", b), ("c", c))}
        return Task(self.singular_values, init=init, tau=self.tau, name=self.name, spec=self.spec)

    # ---- families ---------------------------------------------------------------------------------------------
    @classmethod
    def from_family(cls, family: str, T: int, delta=None, lam=None, kappa=None, beta=None, base: str | None = None,
                    init=None, tau=1.0, name: str | None = None) -> "Task":
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
        """
        if family not in FAMILIES:
            raise bad("family", family, f"be one of {', '.join(FAMILIES)}")
        T = check_int("T", T, minimum=1)
        if T > MAX_TASK_SIZE:
            raise bad("T", T, f"be at most {MAX_TASK_SIZE}")
        params = {"delta": delta, "lambda": lam, "kappa": kappa, "beta": beta}
        needed = {
            "constant": ("delta",),
            "inverse_exponential": ("delta", "lambda"),
            "exponential": ("delta", "lambda"),
            "last_step": ("delta", "kappa") + (("lambda",) if (base or "constant") != "constant" else ()),
            "dirac": ("beta", "kappa"),
        }[family]
        if "delta" in needed and delta is None:
            params["delta"] = 1.0
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
            arr = check_finite_array(key, params[key])
            if arr.ndim > 1:
                raise bad(key, params[key], "be a number or a flat list of numbers (one per mode)")
            arrays[key] = np.atleast_1d(arr)
        sizes = {len(v) for v in arrays.values()} - {1}
        if sizes and max(sizes) * T > MAX_TASK_SIZE:
            raise LrnnInputError(f"a task of {max(sizes)} modes x T={T} steps exceeds {MAX_TASK_SIZE} singular values")
        if len(sizes) > 1:
            raise LrnnInputError(
                "family parameters given as lists must all have the same length (one per mode), got lengths "
                + ", ".join(f"{k}={len(v)}" for k, v in arrays.items()))
        K = sizes.pop() if sizes else 1
        p = {k: np.broadcast_to(v, (K,)).astype(float) for k, v in arrays.items()}

        if family in BASE_FAMILIES:
            s = p["delta"][:, None] * family_profile(family, T, p.get("lambda", np.ones(K)))
        elif family == "last_step":
            base = base or "constant"
            if base not in BASE_FAMILIES:
                raise bad("base", base, f"be one of {', '.join(BASE_FAMILIES)}")
            s = p["delta"][:, None] * family_profile(base, T, p.get("lambda", np.ones(K)))
            s[:, -1] = p["kappa"]
        else:  # dirac
            if T < 2:
                raise bad("T", T, "be >= 2 for the 'dirac' family (s_1 = beta and s_T = kappa are distinct steps)")
            s = np.zeros((K, T))
            s[:, 0] = p["beta"]
            s[:, -1] = p["kappa"]
        if not np.all(np.isfinite(s)):
            shown = ", ".join(f"{k}={params[k]}" for k in needed)
            raise LrnnInputError(f"family '{family}' with {shown} overflows at T={T}: singular values beyond "
                                 "floating point")
        spec = {"family": family, "T": T}
        for key in needed:
            spec[key] = np.asarray(params[key], dtype=float).tolist()
        if family == "last_step":
            spec["base"] = base
        return cls(s, init=init, tau=tau, name=name or family, spec=spec)

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

    # ---- JSON ---------------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict) -> "Task":
        """Build a task from the JSON schema documented in the README."""
        if not isinstance(data, dict):
            raise bad("task", data, "be a JSON object")
        common = {"init", "tau", "name"}
        if "singular_values" in data and "family" in data:
            raise LrnnInputError("a task gives either 'singular_values' or 'family', not both")
        if "singular_values" in data:
            allowed = common | {"singular_values"}
        elif "family" in data:
            allowed = common | {"family", "T", "delta", "lambda", "kappa", "beta", "base"}
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
            raise bad("init", init, "be an object with keys a, b, c")
        tau = data.get("tau", 1.0)
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise bad("name", name, "be a string")
        if "singular_values" in data:
            return cls(data["singular_values"], init=init, tau=tau, name=name)
        if "T" not in data:
            raise LrnnInputError(f"family '{data['family']}' needs field 'T'")
        return cls.from_family(data["family"], T=data["T"], delta=data.get("delta"), lam=data.get("lambda"),
                               kappa=data.get("kappa"), beta=data.get("beta"), base=data.get("base"),
                               init=init, tau=tau, name=name)

    @classmethod
    def from_json(cls, path) -> "Task":
        """Read a task file (see the README for the schema) safely: ``lrnn_theory.taskfile.read_task_data``."""
        from .taskfile import read_task_data

        return cls.from_dict(read_task_data(path))

    def to_dict(self) -> dict:
        """JSON-ready description; family tasks keep their family parameters."""
        out = dict(self.spec) if self.spec else {"singular_values": self.singular_values.tolist()}
        out["init"] = self.init.as_dict()
        out["tau"] = self.tau
        out["name"] = self.name
        return out

    def to_json(self, path) -> None:
        _write_whole(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


def _write_whole(path: Path, text: str) -> None:
    """Write a text file atomically: a reader sees the old file or the whole new one, never a partial one."""
    from .io import atomic_write

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


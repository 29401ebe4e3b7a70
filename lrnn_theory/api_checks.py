"""One input check for every public function of ``lrnn_theory``: each argument a caller passes is checked against
its kind (``PUBLIC_ARGUMENTS``) before the function runs, so that NaN, strings, wrong shapes, negative sizes and
masked arrays raise ``LrnnInputError`` naming the caller's own parameter, in one line.

``lrnn_theory.__getattr__`` hands out the functions wrapped by ``guarded``; inside the package the functions are
called unwrapped (no double checks on hot paths). A class stays itself (isinstance, subclassing): its ``__init__`` is
wrapped in place.
Arguments left at their defaults are not checked. Whatever a function still raises that is not the package's own
error (a numpy ``TypeError`` deep inside, say) becomes an ``LrnnInputError`` naming the arguments passed.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from .errors import LrnnError, LrnnInputError, bad, check_finite_array, check_int, check_real
from .stability import as_task
from .tasks import Task

#: Largest size or count accepted (an exactly representable float): 2**70 samples or points is a typo, not a plan.
MAX_SIZE = 2**53

#: Kind of each checked argument of each public function. Kinds: task, tasks, trajectory, array (any number of
#: dimensions), array<=N (at most N dimensions), real, positive, nonnegative, fraction (0 < f < 1), size (int >= 1),
#: index and seed (int >= 0), text.
PUBLIC_ARGUMENTS = {
    "estimate_task": {"X": "array<=3", "Y": "array<=3", "tau": "positive"},
    "integrate": {"task": "task", "t_end": "positive", "n_points": "size", "t_eval": "array<=1", "rtol": "positive",
                  "atol": "positive", "converged_tol": "positive", "divergence_threshold": "positive",
                  "t_max": "positive"},
    "compile_flow": {"task": "task"},
    "mode_energy": {"singular_values": "array<=3", "a": "array<=2", "b": "array<=2", "c": "array<=2",
                    "tau": "positive"},
    "vary_task": {"task": "task", "field": "text"},
    "derive_mode_flow": {"task": "task", "mode": "index"},
    "solve_task": {"task": "task", "b_max": "positive", "rtol": "positive", "n_grid": "size", "n_grid_disc": "size",
                   "rounds": "index"},
    "zero_loss_solution": {"s": "task", "rtol": "positive"},
    "flow_endpoints": {"task": "task", "check_time": "positive", "b_span": "positive", "rtol": "positive",
                       "atol": "positive", "margin": "positive"},
    "predict_learning_order": {"tasks": "tasks", "fraction": "fraction", "small_init": "positive",
                               "drift_tolerance": "positive", "max_time": "positive", "n_points": "size"},
    "time_to_fraction": {"t": "array<=1", "u": "array<=2", "fraction": "fraction", "final": "array<=1"},
    "family_extrapolation": {"family": "text", "T": "size", "T_test": "array<=1", "delta": "real", "lam": "real",
                             "tau": "positive", "outputs": "text"},
    "energy_split": {"singular_values": "array<=3", "a": "array<=2", "b": "array<=2", "c": "array<=2",
                     "tau": "positive"},
    "critical_beta": {"T": "size", "b_max": "positive", "tol": "positive", "n_grid": "size"},
    "phase_curve": {"T": "size", "betas": "array<=1", "b_max": "positive", "n_grid": "size"},
    "frozen_b_solution": {"task": "task", "t": "array<=1", "b": "array<=1"},
    "compile_modified_flow": {"task": "task", "lr_correction": "positive"},
    "stable_lr_bound": {"task": "task", "loss": "text", "n_samples": "size"},
    "empirical_ntk": {"W_x": "array<=2", "W_h": "array<=2", "W_y": "array<=2", "X": "array<=3", "outputs": "text"},
    "mode_ntk": {"a": "array<=1", "b": "array<=1", "c": "array<=1", "X": "array<=3", "V": "array<=2",
                 "U": "array<=2", "outputs": "text"},
    "kernel_distance": {"K0": "array<=3", "K1": "array<=3"},
    "predicted_distance_curve": {"trajectory": "trajectory", "X": "array<=3", "V": "array<=2", "U": "array<=2",
                                 "outputs": "text"},
    "whitened_probe_inputs": {"T": "size", "N_x": "size"},
    "kernel_inputs": {"kind": "text:probes|samples", "T": "size", "N_x": "size", "n_samples": "size", "seed": "seed",
                      "V": "array<=2"},
    "polar_time_scales": {"trajectory": "trajectory", "fraction": "fraction"},
    "sensory_trials": {"P": "size", "T": "size", "seed": "seed", "cut": "text", "dt": "positive",
                       "sigma": "positive", "cohs": "array<=1"},
    "sensory_targets": {"X": "array<=3", "target": "text"},
    "expected_extrapolation_loss": {"target": "text", "T": "size", "T_test": "array<=1"},
    "train_lrnn": {"task": "task", "lr": "positive", "steps": "size", "hidden": "size", "seed": "seed"},
    "simulate": {"task": "task", "lr": "positive", "steps": "size", "hidden": "size", "seed": "seed"},
    "set_up": {"task": "task", "hidden": "size", "seed": "seed"},
    "check_claim": {"name": "text"},
    "reproduce_all": {"jobs": "size", "figures": "texts"},
    "sweep": {"tasks": "tasks"},
    # classes: their __init__ is checked the same way
    "Task": {"tau": "positive", "name": "text", "outputs": "text"},
    "DiscreteGD": {"lr": "positive", "loss": "text", "n_samples": "size", "backend": "text"},
    "PopulationData": {"n_samples": "size"},
    "SampleData": {"n_samples": "size"},
    "UserData": {"X": "array<=3", "Y": "array<=3"},
    "LRNN": {"W_x": "array<=2", "W_h": "array<=2", "W_y": "array<=2"},
    "AlignedInit": {"scale": "nonnegative"},
    "RandomInit": {"scale": "scale"},
    "Recording": {"every": "size", "singular_values": "text"},
    "NTKRecording": {"inputs": "array<=3", "outputs": "text:final|every_step"},
    "TaskGrid": {"family": "text", "T": "size", "tau": "positive", "outputs": "text"},
    "IntegrationOptions": {"t_end": "positive", "rtol": "positive", "atol": "positive", "converged_tol": "positive",
                           "endpoint": "text"},
    "ExecutionOptions": {"chunk_size": "size", "memory_budget": "positive"},
}


def check_argument(name: str, value, kind: str):
    """Raise ``LrnnInputError`` naming ``name`` unless ``value`` is of ``kind`` (see ``PUBLIC_ARGUMENTS``)."""
    if kind == "task":
        _check_task(name, value)
    elif kind == "tasks":  # a list of tasks, one task, or a TaskGrid (which checks itself)
        if isinstance(value, (list, tuple)):
            for item in value:
                _check_task(name, item)
        elif isinstance(value, (str, dict, np.ndarray)):
            _check_task(name, value)
    elif kind == "trajectory":
        if not all(hasattr(value, attr) for attr in ("t", "a", "b", "c")):
            raise bad(name, value, "be a Trajectory (from integrate, or train_lrnn(...).trajectory)")
    elif kind.startswith("array"):
        if type(value) is np.ndarray and value.dtype.kind in "iufc" and value.size:  # no copy of large data
            if not np.isfinite(value).all():
                raise bad(name, value, "hold only finite values (no NaN or inf)")
            arr = value
        else:
            arr = check_finite_array(name, value, allow_complex=True)
        if "<=" in kind and arr.ndim > int(kind.split("<=")[1]):
            raise LrnnInputError(f"parameter '{name}' must have at most {kind.split('<=')[1]} dimension(s), got an "
                                 f"array of shape {arr.shape}")
    elif kind in ("real", "positive", "nonnegative"):
        check_real(name, value, positive=kind == "positive", nonnegative=kind == "nonnegative")
    elif kind == "fraction":
        if not 0 < check_real(name, value) < 1:
            raise bad(name, value, "be between 0 and 1 (exclusive)")
    elif kind in ("size", "index", "seed"):
        number = check_int(name, value, minimum=1 if kind == "size" else 0)
        if number > MAX_SIZE:
            raise bad(name, value, "be <= 2**53")
    elif kind == "texts":
        items = [value] if isinstance(value, str) else value
        if not hasattr(items, "__iter__") or not all(isinstance(item, str) for item in items):
            raise bad(name, value, "be a list of names")
    elif kind.startswith("text"):
        if not isinstance(value, str):
            raise bad(name, value, "be a string")
        choices = kind.partition(":")[2].split("|") if ":" in kind else None
        if choices and value not in choices:
            raise bad(name, value, f"be one of {', '.join(choices)}")
    elif kind == "scale":  # a number >= 0, or a dict of them per matrix
        for item in (value.values() if isinstance(value, dict) else [value]):
            check_real(name, item, nonnegative=True)


def _check_task(name, value):
    if isinstance(value, Task):
        return
    try:
        as_task(value)
    except LrnnInputError as exc:
        text = str(exc)
        raise LrnnInputError(text if f"'{name}'" in text else f"parameter '{name}': {text}") from None


#: The option names under which ``train_lrnn`` passes a class's arguments, named too in a class's refusal.
HARNESS_NAMES = {
    "AlignedInit": {"scale": "init_scale"},
    "RandomInit": {"scale": "init_scale"},
    "Recording": {"every": "record_every"},
    "NTKRecording": {"steps": "ntk_steps", "inputs": "ntk_inputs", "outputs": "ntk_outputs"},
}


def guarded(name: str, function):
    """``function`` with its arguments checked by kind first (``PUBLIC_ARGUMENTS[name]``) and any foreign error it
    still raises turned into a one-line ``LrnnInputError``; classes and unlisted names come back as they are."""
    if not callable(function) or name not in PUBLIC_ARGUMENTS:
        return function
    kinds = PUBLIC_ARGUMENTS[name]
    if inspect.isclass(function):  # keep the class (isinstance, subclassing): check in its __init__ instead
        if not getattr(function.__init__, "_arguments_checked", False):
            function.__init__ = guarded(name, function.__init__)
            function.__init__._arguments_checked = True
        return function
    signature = inspect.signature(function)

    @functools.wraps(function)
    def checked(*args, **kwargs):
        try:
            passed = dict(signature.bind(*args, **kwargs).arguments)
        except TypeError as exc:  # a missing or unknown argument
            raise LrnnInputError(f"{name}(): {exc}") from None
        for parameter in signature.parameters.values():  # keyword shorthands (**kwargs) are checked by name too
            if parameter.kind is parameter.VAR_KEYWORD:
                passed.update(passed.pop(parameter.name, {}))
        passed.pop("self", None)
        for parameter, value in passed.items():
            if parameter in kinds and value is not None:
                try:
                    check_argument(parameter, value, kinds[parameter])
                except LrnnInputError as exc:  # the harness builds these classes from its own option names
                    alias = HARNESS_NAMES.get(name, {}).get(parameter)
                    if alias is None:
                        raise
                    raise LrnnInputError(str(exc).replace(f"'{parameter}'", f"'{parameter}' (train_lrnn's "
                                                                            f"'{alias}')", 1)) from None
        try:
            return function(*args, **kwargs)
        except LrnnError:
            raise
        except KeyError as exc:  # a name looked up in a table: say which argument held it
            culprits = [p for p, v in passed.items() if isinstance(v, (str, int, float)) and exc.args[:1] == (v,)]
            if len(culprits) == 1:
                raise bad(culprits[0], passed[culprits[0]], "be one of the known names") from None
            raise LrnnInputError(f"parameters {', '.join(repr(p) for p in passed)} of {name}(): no entry "
                                 f"{exc.args[0]!r}") from None
        except (TypeError, ValueError, IndexError, AttributeError, OverflowError, FloatingPointError,
                ZeroDivisionError) as exc:
            names = ", ".join(f"'{p}'" for p in passed) or "(none)"
            text = " ".join(str(exc).split())[:300]
            # chained (not "from None"): if this is a bug of ours rather than of the arguments, its traceback stays
            raise LrnnInputError(f"parameters {names} of {name}() cannot be used together: "
                                 f"{type(exc).__name__}: {text}") from exc

    checked.__wrapped__ = function
    return checked

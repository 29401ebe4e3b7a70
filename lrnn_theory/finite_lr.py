"""Finite learning rates: the exact gradient-descent map of the modes, the modified flow, the largest stable rate.

Numeric side of ``lrnn_theory.derivations.finite_lr``. Every result works on every kind of task (real, complex,
every-step, complex every-step; white inputs or inputs correlated across time) through the compiled flow and the task
sums: the discrete map is an Euler step of the flow's rates and the stable bound comes from its Jacobian, so a
correlated task's gram matrix enters both with nothing else to change (tests/test_engine_matrix.py checks them against
explicit gradient-descent loops and finite-difference Hessians of the correlated loss, at zero-loss solutions and at
minimisers with non-zero loss).

* ``DiscreteGD(lr=, loss=)``: the per-mode map theta <- theta - lr * scale * dL/dtheta that full-matrix gradient
  descent performs on an aligned network (``lrnn simulate --init aligned``; the real block network of a complex
  task), vectorized over modes: one explicit Euler step h * (flow rate) per step. Pass it as
  ``integrate(task, t_end, method=DiscreteGD(...))``; it costs K modes per step instead of the N_h^2 weights (one
  step: the generated step of ``lrnn_theory.flow_field.GradientStep``, a fixed number of numpy calls: 11 to 15 for
  real modes, ~10 us at K = 32, T = 20; with the ``fast`` extra long runs go through the same map compiled by numba,
  ``lrnn_theory.native``, ~2 us a step).
* ``compile_modified_flow(task, lr_correction)``: the flow of E + (h/4) ||grad E||^2 (h = lr * tau * scale, the theory
  time of one step; the gradient over the real coordinates, 4 |dE/d(conj z)|^2 per complex strength), a
  ``CompiledFlow`` like the plain one (rates, Jacobian blocks, energy), so any solver integrates it:
  ``integrate(task, t_end, lr_correction=lr)``. Gradient descent stays O(h^2) from it instead of O(h).
* ``stable_lr_bound(task)``: 2 / lambda_max of the per-mode Hessian (``mode_hessian``: tau times minus the flow's
  Jacobian blocks, 3x3 or 6x6) at the solution of ``solve_task``, per mode.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from . import native, resources
from .block_form import mode_block_sizes
from .errors import DivergenceError, LrnnInputError, bad, check_int, check_real
from .flow_field import CompiledFlow, compile_flow, output_times
from .losses import LOSSES, loss_scale
from .stability import solve_task
from .tasks import coerce_task
from .trajectory import Trajectory


#: Who runs the steps of ``DiscreteGD``: "auto" picks one of the others.
BACKENDS = ("auto", "numpy", "numba")


@dataclass(frozen=True)
class DiscreteGD:
    """Exact gradient descent on the modes of an aligned network, as an integration strategy.

    Parameters
    ----------
    lr : float
        Learning rate of gradient descent on the loss convention ``loss``.
    loss : {"sum_half", "sum", "mean_half", "mean"}
        Loss convention of the harness (``lrnn simulate --loss``); one step advances theory time by
        ``lr * tau * scale``.
    n_samples : int, optional
        P in the mean conventions (default ``T * N_y``, the harness's default for task data: N_y = K real units,
        two per complex mode).
    backend : {"auto", "numpy", "numba"}
        Who runs the steps: the numpy ``GradientStep``, or the same map compiled with numba
        (``lrnn_theory.native``, the ``fast`` extra; K = 32, T = 20: ~2 us a step instead of ~9 us). ``"auto"`` takes
        numba when it can be imported, K is at most ``NATIVE_MODES`` and the run is long enough to repay loading
        the compiled map (the two estimates of ``resources.discrete_estimate``, the load of 0.6 s included, not the
        ~2.5 s of its first compile on a machine: from ~80,000 steps at K T = 640, ~100,000 at K T = 2); if the
        compiled map cannot be built it warns and runs numpy. The two agree to rounding (in a chaotic run, e.g.
        near the stable bound, rounding decides where it goes, as it does between numpy's two tables of powers).
        ``info["backend"]`` says which ran.

    Examples
    --------
    >>> from lrnn_theory import Task, integrate
    >>> from lrnn_theory.finite_lr import DiscreteGD
    >>> traj = integrate(Task.inverse_exponential(delta=1.0, lam=0.5, T=4), 50.0, method=DiscreteGD(lr=0.05))
    >>> traj.info["steps"], round(float(traj.b[-1, 0]), 4), round(float(traj.u[-1, 0]), 4)
    (1000, 0.5, 1.0)
    """

    lr: float
    loss: str = "sum_half"
    n_samples: int | None = None
    backend: str = "auto"
    name = "DiscreteGD"
    #: Steps between two divergence checks of ``run`` (a failed check replays them one by one).
    CHECK_EVERY = 256
    #: ``backend="auto"`` takes the compiled map up to this many modes: beyond, numpy's task sums are shared matrix
    #: products (``SumsProgram.BATCHED_MODES``) as fast as the compiled loop (K = 1,000, T = 20: 62 us a step
    #: compiled, 54 us numpy; K = 300, T = 6: 6.6 against 39 us; K = 10, T = 1,000: 79 against 162 us).
    NATIVE_MODES = 512

    def __post_init__(self):
        check_real("lr", self.lr, positive=True)
        if self.loss not in LOSSES:
            raise bad("loss", self.loss, f"be one of {', '.join(LOSSES)}")
        if self.n_samples is not None:
            check_int("n_samples", self.n_samples, minimum=1)
        if self.backend not in BACKENDS:
            raise bad("backend", self.backend, f"be one of {', '.join(BACKENDS)}")
        if self.backend == "numba" and not native.available():
            raise LrnnInputError(f"parameter 'backend' is 'numba' but numba cannot be imported "
                                 f"({native.import_problem()}): pip install 'lrnn-theory[fast]', or backend='auto'")

    def scale(self, task) -> float:
        """``scale`` of the loss convention for this task (N_y = real units, P = n_samples or T N_y).

        The real units are those of the harness's network: one per real mode, two per complex mode (its 2x2 block,
        ``lrnn_theory.block_form.mode_block_sizes``), so N_y = K for a real task."""
        task = coerce_task(task)
        units = int(np.sum(mode_block_sizes(task)))
        P = self.n_samples if self.n_samples is not None else task.T * units
        # Outputs per sequence: the axes between mode and input step of the profile, (K, T) -> 1, (K, T, T) -> T.
        outputs = int(np.prod(task.singular_values.shape[1:-1]))
        return loss_scale(self.loss, P, units, outputs)

    def time_step(self, task) -> float:
        """Theory time of one step, h = lr * tau * scale."""
        task = coerce_task(task)
        return self.lr * task.tau * self.scale(task)

    def run(self, task, t_end: float, *, n_points: int = 201, t_eval=None,
            divergence_threshold: float = 1e8) -> Trajectory:
        """Take round(t_end / h) steps; record the steps nearest the output times (their exact times in ``t``).

        One step of gradient descent on the real coordinates of the modes, theta <- theta - lr * scale * dL/dtheta
        with L = tau E, is theta + h * (the flow's rate): one explicit Euler step of the compiled flow, for every kind
        of task (a complex mode's real and imaginary parts move as z <- z - 2 h dE/d(conj z), the Wirtinger rate).

        The steps run in ``GradientStep`` (``CompiledFlow.gradient_step``): the same increments h * rate to rounding
        (tests/test_discrete_map.py), from a generated function and coefficient tables with h / tau folded in, 2.3x
        faster than evaluating the flow's rates at every step (``python benchmarks/bench_speed.py``, section (e)).

        Raises ``DivergenceError`` (step, time, mode and the stable bound of that mode) when a state stops being
        finite or |a|, |c| or |b|^(T-1) of a mode exceeds ``divergence_threshold``: the first such step, as a check
        of every step would find (the stepper keeps the extremes of every coordinate; a stop that finds them beyond
        the cheap bound replays its steps one by one from the last stop).
        """
        task = coerce_task(task)
        t_end, t_eval = output_times(t_end, n_points, t_eval, task.tau)  # the limit is in units of the task's tau
        threshold = check_real("divergence_threshold", divergence_threshold, positive=True)
        resources.check_scale(task)
        h = self.time_step(task)
        if not h <= t_end:  # round(t_end / h) = 0 steps: only t = 0 would be written
            raise bad("lr", self.lr, f"give steps shorter than t_end: one step is h = lr * tau * scale = {h:.4g} "
                                     f"> t_end = {t_end:g} ({self.loss}); lower the learning rate or raise t_end")
        backend = self.backend_for(task, t_end / h)
        resources.guard(resources.discrete_estimate(task.K, task.T, t_end / h, min(t_eval.size, t_end / h + 1),
                                                    compiled=backend == "numba"), "gradient descent (the exact map)")
        record = np.unique(np.rint(t_eval / h).astype(np.int64))
        steps = int(record[-1])
        flow = compile_flow(task)
        m = flow.block_size
        stepper, backend = self._stepper(flow, h, backend)
        stepper.set_rows(flow.initial_state().reshape(task.K, m).T)  # rows (m, K): one per real coordinate
        out = np.empty((record.size, task.K, m))
        gain_power = max(task.T - 1, 0)

        def beyond(state) -> bool:
            """|a|, |c| or |b|^(T-1) of some mode beyond the threshold, or not finite (one or two real coordinates
            per strength)."""
            size = np.sqrt(np.sum((state * state).reshape(3, m // 3, task.K), axis=1))
            return not (size[0::2].max() <= threshold and (size[1] ** gain_power).max() <= threshold)

        # A cheaper test first, passed at most steps: every coordinate within its strength's limit over sqrt(2)
        # (a strength has one or two real coordinates) keeps every mode within the threshold (NaN fails it).
        with np.errstate(divide="ignore"):
            b_limit = threshold ** (1.0 / gain_power) if gain_power else np.inf
        safe = np.array([threshold, b_limit, threshold])[:, None] / np.sqrt(2.0)

        def diverged(rows) -> bool:
            return not (np.abs(rows) <= np.repeat(safe, m // 3, axis=0)).all() and beyond(rows)

        # The cheaper test runs on the extremes of every coordinate over the steps since the last stop (a record or
        # every CHECK_EVERY steps), which the stepper keeps: when they fail it, the steps are replayed one by one
        # from the state at the last stop with the full check, so that the error names the first step beyond the
        # threshold, as a check of every step would.
        stops = np.union1d(record, np.arange(0, steps + 1, self.CHECK_EVERY))
        rec, done = 0, 0
        checkpoint = stepper.state.copy()
        bar = tqdm(total=steps, delay=2.0, unit="step", desc="gradient descent", leave=False, mininterval=0.5,
                   disable=not sys.stderr.isatty())
        with bar, np.errstate(over="ignore", invalid="ignore"):
            if diverged(stepper.rows()):
                self._diverged(task, 0, h, flow, stepper.rows(), threshold)
            for stop in stops.tolist():
                stepper.reset_extremes()
                stepper.advance(stop - done)
                bar.update(stop - done)
                if not ((stepper.highest <= safe).all() and (stepper.lowest >= -safe).all()):
                    stepper.state[...] = checkpoint  # the state at step ``done``, which passed its check
                    for n in range(done + 1, stop + 1):
                        stepper.advance(1)
                        if diverged(stepper.rows()):
                            self._diverged(task, n, h, flow, stepper.rows(), threshold)
                done = stop
                checkpoint[...] = stepper.state
                if stop == record[rec]:
                    out[rec] = stepper.rows().T
                    rec += 1
        a, b, c = flow.modes(out.reshape(record.size, -1))
        return Trajectory(t=record * h, a=a, b=b, c=c, energy=flow.energy(out.reshape(record.size, -1)),
                          info={"method": self.name, "lr": self.lr, "loss": self.loss, "dt_per_step": h,
                                "steps": steps, "t_final": float(record[-1] * h), "source": "discrete map",
                                "backend": backend, "status": 0})

    def backend_for(self, task, steps: float) -> str:
        """The backend that runs ``steps`` steps on ``task`` ("numpy" or "numba"; ``backend``): "auto" takes numba
        when it can be imported, K is at most ``NATIVE_MODES`` and the compiled map's estimate, its load included,
        is below the numpy map's."""
        if self.backend != "auto":
            return self.backend
        numpy_seconds, compiled_seconds = (resources.discrete_estimate(task.K, task.T, steps, 0, compiled).seconds
                                           for compiled in (False, True))
        wanted = task.K <= self.NATIVE_MODES and compiled_seconds < numpy_seconds
        return "numba" if wanted and native.available() else "numpy"

    def _stepper(self, flow, h: float, backend: str):
        """(the stepper of ``backend``, the backend that runs); under "auto" a compiled map that cannot be built
        (numba refuses it, no cache directory takes it) gives way to the numpy one, with a warning."""
        if backend == "numpy":
            return flow.gradient_step(h), "numpy"
        if self.backend == "numba":
            return native.NativeGradientStep(flow, h), "numba"
        try:
            return native.NativeGradientStep(flow, h), "numba"
        except Exception as error:  # noqa: BLE001 - an optional accelerator must not stop the run
            warnings.warn(f"the compiled map could not be built ({type(error).__name__}: {error}); running the "
                          f"numpy map", RuntimeWarning, stacklevel=3)
            return flow.gradient_step(h), "numpy"

    def _diverged(self, task, step, h, flow, rows, threshold):
        a, b, c = flow.modes(rows.T.ravel())
        with np.errstate(over="ignore", invalid="ignore"):
            gains = np.column_stack([np.abs(a), np.abs(b) ** max(task.T - 1, 0), np.abs(c)])
        bad_mode = ~np.all(np.isfinite(gains) & (gains <= threshold), axis=1)
        mode = int(np.argmax(bad_mode))
        bound = stable_lr_bound(task, loss=self.loss, n_samples=self.n_samples)["lr_max"][mode]
        advice = (f"; the largest stable lr of this mode at its solution is {bound:.4g}"
                  if np.isfinite(bound) else "")
        raise DivergenceError(
            f"gradient descent diverged at step {step} (t={step * h:.6g}) with lr={self.lr:g} ({self.loss}): mode "
            f"{mode} has |a|, |c| or |b|^(T-1) beyond {threshold:g} or not finite (a={a[mode]:.4g}, b={b[mode]:.4g}, "
            f"c={c[mode]:.4g}){advice}", time=float(step * h), mode=mode)


# ---- the modified flow -------------------------------------------------------------------------------------------
class ModifiedFlow(CompiledFlow):
    """The flow of E + (h/4) ||grad E||^2 for one task: same interface as ``CompiledFlow``.

    ``energy`` stays the plain per-mode energy E (the loss of the state, as in every trajectory file);
    ``modified_energy`` gives E + (h/4) ||grad E||^2. Complex tasks take the gradient in the real coordinates
    (Re z, Im z) of their modes, ||grad E||^2 = sum_z 4 |dE/d(conj z)|^2 (``derive_complex_modified_flow``), and run
    through the complex flow's Wirtinger rates and 6x6 blocks: the same mode layout as the plain flow, with the
    modified flow's compiled functions (``lrnn_theory.compiled.flow_functions("modified", ...)``, third derivatives
    of the task sums) and the parameters (tau, h).

    Attributes
    ----------
    step : float
        h, the theory time of one gradient step.
    """

    FLOW = "modified"
    #: The generated programs are the gradient flow's: the modified flow's rates come from its compiled functions.
    ROW_PROGRAMS = False

    def __init__(self, task, step: float):
        self.step = check_real("lr_correction", step, positive=True)
        super().__init__(task)

    def parameters(self) -> tuple:
        """(tau, h)."""
        return (self.tau, self.step)

    def modified_energy(self, y) -> np.ndarray:
        """Per-mode E + (h/4) ||grad E||^2 for a flat state (m K,)."""
        y = np.asarray(y, dtype=float)
        return self.energy(y) + self.layout.energy_correction(y, self.sums)


def correction_step(task, lr_correction) -> float:
    """h for ``lr_correction``: a learning rate on ``sum_half`` (h = lr * tau) or a ``DiscreteGD`` (its time step)."""
    task = coerce_task(task)
    if isinstance(lr_correction, DiscreteGD):
        return lr_correction.time_step(task)
    return check_real("lr_correction", lr_correction, positive=True) * task.tau


def compile_modified_flow(task, lr_correction) -> ModifiedFlow:
    """Compile the modified flow that gradient descent with this learning rate follows to O(h^2).

    Parameters
    ----------
    task : Task, dict or path
    lr_correction : float or DiscreteGD
        Learning rate on the theory's loss ``sum_half`` (h = lr * tau), or a ``DiscreteGD`` with the learning rate
        and loss convention.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> from lrnn_theory.flow import compile_flow
    >>> task = Task.constant(delta=1.0, T=3)
    >>> plain, modified = compile_flow(task), compile_modified_flow(task, 0.1)
    >>> y = plain.initial_state()
    >>> bool(abs(modified.rates(0, y) - plain.rates(0, y)).max() < 0.1 * abs(plain.rates(0, y)).max())
    True
    """
    task = coerce_task(task)
    return ModifiedFlow(task, correction_step(task, lr_correction))


# ---- stability ---------------------------------------------------------------------------------------------------
def stable_lr_bound(task, loss: str = "sum_half", n_samples: int | None = None, balance=None) -> dict:
    """Largest stable learning rate per mode at its solution: 2 / (scale * lambda_max).

    lambda_max is the largest eigenvalue of the per-mode Hessian of L = tau E in the real coordinates of the mode
    ((a, b, c), or the real and imaginary parts of complex modes), which is tau times the largest eigenvalue of
    minus the flow's Jacobian there (``mode_hessian``): one code path for every kind of task. The point is the
    solution of ``solve_task`` (b*, u*; zero loss where the profile allows it, else the minimiser of the reduced
    energy) with |a|^2 + |c|^2 = s = sqrt(D^2 + 4 |u*|^2), where D = |a|^2 - |c|^2 is the balance (from the task's
    init by default; the flow conserves it and gradient descent keeps D = 0 exactly, otherwise shrinks it by
    O(lr^2) per step). The phases of a and c do not change the eigenvalues (a -> a e^(i phi), c -> c e^(-i phi)
    is a rotation of the real coordinates that keeps E), so a carries the phase of u*. For real zero-loss
    solutions of white tasks this is the closed form of ``derivations.finite_lr.derive_zero_loss_hessian``; inputs
    correlated across time enter through the Jacobian of their flow (the solution is then usually a minimiser with
    non-zero loss: ``solve_task`` tests the best filter Lambda^-1 sigma, not sigma, for zero loss).

    Parameters
    ----------
    task : Task, dict or path
    loss : {"sum_half", "sum", "mean_half", "mean"}
    n_samples : int, optional
        P of the mean conventions (default T * N_y, N_y the real units; see ``DiscreteGD.scale``).
    balance : array_like, optional
        D per mode (default: from ``task.init``).

    Returns
    -------
    dict
        ``b``, ``u``, ``s``, ``zero_loss`` (the solution has zero loss), ``lambda_max`` (of L), ``lr_max`` per mode
        (NaN where the minimiser of the reduced energy is at the search bound, not a fixed point), and
        ``lr_max_network``: the smallest over modes (cross-mode directions of a full network are not included).

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> bound = stable_lr_bound(Task.constant(delta=1.0, T=2))   # b* = 1, u* = 1, a = c = 1
    >>> round(float(bound["lambda_max"][0]), 12)                 # 2x2 [[4, sqrt(2)], [sqrt(2), 1]]
    4.561552812809
    """
    task = coerce_task(task)
    solution = solve_task(task)
    found = ~np.asarray(solution.at_bound) & np.isfinite(solution.b) & np.isfinite(solution.u)
    b = np.where(found, solution.b, 0.0)
    u = np.where(found, solution.u, 0.0)
    init = task.init
    D = (np.abs(init.a) ** 2 - np.abs(init.c) ** 2) if balance is None else np.broadcast_to(
        np.asarray(balance, dtype=float), (task.K,))
    s = np.sqrt(D**2 + 4 * np.abs(u) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        phase = np.where(u != 0, u / np.abs(u), 1.0)
    a = np.sqrt(np.maximum(s + D, 0.0) / 2) * phase
    c = np.sqrt(np.maximum(s - D, 0.0) / 2)
    H = mode_hessian(task, a, b, c)
    lam_max = np.where(found, np.linalg.eigvalsh((H + np.swapaxes(H, 1, 2)) / 2)[:, -1], np.nan)
    scale = DiscreteGD(1.0, loss, n_samples).scale(task)
    lr_max = 2.0 / (scale * lam_max)
    finite = lr_max[np.isfinite(lr_max)]
    return {"b": np.where(found, solution.b, np.nan), "u": np.where(found, solution.u, np.nan), "s": s,
            "zero_loss": np.asarray(solution.zero_loss) & found, "lambda_max": lam_max, "lr_max": lr_max,
            "lr_max_network": float(finite.min()) if finite.size else float("nan")}


def mode_hessian(task, a, b, c) -> np.ndarray:
    """Per-mode Hessian of L = tau E at any state: minus tau times the flow's Jacobian blocks.

    Shape (K, 3, 3) in (a, b, c) for a real task, (K, 6, 6) in (Re a, Im a, Re b, Im b, Re c, Im c) for a complex
    one (gradient descent on the real coordinates: d(x)/dt = -dE/dx, so the Jacobian is minus the Hessian of E).
    """
    flow = compile_flow(task)
    values = [np.broadcast_to(np.asarray(v), (flow.K,)) for v in (a, b, c)]
    return -flow.tau * flow.jacobian_blocks(0.0, flow.layout.pack(*values))

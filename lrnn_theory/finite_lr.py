"""Finite learning rates: the exact gradient-descent map of the modes, the modified flow, the largest stable rate.

Numeric side of ``lrnn_theory.derivations.finite_lr``.

* ``DiscreteGD(lr=, loss=)``: the per-mode map theta <- theta - lr * scale * dL/dtheta that full-matrix gradient
  descent performs on an aligned network (``lrnn simulate --init aligned``), vectorized over modes. Pass it as
  ``integrate(task, t_end, method=DiscreteGD(...))``; it costs K modes per step instead of the N_h^2 weights.
* ``compile_modified_flow(task, lr_correction)``: the flow of E + (h/4) ||grad E||^2 (h = lr * tau * scale, the theory
  time of one step), a ``CompiledFlow`` like the plain one (rates, Jacobian blocks, energy), so any solver integrates
  it: ``integrate(task, t_end, lr_correction=lr)``. Gradient descent stays O(h^2) from it instead of O(h).
* ``stable_lr_bound(task)``: 2 / lambda_max of the per-mode Hessian in (a, b, c) at the zero-loss solution, per mode.
"""
from __future__ import annotations

import functools
import sys
from dataclasses import dataclass

import numpy as np
import sympy as sp
from tqdm.auto import tqdm

from .derivations import finite_lr as sym
from .derivations import mode_flow as mf
from .errors import DivergenceError, bad, check_int, check_real
from .flow import CompiledFlow, TaskSums, output_times
from .tasks import coerce_task
from .trajectory import Trajectory, mode_energy

LOSSES = ("sum_half", "sum", "mean_half", "mean")


def loss_scale(loss: str, P: int, N_y: int, outputs_per_sample: int = 1) -> float:
    """``loss = scale * L`` with L = 1/2 sum_p ||r_p||^2 (the harness's conventions, validation.harness)."""
    from .validation.harness import loss_scale as harness_scale

    if loss not in LOSSES:
        raise bad("loss", loss, f"be one of {', '.join(LOSSES)}")
    return harness_scale(loss, P, N_y, outputs_per_sample)


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
        P in the mean conventions (default ``T * K``, the harness's default for task data).

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
    name = "DiscreteGD"

    def __post_init__(self):
        check_real("lr", self.lr, positive=True)
        if self.loss not in LOSSES:
            raise bad("loss", self.loss, f"be one of {', '.join(LOSSES)}")
        if self.n_samples is not None:
            check_int("n_samples", self.n_samples, minimum=1)

    def scale(self, task) -> float:
        """``scale`` of the loss convention for this task (N_y = K, P = n_samples or T K)."""
        task = coerce_task(task)
        P = self.n_samples if self.n_samples is not None else task.T * task.K
        return loss_scale(self.loss, P, task.K, task.T if task.every_step else 1)

    def time_step(self, task) -> float:
        """Theory time of one step, h = lr * tau * scale."""
        task = coerce_task(task)
        return self.lr * task.tau * self.scale(task)

    def run(self, task, t_end: float, *, n_points: int = 201, t_eval=None,
            divergence_threshold: float = 1e8) -> Trajectory:
        """Take round(t_end / h) steps; record the steps nearest the output times (their exact times in ``t``).

        Raises ``DivergenceError`` (step, time, mode and the closed-form stable bound of that mode) when a state
        stops being finite or |a|, |c| or |b|^(T-1) of a mode exceeds ``divergence_threshold``.
        """
        task = coerce_task(task)
        if task.is_complex:
            raise bad("task", task, "have real singular values (complex tasks are not supported yet)")
        t_end, t_eval = output_times(t_end, n_points, t_eval)
        threshold = check_real("divergence_threshold", divergence_threshold, positive=True)
        h = self.time_step(task)
        step_size = self.lr * self.scale(task)  # multiplies dL/dtheta, L = 1/2 sum_i r_i^2 per mode
        record = np.unique(np.rint(t_eval / h).astype(np.int64))
        steps = int(record[-1])
        K, T = task.K, task.T
        alpha, weights = task.sum_coefficients()  # A(b) = sum_k alpha_k b^k, B(b) = sum_k w_k b^(2k): any kind of task
        coeff = np.ascontiguousarray(alpha)
        k = np.arange(1, T, dtype=float)
        Y = np.array([task.init.a, task.init.b, task.init.c], dtype=float)   # rows a, b, c
        a, b, c = Y
        out = np.empty((3, record.size, K))
        PQ = np.zeros((K, 2, T))          # PQ[:, 0] = b^k, PQ[:, 1] = k b^(k-1): d(b^k)/db
        P, Q = PQ[:, 0], PQ[:, 1]
        r = np.empty((K, T))
        grad = np.empty((3, K))
        rec = 0
        bar = tqdm(total=steps, delay=2.0, unit="step", desc="gradient descent", leave=False, mininterval=0.5,
                   disable=not sys.stderr.isatty())
        chunk = max(1, steps // 200)
        with bar, np.errstate(over="ignore", invalid="ignore"):
            for n in range(steps + 1):
                if n % chunk == 0 and n:
                    bar.update(chunk)
                P[:, 0] = 1.0
                P[:, 1:] = b[:, None]
                np.multiply.accumulate(P, axis=1, out=P)    # b^k
                # divergence of the state after n steps: |a|, |c| or the recurrent gain |b|^(T-1)
                if not (abs(Y[0::2]).max() <= threshold and abs(P[:, -1]).max() <= threshold):
                    self._diverged(task, n, h, a, b, c, threshold)
                if n == record[rec]:
                    out[:, rec] = Y
                    rec += 1
                if n == steps:
                    break
                np.multiply(P[:, :-1], k, out=Q[:, 1:])
                u = a * c
                np.multiply(u[:, None], P, out=r)
                r *= weights
                np.subtract(coeff, r, out=r)                # alpha_k - u w_k b^k (final output: residual of step T - k)
                g = np.matmul(PQ, r[:, :, None])[:, :, 0]   # (A - u B, A' - u B'/2) per mode
                np.multiply(c, g[:, 0], out=grad[0])
                np.multiply(u, g[:, 1], out=grad[1])
                np.multiply(a, g[:, 0], out=grad[2])
                grad *= step_size
                Y += grad                                   # theta <- theta - lr * scale * dL/dtheta
        a, b, c = out
        return Trajectory(t=record * h, a=a, b=b, c=c, energy=mode_energy(task.singular_values, a, b, c, task.tau),
                          info={"method": self.name, "lr": self.lr, "loss": self.loss, "dt_per_step": h,
                                "steps": steps, "t_final": float(record[-1] * h), "source": "discrete map",
                                "status": 0})

    def _diverged(self, task, step, h, a, b, c, threshold):
        with np.errstate(over="ignore", invalid="ignore"):
            gains = np.column_stack([np.abs(a), np.abs(b) ** max(task.T - 1, 0), np.abs(c)])
        bad_mode = ~np.all(np.isfinite(gains) & (gains <= threshold), axis=1)
        mode = int(np.argmax(bad_mode))
        bound = stable_lr_bound(task, loss=self.loss, n_samples=self.n_samples)["lr_max"][mode]
        advice = (f"; the largest stable lr of this mode at its zero-loss solution is {bound:.4g}"
                  if np.isfinite(bound) else "")
        raise DivergenceError(
            f"gradient descent diverged at step {step} (t={step * h:.6g}) with lr={self.lr:g} ({self.loss}): mode "
            f"{mode} has |a|, |c| or |b|^(T-1) beyond {threshold:g} or not finite (a={a[mode]:.4g}, b={b[mode]:.4g}, "
            f"c={c[mode]:.4g}){advice}", time=float(step * h), mode=mode)


# ---- the modified flow -------------------------------------------------------------------------------------------
class TaskSums3(TaskSums):
    """``TaskSums`` with the third derivatives A'''(b) and B'''(b) too (the modified flow's Jacobian needs them)."""

    PER_MODE = ("wa", "wa4")

    def __init__(self, alpha, weights=None):
        super().__init__(alpha, weights)
        T, K = self.wa.shape[1:]
        coeff = np.asarray(alpha, dtype=float)
        w = self.wb[:, 0]
        k = np.arange(T, dtype=float)
        wa3 = np.zeros((T, K))
        with np.errstate(over="ignore"):
            wa3[:-3] = (coeff[:, 3:] * (k[3:] * (k[3:] - 1) * (k[3:] - 2))).T  # d3/db3: k(k-1)(k-2) alpha_k b^(k-3)
        self.wa4 = np.concatenate([self.wa, wa3[None]])
        wb3 = np.zeros(T)
        # B''' = b sum_j wb3_j b^(2j), with the weights w of B(b) = sum_k w_k b^(2k)
        wb3[:-2] = 2.0 * (k[:-2] + 2) * (2.0 * k[:-2] + 3) * (2.0 * k[:-2] + 2) * w[2:]
        self.wb4 = np.column_stack([self.wb, wb3])
        self._wb4_rows = np.ascontiguousarray(self.wb4.T)

    def evaluate_all(self, b: np.ndarray):
        """(A, A', A'', A''', B, B', B'', B''') at b (shape (K,))."""
        P, squares = self._tables(b)
        As = np.einsum("jtk,tk->jk", self.wa4, P)
        Bs = self._wb4_rows @ squares
        return As[0], As[1], As[2], As[3], Bs[0], b * Bs[1], Bs[2], b * Bs[3]


@functools.lru_cache(maxsize=None)
def _lambdified_modified():
    """Rates, Jacobian and modified energy of the modified flow, lambdified once per process."""
    mod = sym.derive_modified_flow()
    A0, A1, A2, B0, B1, B2 = mf.SUM_SYMBOLS
    A3, B3 = sym.THIRD_SUM_SYMBOLS
    args = (mf.a, mf.b, mf.c, mf.tau, sym.h, A0, A1, A2, A3, B0, B1, B2, B3)
    rates = [sym.all_sums_as_symbols(mod["rates"][v]) for v in mf.STATE]
    jac = sym.all_sums_as_symbols(mod["jacobian"])
    correction = sym.all_sums_as_symbols(mod["energy"] - mf.derive_energy())
    return (sp.lambdify(args, rates, modules="numpy", cse=True),
            sp.lambdify(args, [list(row) for row in jac.tolist()], modules="numpy", cse=True),
            sp.lambdify(args, correction, modules="numpy", cse=True))


class ModifiedFlow(CompiledFlow):
    """The flow of E + (h/4) ||grad E||^2 for one task: same interface as ``CompiledFlow``.

    ``energy`` stays the plain per-mode energy E (the loss of the state, as in every trajectory file);
    ``modified_energy`` gives E + (h/4) ||grad E||^2.

    Attributes
    ----------
    step : float
        h, the theory time of one gradient step.
    """

    def __init__(self, task, step: float):
        super().__init__(task)
        if self.task.is_complex:
            raise bad("task", self.task, "have real singular values (the lr correction of complex tasks is not "
                                         "derived yet)")
        self.step = check_real("lr_correction", step, positive=True)
        self.sums = TaskSums3(*self.task.sum_coefficients())  # the plain sums and the third derivatives
        self._mod_rate_fn, self._mod_jac_fn, self._mod_energy_fn = _lambdified_modified()

    def _args(self, a, b, c, sums):
        return (a, b, c, self.tau, self.step) + sums.evaluate_all(b)

    def _rate_values(self, a, b, c, sums):
        return self._mod_rate_fn(*self._args(a, b, c, sums))

    def _jacobian_rows(self, a, b, c, sums):
        return self._mod_jac_fn(*self._args(a, b, c, sums))

    def modified_energy(self, y) -> np.ndarray:
        """Per-mode E + (h/4) ||grad E||^2 for a flat state (3K,)."""
        y = np.asarray(y, dtype=float)
        return self.energy(y) + self._mod_energy_fn(*self._args(y[0::3], y[1::3], y[2::3], self.sums))


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
@functools.lru_cache(maxsize=None)
def _lambda_max_fn():
    hess = sym.derive_zero_loss_hessian()
    return sp.lambdify((sym.S0, sym.S1, sym.S2g, sym.s_bal, mf.u), hess["lambda_max"], modules="numpy")


def geometric_sums(b: np.ndarray, T: int, weights=None):
    """S_0 = sum w_k b^(2k), S_1 = sum w_k k b^(2k-1), S_2 = sum w_k k^2 b^(2k-2) over k = 0..T-1, per mode.

    ``weights`` are the weights w_k of B(b) = sum_k w_k b^(2k) (all 1 for final-output tasks, T - k for every-step
    tasks: lag k links w_k input-output pairs)."""
    b = np.asarray(b, dtype=float)
    k = np.arange(T, dtype=float)
    w = np.ones(T) if weights is None else np.asarray(weights, dtype=float)
    P = np.ones((b.size, T))
    P[:, 1:] = b[:, None]
    P = np.cumprod(P, axis=1)                     # b^k
    Pm1 = np.zeros_like(P)
    Pm1[:, 1:] = P[:, :-1]                        # b^(k-1), 0 for k = 0
    return np.sum(w * P * P, axis=1), np.sum(w * k * P * Pm1, axis=1), np.sum(w * k * k * Pm1 * Pm1, axis=1)


def stable_lr_bound(task, loss: str = "sum_half", n_samples: int | None = None, balance=None) -> dict:
    """Largest stable learning rate per mode at its zero-loss solution: 2 / (scale * lambda_max).

    lambda_max is the closed form of ``derivations.finite_lr.derive_zero_loss_hessian`` (the largest eigenvalue of
    the per-mode Hessian of L in (a, b, c)), at b*, u* of the zero-loss solution and s = a^2 + c^2 =
    sqrt(D^2 + 4 u*^2) with D = a^2 - c^2 the balance (from the task's init by default; the flow conserves it and
    gradient descent keeps D = 0 exactly, otherwise shrinks it by O(lr^2) per step).

    Parameters
    ----------
    task : Task, dict or path
    loss : {"sum_half", "sum", "mean_half", "mean"}
    n_samples : int, optional
        P of the mean conventions (default T * K).
    balance : array_like, optional
        D per mode (default: from ``task.init``).

    Returns
    -------
    dict
        ``b``, ``u``, ``s``, ``lambda_max`` (of L), ``lr_max`` per mode (NaN for modes without a zero-loss
        solution), and ``lr_max_network``: the smallest over modes (cross-mode directions of a full network are not
        included).

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> bound = stable_lr_bound(Task.constant(delta=1.0, T=2))   # b* = 1, u* = 1, a = c = 1
    >>> float(bound["lambda_max"][0])                            # 2x2 [[4, sqrt(2)], [sqrt(2), 1]]
    4.561552812808831
    """
    from .stability import zero_loss_solution

    task = coerce_task(task)
    exists, u, b = zero_loss_solution(task.singular_values)
    D = (task.init.a**2 - task.init.c**2) if balance is None else np.broadcast_to(
        np.asarray(balance, dtype=float), (task.K,))
    s = np.sqrt(D**2 + 4 * u**2)
    S0, S1, S2 = geometric_sums(np.where(exists, b, 0.0), task.T, task.sum_coefficients()[1])
    lam_max = np.where(exists, _lambda_max_fn()(S0, S1, S2, s, u), np.nan)
    scale = DiscreteGD(1.0, loss, n_samples).scale(task)
    lr_max = 2.0 / (scale * lam_max)
    finite = lr_max[np.isfinite(lr_max)]
    return {"b": b, "u": u, "s": s, "lambda_max": lam_max, "lr_max": lr_max,
            "lr_max_network": float(finite.min()) if finite.size else float("nan")}


def mode_hessian(task, a, b, c) -> np.ndarray:
    """(K, 3, 3) Hessian of the per-mode loss L = tau E in (a, b, c) at any state, from the derived Jacobian."""
    from .flow import compile_flow

    flow = compile_flow(task)
    y = np.column_stack([a, b, c]).ravel()
    return -flow.tau * flow.jacobian_blocks(0.0, y)


def integrate_options(args):
    """``(method, lr_correction)`` for ``lrnn integrate`` from --discrete-lr, --lr-correction, --loss, --n-samples."""
    from .errors import LrnnInputError

    if args.discrete_lr is not None and args.lr_correction is not None:
        raise LrnnInputError("give either --discrete-lr or --lr-correction, not both")
    if args.discrete_lr is not None:
        return DiscreteGD(args.discrete_lr, args.loss, args.n_samples), None
    if args.lr_correction is not None:
        return args.method, DiscreteGD(args.lr_correction, args.loss, args.n_samples)
    if args.loss != "sum_half" or args.n_samples is not None:
        raise LrnnInputError("--loss and --n-samples apply only with --discrete-lr or --lr-correction")
    return args.method, None

"""Integration strategies: which scipy method to use and how to hand it the Jacobian.

The mode flow is stiff (the recurrent mode moves on a much slower scale than a and c near convergence) and its
Jacobian is block diagonal: every mode is an independent m x m block (m = ``flow.block_size``: 3 for a, b, c of a
real task, 6 for their real and imaginary parts in a complex one), stored with the variables of each mode adjacent.
Implicit methods therefore get the analytic Jacobian in the cheapest form scipy accepts: packed banded for LSODA
(lower and upper bandwidth m - 1), sparse block diagonal for BDF and Radau. Explicit methods get none.

Pass an instance (``LSODA(rtol=1e-9)``) or a name (``"BDF"``) as ``method`` to ``lrnn_theory.integrate``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse

from .errors import bad, check_real

#: scipy raises rtol below 100 machine epsilons to that value with a warning; refuse it instead.
MIN_RTOL = 100 * np.finfo(float).eps


@dataclass(frozen=True)
class Solver:
    """Base strategy: a scipy ``solve_ivp`` method with its tolerances."""

    rtol: float = 1e-8
    atol: float = 1e-10
    name = "RK45"
    jacobian = "none"  # "none", "banded" or "sparse"

    def solve_ivp_options(self, flow) -> dict:
        """Keyword arguments for ``scipy.integrate.solve_ivp`` given a compiled flow."""
        opts = {"method": self.name, "rtol": self.rtol, "atol": self.atol}
        if self.jacobian == "banded":
            band = getattr(flow, "block_size", 3) - 1
            opts.update(jac=flow.jacobian_banded, lband=band, uband=band)
        elif self.jacobian == "sparse":
            opts.update(jac=flow.jacobian_sparse)
        return opts


@dataclass(frozen=True)
class LSODA(Solver):
    """Automatic stiff/non-stiff switching (ODEPACK) with the analytic banded Jacobian. The default."""

    name = "LSODA"
    jacobian = "banded"


@dataclass(frozen=True)
class BDF(Solver):
    """Backward differentiation formulas with the analytic sparse block Jacobian."""

    name = "BDF"
    jacobian = "sparse"


@dataclass(frozen=True)
class Radau(Solver):
    """Implicit Runge-Kutta (Radau IIA, order 5) with the analytic sparse block Jacobian."""

    name = "Radau"
    jacobian = "sparse"


@dataclass(frozen=True)
class RK45(Solver):
    """Explicit Dormand-Prince 5(4). Slow on this stiff flow; kept for comparison."""

    name = "RK45"


@dataclass(frozen=True)
class DOP853(Solver):
    """Explicit Dormand-Prince 8(5,3)."""

    name = "DOP853"


SOLVERS = {cls.name: cls for cls in (LSODA, BDF, Radau, RK45, DOP853)}
DEFAULT_SOLVER = LSODA


def resolve_solver(method, rtol: float | None = None, atol: float | None = None) -> Solver:
    """A Solver from an instance, a class, a name (case-insensitive) or None (the default, LSODA)."""
    if method is None:
        method = DEFAULT_SOLVER
    if isinstance(method, type) and issubclass(method, Solver):
        method = method()
    if isinstance(method, str):
        match = {k.lower(): v for k, v in SOLVERS.items()}.get(method.lower())
        if match is None:
            raise bad("method", method, f"be one of {', '.join(SOLVERS)} or a Solver instance")
        method = match()
    if not isinstance(method, Solver):
        raise bad("method", method, f"be one of {', '.join(SOLVERS)} or a Solver instance")
    rtol = method.rtol if rtol is None else rtol
    atol = method.atol if atol is None else atol
    if not MIN_RTOL <= check_real("rtol", rtol) < 1:
        raise bad("rtol", rtol, f"be in [{MIN_RTOL:.3g}, 1)")
    if check_real("atol", atol) <= 0:
        raise bad("atol", atol, "be > 0")
    return type(method)(rtol=rtol, atol=atol)


def block_sparsity(K: int, m: int = 3):
    """Row and column indices of the m^2 K non-zeros of a block-diagonal (m x m blocks) matrix, (mode, p, q) order."""
    p, q = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    base = m * np.arange(K)[:, None, None]
    return (base + p).ravel(), (base + q).ravel()


def blocks_to_sparse(blocks: np.ndarray, rows: np.ndarray, cols: np.ndarray):
    """(K, m, m) blocks to a CSC block-diagonal matrix."""
    n = blocks.shape[1] * blocks.shape[0]
    return sparse.csc_matrix((blocks.ravel(), (rows, cols)), shape=(n, n))


def blocks_to_banded(blocks: np.ndarray) -> np.ndarray:
    """(K, m, m) blocks to LAPACK packed banded storage, lband = uband = m - 1: packed[m - 1 + i - j, j] = J[i, j]."""
    K, m = blocks.shape[:2]
    packed = np.zeros((2 * m - 1, m * K))
    for p in range(m):
        for q in range(m):
            packed[m - 1 + p - q, q::m] = blocks[:, p, q]
    return packed


def __getattr__(name):
    """``DiscreteGD`` (the exact gradient-descent map, ``lrnn_theory.finite_lr``) on first use: finite_lr imports
    the flow, which imports this module, so a top-level import would be a cycle."""
    if name == "DiscreteGD":
        from .finite_lr import DiscreteGD

        return DiscreteGD
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Numeric side of the effective regularisation (Lemma 3.2): the energy split and its landscapes over (u, b).

The regulariser's closed form c^2 a^2 (1 - b^(2T)) / (1 - b^2) / (2 tau) is derived in
``lrnn_theory.derivations.regularisation`` and lambdified here; the data term is (||s||^2 - 2 u A(b)) / (2 tau).
Every-step tasks (App. M) have the regulariser u^2 B(b) / (2 tau) with B(b) = sum_k (T - k) b^(2k), the paper's
eq. (159), derived in ``lrnn_theory.derivations.every_step``.
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from .errors import bad, check_finite_array, check_int, check_real
from .stability import _sums


@functools.lru_cache(maxsize=None)
def _regulariser_fn():
    from .derivations import mode_flow as mf
    from .derivations.regularisation import derive_energy_split

    expr = derive_energy_split()["regulariser"].subs(mf.a, mf.u).subs(mf.c, 1)
    return sp.lambdify((mf.u, mf.b, mf.T, mf.tau), expr, modules="numpy")


@functools.lru_cache(maxsize=None)
def _every_step_regulariser_fn():
    from .derivations import mode_flow as mf
    from .derivations.every_step import derive_energy_split

    expr = derive_energy_split()["regulariser"].subs(mf.a, mf.u).subs(mf.c, 1)
    return sp.lambdify((mf.u, mf.b, mf.T, mf.tau), expr, modules="numpy")


def regulariser(u, b, T: int, tau: float = 1.0, every_step: bool = False) -> np.ndarray:
    """Effective regulariser u^2 (1 - b^(2T)) / (1 - b^2) / (2 tau) (T u^2/(2 tau) at b^2 = 1).

    With ``every_step``: u^2 (T (1 - b^2) - b^2 (1 - b^(2T))) / (1 - b^2)^2 / (2 tau), eq. (159)
    (T (T + 1) u^2 / (4 tau) at b^2 = 1).

    Parameters
    ----------
    u, b : array_like
        Input-output and recurrent modes, broadcast against each other.
    T : int
        Trajectory length (>= 1).
    tau : float
        Learning timescale (> 0).
    every_step : bool
        Every-step outputs (App. M) instead of the final output only.

    Returns
    -------
    ndarray
        The regulariser, of the broadcast shape of ``u`` and ``b``.
    """
    T = check_int("T", T, minimum=1)
    tau = check_real("tau", tau, positive=True)
    u, b = np.broadcast_arrays(np.asarray(u, dtype=float), np.asarray(b, dtype=float))
    fn = _every_step_regulariser_fn() if every_step else _regulariser_fn()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(fn(u, b, int(T), float(tau)), dtype=float)
    # The closed form is 0/0 at b^2 = 1 in floating point near (not at) the branch: use the series there.
    near = np.abs(b**2 - 1) < (1e-4 if every_step else 1e-7)  # (1 - b^2)^2 in the denominator: a wider band
    if np.any(near):
        k = np.arange(int(T), dtype=float)
        weights = (T - k) if every_step else np.ones(int(T))
        out = np.where(near, u**2 * np.sum(weights * b[..., None] ** (2 * k), axis=-1) / (2 * tau), out)
    return np.broadcast_to(out, u.shape)


def data_term(s, u, b, tau: float = 1.0) -> np.ndarray:
    """Data term (||s||^2 - 2 u A(b)) / (2 tau) of one mode.

    Parameters
    ----------
    s : array_like, shape (T,), or (T, T) for every-step outputs
        One mode's profile.
    u, b : array_like
        Input-output and recurrent modes, broadcast against each other.
    tau : float
        Learning timescale (> 0).

    Returns
    -------
    ndarray
        The data term, of the broadcast shape of ``u`` and ``b``.
    """
    s = check_finite_array("s", s)
    if s.ndim not in (1, 2):
        raise bad("s", s, "be one mode's profile: (T,), or (T, T) for every-step outputs")
    tau = check_real("tau", tau, positive=True)
    u, b = np.broadcast_arrays(np.asarray(u, dtype=float), np.asarray(b, dtype=float))
    A_ = _sums(s[None], b.reshape(1, -1))[0].reshape(b.shape)
    return (np.sum(s**2) - 2 * u * A_) / (2 * tau)


def energy_split(singular_values, a, b, c, tau: float = 1.0):
    """Data term and regulariser of every mode; their sum is the energy.

    Parameters
    ----------
    singular_values : array_like, shape (K, T) or (T,), or (K, T, T) for every-step outputs
        Task profile per mode.
    a, b, c : array_like, shape (K,) or scalars
        Input, recurrent and output modes.
    tau : float
        Learning timescale (> 0).

    Returns
    -------
    data, regulariser : ndarray, shape (K,)
    """
    s = check_finite_array("singular_values", singular_values)
    s = s[None, :] if s.ndim == 1 else s
    tau = check_real("tau", tau, positive=True)
    a, b, c = (np.broadcast_to(np.asarray(x, dtype=float), (s.shape[0],)) for x in (a, b, c))
    u = a * c
    A_ = _sums(s, b)[0]
    data = (np.sum(s.reshape(s.shape[0], -1) ** 2, axis=1) - 2 * u * A_) / (2 * tau)
    return data, regulariser(u, b, s.shape[-1], tau, every_step=s.ndim == 3)


def landscape(singular_values, u_values, b_values, tau: float = 1.0) -> dict:
    """Data term, regulariser and total energy of one mode over the grid (b rows, u columns).

    Parameters
    ----------
    singular_values : array_like, shape (T,), or (T, T) for every-step outputs
        One mode's profile.
    u_values, b_values : array_like
        Grid axes.

    Returns
    -------
    dict
        ``u``, ``b`` (1-D axes) and ``data``, ``regulariser``, ``total`` of shape (len(b), len(u)).
    """
    s = check_finite_array("singular_values", singular_values)
    if s.ndim not in (1, 2):
        raise bad("singular_values", singular_values, "be one mode's profile (a 1-D array of T values, or T x T for "
                                                      "every-step outputs)")
    if s.ndim == 2:  # one every-step mode: square, no later inputs
        from .tasks import _check_every_step

        s = _check_every_step(s)[0]
    uu = check_finite_array("u_values", u_values, ndim=1)
    bb = check_finite_array("b_values", b_values, ndim=1)
    U, Bg = np.meshgrid(uu, bb)
    data = data_term(s, U, Bg, tau)
    reg = regulariser(U, Bg, s.shape[-1], tau, every_step=s.ndim == 2)
    return {"u": uu, "b": bb, "data": data, "regulariser": reg, "total": data + reg}

"""Numeric side of the effective regularisation (Lemma 3.2): the energy split and its landscapes over (u, b).

The energy of every kind of task splits through its task sums (``Task.sums``):

    E = (norm - 2 Re(conj(u) A(b))) / (2 tau)    [data term: the only place the targets enter]
      + |u|^2 B(b) / (2 tau)                     [effective regulariser: task-independent for white inputs]

For white inputs B(b) depends only on T and where the network is read out: the paper's closed form
|u|^2 (1 - |b|^(2T)) / (1 - |b|^2) / (2 tau) for the final output (``lrnn_theory.derivations.regularisation``), and
eq. (159) with B(b) = sum_k (T - k) |b|^(2k) for every-step outputs (``lrnn_theory.derivations.every_step``). Both are
evaluated here as the sums themselves, which have no 0/0 at |b| = 1; the closed forms are the tests' check.

Inputs correlated across time (``input_covariance``, every function takes it) move the covariance into the
regulariser: B(b) = sum_kl G_kl conj(b)^k b^l with the gram matrix G of the covariance (``correlated.gram``), odd
powers of b included, so the regulariser depends on the input statistics (never on the targets), and the data term
carries the explained norm sigma^T Lambda^+ sigma in place of sum |s|^2.
"""
from __future__ import annotations

import numpy as np

from .errors import bad, check_finite_array, check_int, check_real
from .tasks import Task, lag_exponents


def _white_regulariser_sums(T: int, every_step: bool, input_covariance=None):
    """The task sums of a task of length T (final output or every step) with unit targets: its B is the
    regulariser's (white inputs, or the given covariance across time)."""
    _, linked = lag_exponents(T, every_step)  # one singular value 1 per link of input to output, either layout
    return _profile_task(linked[None].astype(float), "singular_values", input_covariance=input_covariance).sums()


def _profile_task(singular_values, name: str, one_mode: bool = False, input_covariance=None) -> Task:
    """A task of the profiles (final (K, T) or (T,), every step (K, T, T); one mode: (T,) or (T, T)), any dtype."""
    s = check_finite_array(name, singular_values, allow_complex=True)
    if one_mode:
        if s.ndim not in (1, 2):
            raise bad(name, singular_values, "be one mode's profile: (T,), or (T, T) for every-step outputs")
        s = s[None]
    elif s.ndim == 1:
        s = s[None]
    if s.ndim not in (2, 3):
        raise bad(name, singular_values, "be a (K, T) array (or (K, T, T) for every-step outputs)")
    options = {} if input_covariance is None else {"input_covariance": input_covariance}
    return Task(s, outputs="every_step" if s.ndim == 3 else "final", **options)


def regulariser(u, b, T: int, tau: float = 1.0, every_step: bool = False, input_covariance=None) -> np.ndarray:
    """Effective regulariser |u|^2 B(b) / (2 tau) of a task of length T (white inputs by default).

    B(b) = sum_k |b|^(2k) (final output: the paper's (1 - |b|^(2T)) / (1 - |b|^2), T at |b| = 1) or, with
    ``every_step``, sum_k (T - k) |b|^(2k) (eq. 159: (T (1 - |b|^2) - |b|^2 (1 - |b|^(2T))) / (1 - |b|^2)^2,
    T (T + 1) / 2 at |b| = 1), evaluated as the task sums.

    Parameters
    ----------
    u, b : array_like
        Input-output and recurrent modes (real or complex), broadcast against each other.
    T : int
        Trajectory length (>= 1).
    tau : float
        Learning timescale (> 0).
    every_step : bool
        Every-step outputs (App. M) instead of the final output only.
    input_covariance : optional
        Covariance of the inputs across time, one shared by all (u, b): a (T, T) matrix, ``{"lag": [...]}`` or
        ``{"ar1": rho}``; B(b) = sum_kl G_kl conj(b)^k b^l with G its gram matrix.

    Returns
    -------
    ndarray
        The regulariser, of the broadcast shape of ``u`` and ``b``.

    Examples
    --------
    >>> float(regulariser(2.0, 1.0, T=3))                  # |u|^2 T / 2 at |b| = 1
    6.0
    >>> float(regulariser(1.0, 1j, T=3, every_step=True))  # (3 + 2 + 1) / 2
    3.0
    """
    T = check_int("T", T, minimum=1)
    tau = check_real("tau", tau, positive=True)
    u, b = np.broadcast_arrays(check_finite_array("u", u, allow_complex=True),
                               check_finite_array("b", b, allow_complex=True))
    _, B = _white_regulariser_sums(T, every_step, input_covariance).values(b[None])
    return np.abs(u) ** 2 * B[0] / (2 * tau)


def data_term(s, u, b, tau: float = 1.0, input_covariance=None) -> np.ndarray:
    """Data term (norm - 2 Re(conj(u) A(b))) / (2 tau) of one mode, through its task sums.

    Parameters
    ----------
    s : array_like, shape (T,), or (T, T) for every-step outputs
        One mode's profile (real or complex).
    u, b : array_like
        Input-output and recurrent modes, broadcast against each other.
    tau : float
        Learning timescale (> 0).
    input_covariance : optional
        The mode's covariance of the inputs across time ((T, T), ``{"lag": ...}`` or ``{"ar1": rho}``): the norm is
        then sigma^T Lambda^+ sigma.

    Returns
    -------
    ndarray
        The data term, of the broadcast shape of ``u`` and ``b``.
    """
    sums = _profile_task(s, "s", one_mode=True, input_covariance=input_covariance).sums()
    tau = check_real("tau", tau, positive=True)
    u, b = np.broadcast_arrays(check_finite_array("u", u, allow_complex=True),
                               check_finite_array("b", b, allow_complex=True))
    A, _ = sums.values(b[None])
    return (sums.norm[0] - 2 * np.real(np.conj(u) * A[0])) / (2 * tau)


def energy_split(singular_values, a, b, c, tau: float = 1.0, input_covariance=None):
    """Data term and regulariser of every mode, through the task sums; their sum is the energy.

    Parameters
    ----------
    singular_values : array_like, shape (K, T) or (T,), or (K, T, T) for every-step outputs
        Task profile per mode, real or complex (the cross-covariances sigma for correlated inputs).
    a, b, c : array_like, shape (K,) or scalars
        Input, recurrent and output modes (complex for a rotational task).
    tau : float
        Learning timescale (> 0).
    input_covariance : optional
        Covariance of the inputs across time ((T, T), (K, T, T), ``{"lag": ...}``, ``{"ar1": rho}``; as for
        ``Task``): the regulariser takes B(b) from its gram matrix and the data term the explained norm.

    Returns
    -------
    data, regulariser : ndarray, shape (K,)

    Examples
    --------
    >>> data, reg = energy_split([[0.5, 1.0]], 1.0, 0.5, 1.0)   # u = 1, b = 0.5: zero loss
    >>> data.tolist(), reg.tolist(), (data + reg).tolist()       # A = 1.25, B = 1.25, norm = 1.25
    ([-0.625], [0.625], [0.0])
    """
    task = _profile_task(singular_values, "singular_values", input_covariance=input_covariance)
    tau = check_real("tau", tau, positive=True)
    a, b, c = (np.broadcast_to(check_finite_array(name, x, allow_complex=True), (task.K,))
               for name, x in (("a", a), ("b", b), ("c", c)))
    sums = task.sums()
    A, B = sums.values(b)
    u = a * c
    return (sums.norm - 2 * np.real(np.conj(u) * A)) / (2 * tau), np.abs(u) ** 2 * B / (2 * tau)


def landscape(singular_values, u_values, b_values, tau: float = 1.0, input_covariance=None) -> dict:
    """Data term, regulariser and total energy of one mode over the grid (b rows, u columns).

    Parameters
    ----------
    singular_values : array_like, shape (T,), or (T, T) for every-step outputs
        One mode's profile.
    u_values, b_values : array_like
        Grid axes (1-D; complex values give the landscape along those points of the complex plane).
    input_covariance : optional
        The mode's covariance of the inputs across time ((T, T), ``{"lag": ...}`` or ``{"ar1": rho}``).

    Returns
    -------
    dict
        ``u``, ``b`` (1-D axes) and ``data``, ``regulariser``, ``total`` of shape (len(b), len(u)).
    """
    s = check_finite_array("singular_values", singular_values, allow_complex=True)
    if s.ndim not in (1, 2):
        raise bad("singular_values", singular_values, "be one mode's profile (a 1-D array of T values, or T x T for "
                                                      "every-step outputs)")
    _profile_task(s, "singular_values", one_mode=True, input_covariance=input_covariance)  # checks shapes
    uu = check_finite_array("u_values", u_values, ndim=1, allow_complex=True)
    bb = check_finite_array("b_values", b_values, ndim=1, allow_complex=True)
    U, Bg = np.meshgrid(uu, bb)
    data = data_term(s, U, Bg, tau, input_covariance)
    reg = regulariser(U, Bg, s.shape[-1], tau, every_step=s.ndim == 2, input_covariance=input_covariance)
    return {"u": uu, "b": bb, "data": data, "regulariser": reg, "total": data + reg}

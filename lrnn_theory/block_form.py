"""Complex (rotational) modes in real block form: a 2x2 rotation-scaling ``[[mu, -nu], [nu, mu]]`` per complex mode
and a 1x1 block per real one (S1 App. P.4.1).

Real networks compute complex modes exactly in this form: the NTK of the modes (``lrnn_theory.ntk``) and the
harness's block networks (``lrnn_theory.validation``) share these helpers.
"""
from __future__ import annotations

import numpy as np


def mode_block_sizes(task) -> np.ndarray:
    """Real hidden units per mode of a task: 2 for a complex mode (some singular value or initial a, b, c of the mode
    has a non-zero imaginary part), 1 for a real one (S1 App. P.4.1: a real Schur-like block form).

    Parameters
    ----------
    task : lrnn_theory.Task

    Returns
    -------
    ndarray of int, shape (K,)

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> mode_block_sizes(Task([[1.0, 1j], [1.0, 2.0]])).tolist()
    [2, 1]
    """
    parts = [task.singular_values.reshape(task.K, -1).T]  # every step: all (t, i) pairs of the mode
    parts += [np.asarray(getattr(task.init, k))[None, :] for k in "abc"]
    complex_mode = np.any(np.vstack([np.imag(p) for p in parts]) != 0, axis=0)
    return np.where(complex_mode, 2, 1)


def unit_values(values, sizes, axis: int = 0) -> np.ndarray:
    """Per-mode values repeated on every real unit of the mode: both coordinates of a 2x2 block carry the mode's
    value (for example its input covariance across steps, which a complex mode's two real inputs share).

    Parameters
    ----------
    values : array_like, one entry per mode along ``axis``
    sizes : array_like of int, shape (K,)
        1 or 2 per mode (``mode_block_sizes``); None leaves ``values`` as they are (one unit per mode).
    axis : int

    Returns
    -------
    ndarray, with ``sum(sizes)`` entries along ``axis``

    Examples
    --------
    >>> unit_values([0.5, 0.8], [2, 1]).tolist()
    [0.5, 0.5, 0.8]
    """
    values = np.asarray(values)
    return values if sizes is None else np.repeat(values, np.asarray(sizes, dtype=int), axis=axis)


def block_indices(sizes):
    """(first unit, last unit, is a 2x2 block) of every mode in the real block form of ``sizes``."""
    sizes = np.asarray(sizes, dtype=int)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return first, first + sizes - 1, sizes == 2


def real_block_form(values, sizes) -> np.ndarray:
    """Block-diagonal real matrices of complex mode values: ``[[mu, -nu], [nu, mu]]`` per complex value mu + i nu
    (size 2), the 1x1 block ``mu`` per real mode (size 1).

    The map z -> [[Re z, -Im z], [Im z, Re z]] turns complex products into matrix products and conjugation into
    transposition, so an LRNN with these blocks computes the complex modes' products exactly, and its squared
    Frobenius norm is 2 |z|^2 per complex mode.

    Parameters
    ----------
    values : array_like, shape (..., K)
        One (complex) value per mode; leading axes (for example trajectory steps) are kept.
    sizes : array_like of int, shape (K,)
        1 or 2 per mode (``mode_block_sizes``); a size-1 mode must have a real value.

    Returns
    -------
    ndarray, shape (..., N, N) with N = sum(sizes)

    Examples
    --------
    >>> real_block_form([2.0 + 1.0j, 3.0], [2, 1])
    array([[ 2., -1.,  0.],
           [ 1.,  2.,  0.],
           [ 0.,  0.,  3.]])
    """
    values = np.asarray(values)
    first, second, pair = block_indices(sizes)
    N = int(np.sum(sizes))
    out = np.zeros(values.shape[:-1] + (N, N))
    out[..., first, first] = values.real
    out[..., second, second] = values.real
    out[..., first[pair], second[pair]] = -values.imag[..., pair]
    out[..., second[pair], first[pair]] = values.imag[..., pair]
    return out


def block_values(M, sizes) -> np.ndarray:
    """Complex mode values read off the diagonal blocks of real matrices (the inverse of ``real_block_form``).

    A 2x2 block is projected on the rotation-scalings: mu = (M_00 + M_11)/2, nu = (M_10 - M_01)/2.

    Parameters
    ----------
    M : ndarray, shape (..., N, N)
    sizes : array_like of int, shape (K,)

    Returns
    -------
    ndarray of complex, shape (..., K)
    """
    M = np.asarray(M)
    first, second, _ = block_indices(sizes)
    mu = 0.5 * (M[..., first, first] + M[..., second, second])
    nu = 0.5 * (M[..., second, first] - M[..., first, second])
    return mu + 1j * nu


def block_task_correlations(singular_values, U, V, sizes) -> np.ndarray:
    """Population correlations of a rotational task in real form, ``Sigma^{YX_i} = U H_i V^T`` with
    ``H_i = real_block_form(d_i)``, for steps i = 1..T.

    With U = V = Q orthogonal this is S1's Q H_i Q^(-1) (App. P.4.1), a normal matrix with eigenvalues d_i (and
    their conjugates): the eigen case Sigma = P D_i P^dagger in real arithmetic. Different U and V are allowed; the
    mode dynamics depend only on the blocks.

    Parameters
    ----------
    singular_values : array_like, shape (K, T) or (K, T, T)
        Complex eigenvalue profile d of every mode; an every-step profile d_(t,i) gives
        ``Sigma^{Y_t X_i} = U H_(t,i) V^T`` (notes §9).
    U, V : ndarray, shapes (N_y, N) and (N_x, N)
        Orthonormal columns, N = sum(sizes).
    sizes : array_like of int, shape (K,)

    Returns
    -------
    ndarray, shape (T, N_y, N_x) or (T, T, N_y, N_x)
    """
    # the mode axis goes last; the step axes (one, or (t, i) at every step) are carried through as they are
    H = real_block_form(np.moveaxis(np.asarray(singular_values), 0, -1), sizes)  # (..., N, N)
    return np.einsum("yn,...nm,xm->...yx", U, H, V)

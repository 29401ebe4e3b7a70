"""The forward pass of a linear RNN from its weights, in numpy: what the numeric core needs of a network.

``h_1 = 0``, ``h_{t+1} = W_h h_t + W_x x_t`` (S1 eqs. 1-3). The empirical NTK (``lrnn_theory.ntk``) is computed from
these hidden states; the validation harness's ``LRNN`` (``lrnn_theory.validation.network``) builds its forward pass,
gradients and training on the same functions.
"""
from __future__ import annotations

import contextlib
import ctypes
import sys

import numpy as np
from threadpoolctl import ThreadpoolController

from .errors import LrnnInputError, check_finite_array

#: Hidden widths up to this run with single-threaded BLAS (see ``blas_threads``): W_h times N_h x 50 blocks take
#: under a millisecond on one thread up to here, and threads waiting for a busy core made N_h = 200 15x slower.
SINGLE_THREAD_MAX_HIDDEN = 512


def check_weights(W_x, W_h, W_y) -> tuple:
    """``(W_x, W_h, W_y)`` as finite float matrices of matching shapes (N_h, N_x), (N_h, N_h), (N_y, N_h), or a
    one-line error naming the weight."""
    W_x = check_finite_array("W_x", W_x, ndim=2)
    W_h = check_finite_array("W_h", W_h, ndim=2)
    W_y = check_finite_array("W_y", W_y, ndim=2)
    N_h = W_x.shape[0]
    if W_h.shape != (N_h, N_h):
        raise LrnnInputError(f"parameter 'W_h' must have shape ({N_h}, {N_h}) to match W_x {W_x.shape}, "
                             f"got {W_h.shape}")
    if W_y.shape[1] != N_h:
        raise LrnnInputError(f"parameter 'W_y' must have {N_h} columns to match W_x {W_x.shape}, "
                             f"got shape {W_y.shape}")
    return W_x, W_h, W_y


def check_inputs(X, N_x: int) -> np.ndarray:
    """Input sequences ``X`` as a float array of shape (P, T, N_x) with T >= 1, or a one-line error."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 3 or X.shape[2] != N_x or X.shape[1] < 1:
        raise LrnnInputError(f"parameter 'X' must have shape (P, T, {N_x}) with T >= 1, got shape {X.shape}")
    return X


def hidden_states(W_x, W_h, X) -> np.ndarray:
    """Hidden states ``h_1, ..., h_{T+1}`` of checked weights (``check_weights``) and inputs (``check_inputs``).

    Parameters
    ----------
    W_x : ndarray, shape (N_h, N_x)
    W_h : ndarray, shape (N_h, N_h)
    X : ndarray, shape (P, T, N_x)

    Returns
    -------
    ndarray, shape (T+1, P, N_h)
        Row 0 is ``h_1 = 0``.

    Examples
    --------
    >>> import numpy as np
    >>> hidden_states(np.eye(1), 0.5 * np.eye(1), np.ones((1, 3, 1)))[:, 0, 0].tolist()
    [0.0, 1.0, 1.5, 1.75]
    """
    P, T, N_x = X.shape
    N_h = W_x.shape[0]
    H = np.empty((T + 1, P, N_h))
    H[0] = 0.0
    drive = (X.reshape(P * T, N_x) @ W_x.T).reshape(P, T, N_h)  # W_x x_t for every sample and step, one product
    W_hT = W_h.T
    for t in range(T):
        np.matmul(H[t], W_hT, out=H[t + 1])
        H[t + 1] += drive[:, t]
    return H


def blas_threads(N_h: int):
    """``(context, threads)``: single-threaded BLAS for small networks (``threads`` is 1, or "default").

    The products of a small network take microseconds; a multi-threaded OpenBLAS on a shared machine spends far
    longer synchronising its threads (measured here: 30-50 times slower per step at N_h = 32 under load, 15 times at
    N_h = 200, K = 50; threads pay off only for products of milliseconds, N_h above ``SINGLE_THREAD_MAX_HIDDEN``).
    """
    if N_h > SINGLE_THREAD_MAX_HIDDEN:
        return contextlib.nullcontext(), "default"
    return _blas_controller().limit(limits=1, user_api="blas"), 1


def _loaded_library_count() -> int:
    """How many shared libraries the process has loaded (Linux: ``dl_iterate_phdr``, 30 us with ~150 loaded), or,
    where that call is missing, how many modules are imported: a new BLAS comes with a new shared library."""
    if _ITERATE_LIBRARIES is None:
        return len(sys.modules)
    count = [0]

    def visit(info, size, data):
        count[0] += 1
        return 0

    _ITERATE_LIBRARIES(_LIBRARY_VISITOR(visit), None)
    return count[0]


_LIBRARY_VISITOR = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
_ITERATE_LIBRARIES = getattr(ctypes.CDLL(None), "dl_iterate_phdr", None) if sys.platform.startswith("linux") else None

#: (loaded library count, ThreadpoolController) of the last ``_blas_controller`` call.
_CONTROLLER = [None, None]


def _blas_controller() -> ThreadpoolController:
    """A ``ThreadpoolController`` of the BLAS libraries loaded now, made again only when a shared library was loaded
    since (or none of its libraries is a BLAS).

    Finding the loaded libraries is what ``threadpool_limits`` spends its time on (1.5-2.5 ms per call with the
    suite's modules loaded, against 13 us to set the limits). The number of imported modules, the earlier rule,
    changed between most calls of the test suite (732 rebuilds); pure-Python imports load no library.
    """
    count = _loaded_library_count()
    if _CONTROLLER[0] != count or not _CONTROLLER[1].select(user_api="blas"):
        _CONTROLLER[:] = [count, ThreadpoolController()]
    return _CONTROLLER[1]

"""The exact neural tangent kernel of a finite-width linear RNN, and its prediction from the connectivity modes.

Result 4 of the paper (S1 §3.5, App. I-J; notes §7). The network is ``y_hat = sum_i W_y W_h^(T-i) W_x x_i``
(``h_1 = 0``, ``h_{t+1} = W_h h_t + W_x x_t``). Its NTK over P sequences is ``K = J J^T`` with J the Jacobian of all
outputs with respect to all weights; it is a sum of a W_x, a W_h and a W_y part.

Empirical kernel, without any Jacobian
--------------------------------------
With ``G_m = W_y W_h^m`` and output step s (s = T for the final output), the derivatives of output k at step s are

    d y_s / d W_x = sum_{t <= s} G_{s-t}[k]^T x_t^T,   d y_s / d W_h = sum_{t <= s} G_{s-t}[k]^T h_t^T,
    d y_s / d W_y = e_k h_{s+1}^T,

each a sum over input steps t of an outer product "hidden-side row (depends on s, t, k) x sample-side vector (depends
on p, t)". Their Frobenius inner products factor into two Gram matrices, one over (s, t, k) rows of ``G`` and one
over (p, t) input or hidden vectors, contracted over the step pairs (t, t'):

    K_part[(p, s, k), (q, s', l)] = sum_{t, t'} <F[s, t, k], F[s', t', l]> <z_{p,t}, z_{q,t'}>,

with ``F[s, t] = G_{s-t}`` for t <= s (else 0) and ``z = x`` (W_x part) or ``z = h`` (W_h part). The cost is two
matrix products and one contraction: no N_h^2-sized Jacobian, no loop over samples. This is the notes' §7.1 form
(``v_{i,r}`` there are the hidden states ``h_{T-r}`` here).

Kernel from the modes
---------------------
For an aligned network ``W_x = R diag(a) V^T``, ``W_h = R diag(b) R^T``, ``W_y = U diag(c) R^T`` the kernel in the
output-mode basis (outputs rotated by U) is diagonal in the output mode alpha, and with ``phi_alpha(t) = b_alpha^(T-t)``
and ``g_{alpha gamma}(t) = sum_{m=0}^{T-t-1} b_alpha^(T-t-1-m) b_gamma^m`` (= (b_alpha^(T-t) - b_gamma^(T-t)) /
(b_alpha - b_gamma); (T-t) b^(T-t-1) when the two are equal), for inputs x with mode coordinates x~ = V^T x:

    K[(p, alpha), (q, alpha)] = c_alpha^2 <sum_t phi_alpha(t) x_{p,t}, sum_t phi_alpha(t) x_{q,t}>          (W_x)
                              + sum_gamma c_alpha^2 a_gamma^2 (g_{alpha gamma} . x~_{p,:,gamma}) (g . x~_q)  (W_h)
                              + sum_gamma a_gamma^2 (phi_gamma . x~_{p,:,gamma}) (phi_gamma . x~_{q,:,gamma}) (W_y)

(derived and checked with sympy in ``lrnn_theory.derivations.ntk``). The W_h part couples every output mode alpha to
every input mode gamma. One function, ``mode_ntk``, gives it for every kind of mode and output: complex modes
(rotational tasks) through the real block network (a 2x2 block per complex mode, the block ``H(kappa)`` of a complex
kernel), every-step outputs with T replaced by the output step s (a kernel over (sample, step) pairs), and with
``U`` the kernel in the network's output coordinates when N_y exceeds the modes' units (the W_y part also acts on
the output directions no mode reaches). Feeding it a mode trajectory integrated with ``lrnn_theory.integrate``
gives the whole kernel-distance curve of an aligned network without training (``predicted_distance_curve``).

Kernel distance (S1 eq. 135, Fort et al. 2020): ``1 - <K0, K1>_F / (||K0||_F ||K1||_F)``.

Inputs correlated across time
-----------------------------
A task with an ``input_covariance`` changes nothing in the kernel: it is a function of the weights and of the inputs
X it is taken over, so ``mode_ntk`` and ``empirical_ntk`` take any X as they are. What changes is which inputs stand
for the population: ``probe_inputs(T, N_x, lambda)`` gives T N_x sequences with the task's summed second moments
``sum_p x_{p,t} x_{p,t'}^T = V diag(lambda_tt') V^T`` (the one-hot ``whitened_probe_inputs`` for white inputs), and any
sample set with exactly these moments has their kernel distances. The modes a, b, c along training do change (the
flow of the correlated task sums), and ``predicted_distance_curve`` takes them from ``integrate`` as for white tasks.

Which inputs the kernel is taken over
-------------------------------------
``kernel_inputs("probes", ...)`` gives the probes above (population data); ``kernel_inputs("samples", ...,
n_samples=16, seed=0)`` gives n Gaussian sample sequences with the same covariance but not whitened (a finite sample
set, as the paper's networks see). The two readings give different distances: the kernel moves most along the
probes' directions, and over finite Gaussian samples the distance is smaller (Fig. 5 at T = 8: about 0.99 over the
probes, 0.71-0.82 over 16 samples, the paper's colour scale being 0-0.8).

Input checks
------------
Every public function checks its arguments with one mechanism (``_array``, ``_choice``, ``check_int``) and raises
``LrnnInputError`` naming the parameter and its value: NaN or inf, strings, booleans, ragged lists, wrong numbers of
dimensions, and masked arrays. Masked arrays are refused, whatever their mask: the kernel of a sequence with a
masked entry is not defined, and silently using the hidden values (what ``np.asarray`` does) would be wrong; pass
``np.ma.filled(X, value)`` or the unmasked rows instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .block_form import block_indices, real_block_form
from .errors import LrnnInputError, bad, check_finite_array, check_int
from .network import blas_threads, check_inputs, check_weights, hidden_states

OUTPUTS = ("final", "every_step")
PARTS = ("W_x", "W_h", "W_y")
KERNEL_INPUTS = ("probes", "samples")
#: Default number of sample sequences for ``kernel_inputs("samples", ...)`` (the measurement of issue 23).
KERNEL_SAMPLES = 16


def _array(name: str, value, *, ndim: int | None = None, min_ndim: int = 0, allow_complex: bool = False):
    """``value`` as a finite float (or complex) array, or ``LrnnInputError`` naming ``name``; masked arrays refused."""
    if np.ma.isMaskedArray(value):
        raise bad(name, value, "not be a masked array (the kernel of a masked entry is undefined; pass "
                               "np.ma.filled(X, value) or the unmasked rows)")
    arr = check_finite_array(name, value, ndim=ndim, allow_complex=allow_complex)
    if arr.ndim < min_ndim:
        raise LrnnInputError(f"parameter '{name}' must have at least {min_ndim} dimension(s), got an array of "
                             f"shape {arr.shape}")
    return arr


def _choice(name: str, value, options) -> str:
    """``value`` if it is one of the strings ``options``, else ``LrnnInputError`` naming ``name``."""
    if not isinstance(value, str) or value not in options:
        raise bad(name, value, f"be one of {', '.join(options)}")
    return value


def _flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise bad(name, value, "be True or False")
    return bool(value)


@dataclass
class NTK:
    """An NTK as the sum of its W_x, W_h and W_y parts.

    Attributes
    ----------
    W_x, W_h, W_y : ndarray, shape (n, n)
        The parts; rows and columns ordered ``p * N_y + k`` (final output) or ``(p * T + s - 1) * N_y + k``
        (every step, output step s = 1..T).
    outputs : str
        ``"final"`` or ``"every_step"``.
    """

    W_x: np.ndarray
    W_h: np.ndarray
    W_y: np.ndarray
    outputs: str = "final"

    @property
    def total(self) -> np.ndarray:
        """``W_x + W_h + W_y``: the kernel."""
        return self.W_x + self.W_h + self.W_y

    def part(self, name: str) -> np.ndarray:
        """One part by weight name."""
        return getattr(self, _choice("part", name, PARTS))


def _gram_contraction(F: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """``sum_{t,t'} <F[s,t,k], F[s',t',l]> <Z[p,t], Z[q,t']>`` as a (P, S, N_y, P, S, N_y) array.

    F: (S, T, N_y, N_h) hidden-side rows; Z: (P, T, d) sample-side vectors.
    """
    S, T, N_y, N_h = F.shape
    P = Z.shape[0]
    F2 = F.reshape(S * T * N_y, N_h)
    rows = (F2 @ F2.T).reshape(S, T, N_y, S, T, N_y)
    Z2 = Z.reshape(P * T, -1)
    samples = (Z2 @ Z2.T).reshape(P, T, P, T)
    # Contract the step pairs (t, t') in one tensordot: (P, P, S, N_y, S, N_y) after the sum.
    out = np.tensordot(samples.transpose(0, 2, 1, 3), rows.transpose(1, 4, 0, 2, 3, 5), axes=([2, 3], [0, 1]))
    return out.transpose(0, 2, 3, 1, 4, 5)


def empirical_ntk(W_x, W_h, W_y, X, outputs: str = "final", parts: bool = False):
    """Exact NTK of a linear RNN over the sequences X.

    Parameters
    ----------
    W_x, W_h, W_y : array_like
        Weights of shapes (N_h, N_x), (N_h, N_h), (N_y, N_h).
    X : array_like, shape (P, T, N_x)
        Input sequences.
    outputs : {"final", "every_step"}
        The final output ``W_y h_{T+1}`` (the paper's main setting) or the output ``W_y h_{s+1}`` at every step
        s = 1..T (paper App. M.5).
    parts : bool
        Return an ``NTK`` with the W_x, W_h and W_y parts instead of their sum.

    Returns
    -------
    ndarray, shape (P N_y, P N_y) (final) or (P T N_y, P T N_y) (every step), or NTK
        Row ``p * N_y + k`` (final) or ``(p * T + s - 1) * N_y + k``: sample p, output step s, output unit k.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> W_x, W_h, W_y = rng.normal(size=(3, 2)), 0.5 * rng.normal(size=(3, 3)), rng.normal(size=(2, 3))
    >>> X = rng.normal(size=(5, 4, 2))
    >>> K = empirical_ntk(W_x, W_h, W_y, X)
    >>> K.shape, bool(np.allclose(K, K.T))
    ((10, 10), True)
    >>> k = empirical_ntk(W_x, W_h, W_y, X, parts=True)
    >>> bool(np.allclose(k.W_x + k.W_h + k.W_y, K))
    True
    """
    _choice("outputs", outputs, OUTPUTS)
    parts = _flag("parts", parts)
    W_x, W_h, W_y = check_weights(*(_array(n, W, ndim=2) for n, W in zip(PARTS, (W_x, W_h, W_y))))
    X = _array("X", X, ndim=3)
    # Small products: single-threaded BLAS (thread start-up costs more than the work; measured 50x on a loaded box).
    with blas_threads(W_x.shape[0])[0]:
        return _empirical_ntk(W_x, W_h, W_y, X, outputs, parts)


def _empirical_ntk(W_x, W_h, W_y, X, outputs, parts):
    X = check_inputs(X, W_x.shape[1])
    P, T, _ = X.shape
    N_h, N_y = W_x.shape[0], W_y.shape[0]
    H = hidden_states(W_x, W_h, X).transpose(1, 0, 2)  # h_1 .. h_{T+1} (h_1 = 0), (P, T+1, N_h)
    # G[m] = W_y W_h^m, m = 0..T-1.
    G = np.empty((T, N_y, N_h))
    G[0] = W_y
    for m in range(1, T):
        G[m] = G[m - 1] @ W_h
    out_steps = np.arange(1, T + 1) if outputs == "every_step" else np.array([T])
    S = out_steps.size
    lag = out_steps[:, None] - np.arange(1, T + 1)[None, :]  # s - t, (S, T)
    F = np.where((lag >= 0)[:, :, None, None], G[np.clip(lag, 0, T - 1)], 0.0)  # (S, T, N_y, N_h)
    n = P * S * N_y
    K_x = _gram_contraction(F, X).reshape(n, n)
    K_h = _gram_contraction(F, H[:, :T]).reshape(n, n)
    H_out = H[:, out_steps]  # h_{s+1}, (P, S, N_h)
    gram = H_out.reshape(P * S, N_h) @ H_out.reshape(P * S, N_h).T
    K_y = np.kron(gram, np.eye(N_y))
    if parts:
        return NTK(W_x=K_x, W_h=K_h, W_y=K_y, outputs=outputs)
    return K_x + K_h + K_y


def kernel_distance(K0, K1) -> float:
    """Kernel distance ``1 - <K0, K1>_F / (||K0||_F ||K1||_F)`` (S1 eq. 135).

    Parameters
    ----------
    K0, K1 : array_like
        Finite real kernels of the same shape (or stacks of kernels, broadcast against each other: the last two
        axes are the kernel), none of them zero.

    Returns
    -------
    float or ndarray
        0 for kernels that are equal up to a positive factor, at most 2.

    Raises
    ------
    LrnnInputError
        Naming ``K0`` or ``K1``: not numbers, NaN or inf, fewer than 2 dimensions, masked, a zero kernel (the
        distance is undefined), or the two kernels' shapes differ.

    Examples
    --------
    >>> import numpy as np
    >>> kernel_distance(np.eye(2), 3 * np.eye(2))
    0.0
    >>> round(kernel_distance(np.eye(2), np.diag([1.0, 0.0])), 4)
    0.2929
    """
    K0 = _array("K0", K0, min_ndim=2)
    K1 = _array("K1", K1, min_ndim=2)
    if K0.shape[-2:] != K1.shape[-2:]:
        raise LrnnInputError(f"parameters 'K0' and 'K1' must have the same shape, got {K0.shape} and {K1.shape}")
    squared = []
    for name, K in (("K0", K0), ("K1", K1)):
        norm2 = np.sum(K * K, axis=(-2, -1))
        if np.any(norm2 == 0):
            first = np.argwhere(np.atleast_1d(norm2 == 0))[0].tolist()
            where = f" (kernel {tuple(first)} of the stack)" if norm2.ndim else ""
            raise LrnnInputError(f"parameter '{name}' must not be a zero kernel{where}: the distance to it is "
                                 f"undefined (all-zero weights have a zero NTK)")
        squared.append(norm2)
    inner = np.sum(K0 * K1, axis=(-2, -1))
    d = np.maximum(1.0 - inner / np.sqrt(squared[0] * squared[1]), 0.0)  # the cosine is at most 1: drop rounding
    return float(d) if d.ndim == 0 else d


def whitened_probe_inputs(T: int, N_x: int) -> np.ndarray:
    """The T N_x one-hot sequences: input e_d at step t, zero elsewhere.

    They are white as a sum (``sum_p x_{p,t} x_{p,t'}^T = delta_{tt'} I``), and any exactly whitened sample set X is
    ``Q @ probes`` with Q of orthonormal columns, whose NTK is ``(Q kron I) K_probe (Q kron I)^T``: the kernel
    distance over whitened samples equals the distance over these probes. They stand for population data.

    Parameters
    ----------
    T, N_x : int

    Returns
    -------
    ndarray, shape (T N_x, T, N_x)
    """
    T, N_x = check_int("T", T, minimum=1), check_int("N_x", N_x, minimum=1)
    return np.eye(T * N_x).reshape(T * N_x, T, N_x)


def probe_inputs(T: int, N_x: int, input_covariance=None, V=None) -> np.ndarray:
    """Probe sequences that stand for population data with inputs correlated across time (white: the one-hot probes).

    What a correlated task changes for the NTK: nothing in the kernel itself (``mode_ntk`` and ``empirical_ntk``
    are functions of the weights and of the inputs X they are taken over), only which inputs stand for the
    population. These P = T N_x sequences have the summed second moments of the task's inputs,
    ``sum_p x_{p,t} x_{p,t'}^T = V diag(lambda_tt') V^T``, so any sample set with exactly these second moments is
    ``Q @ probes`` with Q of orthonormal columns and has the same kernel distances (as for the white probes).
    Sample (r, n) is ``R_n[r, t] v_n`` at step t, with R_n the symmetric square root of lambda of direction n.

    Parameters
    ----------
    T, N_x : int
    input_covariance : array_like or InputCovariance, optional
        lambda: (T, T) shared by every input direction, or (N_x, T, T) one per direction of V. None or the identity:
        ``whitened_probe_inputs`` exactly.
    V : ndarray, shape (N_x, N_x), optional
        Orthogonal input basis the per-direction covariances refer to (default: the coordinate axes).

    Returns
    -------
    ndarray, shape (T N_x, T, N_x)

    Examples
    --------
    >>> X = probe_inputs(3, 2, [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]])
    >>> np.einsum("pti,psi->ts", X, X)[0].round(12).tolist()          # summed over samples and both directions
    [2.0, 1.0, 0.5]
    """
    T, N_x = check_int("T", T, minimum=1), check_int("N_x", N_x, minimum=1)
    roots = _covariance_roots(input_covariance, T, N_x)
    V = _input_basis(V, N_x)
    if roots is None:
        X = whitened_probe_inputs(T, N_x)
    else:
        X = np.zeros((T, N_x, T, N_x))                                                   # sample (r, n), step, input
        directions = np.arange(N_x)
        X[:, directions, :, directions] = roots                                          # R_n[r, t] on direction n
        X = X.reshape(T * N_x, T, N_x)
    return X if V is None else X @ V.T


def kernel_inputs(kind: str, T: int, N_x: int, n_samples: int = KERNEL_SAMPLES, seed: int = 0,
                  input_covariance=None, V=None) -> np.ndarray:
    """Inputs to take the kernel over: the probes that stand for population data, or Gaussian sample sequences.

    Parameters
    ----------
    kind : {"probes", "samples"}
        "probes": ``probe_inputs(T, N_x, input_covariance, V)`` (T N_x sequences, exactly whitened as a set).
        "samples": ``n_samples`` sequences drawn from the task's input distribution, ``x_t ~ N(0, I)`` independently
        at every step for white inputs (``R_n z`` along direction n of V, z ~ N(0, I_T), for an input covariance):
        not whitened, as a finite training set is.
    T, N_x : int
        Steps and input dimensions.
    n_samples : int
        Number of sample sequences ("samples" only).
    seed : int
        Seed of the samples ("samples" only): the same seed gives the same sequences.
    input_covariance, V : optional
        As in ``probe_inputs``.

    Returns
    -------
    ndarray, shape (P, T, N_x)
        P = T N_x (probes) or n_samples (samples).

    Examples
    --------
    >>> kernel_inputs("samples", 3, 2, n_samples=5, seed=1).shape
    (5, 3, 2)
    >>> bool(np.array_equal(kernel_inputs("probes", 3, 2), whitened_probe_inputs(3, 2)))
    True
    """
    _choice("kernel_inputs", kind, KERNEL_INPUTS)
    if kind == "probes":
        return probe_inputs(T, N_x, input_covariance, V)
    T, N_x = check_int("T", T, minimum=1), check_int("N_x", N_x, minimum=1)
    n_samples = check_int("n_samples", n_samples, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    roots = _covariance_roots(input_covariance, T, N_x)
    V = _input_basis(V, N_x)
    Z = np.random.default_rng(seed).standard_normal((n_samples, T, N_x))
    X = Z if roots is None else np.einsum("nts,psn->ptn", roots, Z)   # step t of direction n: (R_n z_n)_t
    return X if V is None else X @ V.T


def _covariance_roots(input_covariance, T: int, N_x: int):
    """Symmetric square roots R_n (N_x, T, T) of the per-direction covariances across time, None when white."""
    lam = getattr(input_covariance, "matrix", input_covariance)
    if lam is None:
        return None
    lam = _array("input_covariance", lam)
    if lam.shape not in ((T, T), (N_x, T, T)):
        raise LrnnInputError(f"parameter 'input_covariance' must be ({T}, {T}) or ({N_x}, {T}, {T}) for inputs of "
                             f"T={T} steps and N_x={N_x} dimensions, got shape {lam.shape}")
    if np.array_equal(lam, np.broadcast_to(np.eye(T), lam.shape)):
        return None
    e, Q = np.linalg.eigh(np.broadcast_to(lam, (N_x, T, T)))
    return (Q * np.sqrt(np.clip(e, 0.0, None))[:, None, :]) @ np.swapaxes(Q, -1, -2)   # (N_x, T, T), symmetric


def _input_basis(V, N_x: int):
    """V (d, N_x) mapping mode coordinates to inputs, or None."""
    if V is None:
        return None
    V = _array("V", V, ndim=2)
    if V.shape[1] != N_x:
        raise LrnnInputError(f"parameter 'V' must have {N_x} columns (one per input direction), got shape {V.shape}")
    return V


# ---- the kernel from the modes --------------------------------------------------------------------------------
def _lag_profiles(b: np.ndarray, out_steps: np.ndarray, T: int, b_in: np.ndarray):
    """Profiles by output step s and input step t <= s (lag n = s - t), zero where t > s:

    phi[alpha, s, t] = b_alpha^n and g[alpha, gamma, s, t] = sum_(m < n) b_alpha^(n-1-m) b_in_gamma^m
    (= (b_alpha^n - b_in_gamma^n) / (b_alpha - b_in_gamma), n b^(n-1) when equal: the recursion has no 0/0).
    """
    K = b.shape[0]
    powers = b[:, None] ** np.arange(T)[None, :]  # b^n, n = 0..T-1
    powers_in = b_in[:, None] ** np.arange(T)[None, :]
    g = np.zeros((K, K, T + 1), dtype=np.result_type(b, b_in, float))  # by lag n; g_(n+1) = b_alpha g_n + b_in^n
    for n in range(T):
        g[:, :, n + 1] = b[:, None] * g[:, :, n] + powers_in[None, :, n]
    lag = out_steps[:, None] - np.arange(1, T + 1)[None, :]   # (S, T)
    causal = lag >= 0
    index = np.where(causal, lag, 0)
    phi = np.where(causal, powers[:, index], 0.0)
    return phi, np.where(causal, g[:, :, index], 0.0)


def _mode_coordinates(X, V, n: int, what: str) -> np.ndarray:
    """``X @ V`` (inputs in the mode basis), V defaulting to the identity when X already has n = N_x dimensions."""
    if V is None:
        if X.shape[2] != n:
            raise LrnnInputError(f"parameter 'X' must have {n} input dimensions ({what}) when V is not given, got "
                                 f"shape {X.shape}")
        V = np.eye(n)
    V = _array("V", V, ndim=2)
    if V.shape != (X.shape[2], n):
        raise LrnnInputError(f"parameter 'V' must have shape ({X.shape[2]}, {n}) for inputs of {X.shape[2]} "
                             f"dimensions and {n} {what}, got shape {V.shape}")
    return X @ V


def _block_sizes(a, b, c, sizes) -> np.ndarray:
    """Real units per mode: ``sizes`` checked, or 2 for a mode with a complex a, b or c and 1 otherwise."""
    K = a.shape[0]
    if b.shape != (K,) or c.shape != (K,):
        raise LrnnInputError(f"parameters 'a', 'b', 'c' must have the same length, got {a.shape}, {b.shape}, "
                             f"{c.shape}")
    complex_mode = np.any(np.imag([a, b, c]) != 0, axis=0)
    if sizes is None:
        return np.where(complex_mode, 2, 1)
    sizes = _array("sizes", sizes, ndim=1)
    if sizes.shape != (K,) or np.any((sizes != 1) & (sizes != 2)):
        raise bad("sizes", sizes.tolist(), f"be {K} block sizes of 1 or 2")
    sizes = sizes.astype(int)
    if np.any(complex_mode & (sizes == 1)):
        raise bad("sizes", sizes.tolist(), "be 2 for every mode with a complex a, b or c")
    return sizes


def _output_basis(U, N: int) -> np.ndarray:
    """U (N_y, N) with orthonormal columns, N_y >= N."""
    U = _array("U", U, ndim=2)
    if U.shape[1] != N or U.shape[0] < N or not np.allclose(U.T @ U, np.eye(N), rtol=0, atol=1e-8):
        raise bad("U", f"an array of shape {U.shape}", f"have {N} orthonormal columns (one per real output unit of "
                                                         f"the modes), N_y >= {N} rows")
    return U


def mode_ntk(a, b, c, X, V=None, parts: bool = False, sizes=None, outputs: str = "final", U=None):
    """NTK of an aligned network from its mode strengths, for real and complex modes, final or every-step outputs.

    The network is ``W_x = R H(a) V^T``, ``W_h = R H(b) R^T``, ``W_y = U H(c) R^T`` (any R with orthonormal
    columns: the kernel does not depend on R or N_h), with ``H`` the real block form
    (``lrnn_theory.block_form.real_block_form``): diag for real modes, a 2x2 rotation-scaling per complex mode.
    ``H(z) H(w)^T = H(z conj(w))`` and a hidden state's mode gamma is the complex number ``eta_gamma`` (inner
    products ``Re(eta conj(eta'))``), so with the inputs' complex mode coordinates ``xi_gamma = x~_first + i
    x~_second`` (x~ = V^T x; xi = x~ for a real mode) the kernel is the block ``H(kappa)`` between the outputs of
    mode alpha at steps s, s' (zero across output modes), per pair of samples p, q:

        kappa_x = |c_alpha|^2 z_(p,s) . conj(z_(q,s')),  z_(p,s) = sum_(t<=s) b_alpha^(s-t) x_(p,t) (all N_x)      (W_x)
        kappa_h = |c_alpha|^2 / 2 sum_gamma (e_(p,s) conj(e_(q,s')) + f_(p,s) conj(f_(q,s'))),                 (W_h)
            e_(p,s) = a_gamma sum_(t<=s) g_(alpha gamma)(s-t) xi_(p,t,gamma),
            f_(p,s) = conj(a_gamma) sum_(t<=s) g_(alpha conj(gamma))(s-t) conj(xi_(p,t,gamma)),
        W_y part: Re(sum_gamma w_(p,s) conj(w_(q,s'))) times the identity, w_(p,s) = a_gamma sum_(t<=s)
            b_gamma^(s-t) xi_(p,t,gamma) (the hidden state after step s, in mode coordinates),

    with g_(alpha gamma)(n) = sum_(m<n) b_alpha^(n-1-m) b_gamma^m. The final output is s = T; every-step outputs
    (App. M.5) take every s = 1..T, the kernel then being over (sample, step) pairs. For real modes e = f and this
    is the real formula of the module docstring.

    Without ``U`` the kernel is in the output-mode basis of the N = sum(sizes) real output units the modes reach:
    the network's kernel is ``(I kron U) K (I kron U)^T`` when N_y = N. With N_y > N the W_y part also moves the
    N_y - N output directions no mode reaches (d y / d W_y = e_k h^T for every output unit k): pass ``U`` to get the
    kernel in the network's output coordinates, exact for any N_y >= N.

    Parameters
    ----------
    a, b, c : array_like, shape (K,)
        Input, recurrent and output modes, real or complex.
    X : array_like, shape (P, T, N_x)
        Input sequences (any, not only whitened ones).
    V : array_like, shape (N_x, N), optional
        Input basis (default: the identity, inputs already in mode coordinates, N_x = N).
    parts : bool
        Return an ``NTK`` with the three parts.
    sizes : array_like of int, shape (K,), optional
        Real units per mode (``lrnn_theory.block_form.mode_block_sizes``): 2 for a complex mode, 1 for a real one;
        by default 2 exactly for the modes with a complex a, b or c. A size-2 mode with real values is the block
        ``s I_2``: two real modes.
    outputs : {"final", "every_step"}
        The final output only, or the output after every step.
    U : array_like, shape (N_y, N), optional
        Output basis with orthonormal columns: return the kernel in the network's output coordinates.

    Returns
    -------
    ndarray, shape (P S M, P S M), or NTK
        S = 1 (final) or T (every step), M = N (output-mode basis) or N_y (with ``U``). Row ``(p S + s - 1) M + k``:
        sample p, output step s, output unit k, as ``empirical_ntk``.

    Examples
    --------
    >>> import numpy as np
    >>> X = whitened_probe_inputs(T=1, N_x=1)       # T = 1, one mode: the two-layer kernel a^2 + c^2
    >>> mode_ntk([2.0], [0.5], [3.0], X).tolist()
    [[13.0]]
    >>> X = whitened_probe_inputs(T=1, N_x=2)       # a complex mode: (|a|^2 + |c|^2) I on its two units
    >>> mode_ntk([1j], [0.5], [2.0], X).round(12).tolist()
    [[5.0, 0.0, 0.0, 0.0], [0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 5.0, 0.0], [0.0, 0.0, 0.0, 5.0]]
    """
    _choice("outputs", outputs, OUTPUTS)
    parts = _flag("parts", parts)
    values = [_array(name, v, allow_complex=True) for name, v in zip("abc", (a, b, c))]
    for name, v in zip("abc", values):
        if v.ndim > 1:
            raise LrnnInputError(f"parameter '{name}' must be a number or a 1-D array of modes, got an array of "
                                 f"shape {v.shape}")
    values = [np.atleast_1d(v) for v in values]
    sizes = _block_sizes(*values, sizes)
    first, second, pair = block_indices(sizes)
    dtype = complex if np.any(pair) else float  # the real block form of a real network stays real
    a, b, c = (v.astype(complex) if dtype is complex else np.real(v) for v in values)  # sizes checked: imag 0
    X = _array("X", X, ndim=3)
    P, T, _ = X.shape
    N = int(sizes.sum())
    X_units = _mode_coordinates(X, V, N, "the real units of the modes")  # (P, T, N)
    xi = X_units[..., first]                                                # (P, T, K): complex mode coordinates
    if dtype is complex:
        xi = xi + 1j * np.where(pair, X_units[..., second], 0.0)
    out_steps = np.arange(1, T + 1) if outputs == "every_step" else np.array([T])
    S = out_steps.size
    phi, g = _lag_profiles(b, out_steps, T, b)
    _, g_conj = _lag_profiles(b, out_steps, T, np.conj(b))
    z = np.einsum("ast,ptd->apsd", phi, X).reshape(len(b), P * S, -1)      # (K, P S, N_x)
    k_x = np.abs(c)[:, None, None] ** 2 * np.einsum("and,amd->anm", z, np.conj(z))
    w = (np.einsum("gst,ptg->psg", phi, xi) * a).reshape(P * S, -1)        # hidden state after step s
    k_y = np.real(w @ np.conj(w).T)
    e = (np.einsum("agst,ptg->apsg", g, xi) * a).reshape(len(b), P * S, -1)
    f = (np.einsum("agst,ptg->apsg", g_conj, np.conj(xi)) * np.conj(a)).reshape(len(b), P * S, -1)
    k_h = 0.5 * np.abs(c)[:, None, None] ** 2 * (np.einsum("ang,amg->anm", e, np.conj(e))
                                                 + np.einsum("ang,amg->anm", f, np.conj(f)))
    n = P * S

    def blocks(per_mode):  # (K, n, n) per output mode -> (n N, n N), the block H(kappa) for each pair of rows
        per_mode = np.where((sizes == 1)[:, None, None], np.real(per_mode), per_mode)  # real modes: drop rounding
        return real_block_form(np.moveaxis(per_mode, 0, -1), sizes).transpose(0, 2, 1, 3).reshape(n * N, n * N)

    if U is None:
        kern = NTK(W_x=blocks(k_x), W_h=blocks(k_h), W_y=np.kron(k_y, np.eye(N)), outputs=outputs)
    else:
        U = _output_basis(U, N)
        rotate = np.kron(np.eye(n), U)
        kern = NTK(W_x=rotate @ blocks(k_x) @ rotate.T, W_h=rotate @ blocks(k_h) @ rotate.T,
                   W_y=np.kron(k_y, np.eye(U.shape[0])), outputs=outputs)
    return kern if parts else kern.total


def predicted_distance_curve(trajectory, X, V=None, sizes=None, outputs: str = "final", U=None) -> np.ndarray:
    """Kernel distance from the initial kernel along a mode trajectory, from the modes alone (no training).

    Parameters
    ----------
    trajectory : Trajectory
        Modes a, b, c over time, e.g. from ``lrnn_theory.integrate``.
    X : array_like, shape (P, T, N_x)
        Inputs the kernel is taken over, T the task's length (the trajectory does not record it); for population
        data ``whitened_probe_inputs(T, K)``.
    V, sizes, outputs, U : optional
        As in ``mode_ntk`` (input basis, block sizes of complex modes, every-step outputs, output basis: needed
        when N_y exceeds the modes' real units).

    Returns
    -------
    ndarray, shape (n_times,)
        Distance of the kernel at each recorded time from the kernel at the first.

    Examples
    --------
    >>> from lrnn_theory import Task, integrate
    >>> task = Task.constant(delta=1.0, T=2, init={"a": 0.1, "b": 0.1, "c": 0.1})
    >>> traj = integrate(task, 40.0, n_points=3)
    >>> d = predicted_distance_curve(traj, whitened_probe_inputs(2, 1))
    >>> float(d[0]), bool(d[-1] > 0.1)
    (0.0, True)
    """
    if not all(hasattr(trajectory, k) for k in ("t", "a", "b", "c")):
        raise bad("trajectory", trajectory, "be a Trajectory with t, a, b, c (e.g. from lrnn_theory.integrate)")
    X = _array("X", X, ndim=3)
    kernels = np.stack([mode_ntk(trajectory.a[j], trajectory.b[j], trajectory.c[j], X, V, sizes=sizes,
                                 outputs=outputs, U=U) for j in range(len(trajectory.t))])
    return kernel_distance(kernels[0], kernels)


__all__ = ["KERNEL_INPUTS", "NTK", "empirical_ntk", "kernel_distance", "kernel_inputs", "mode_ntk",
           "predicted_distance_curve", "probe_inputs", "whitened_probe_inputs"]

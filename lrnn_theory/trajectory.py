"""Trajectories of the mode strengths a, b, c (and u = ac, energy) over learning time, with CSV/NPZ output.

Both the integrated theory (``lrnn integrate``) and the trained networks of the validation harness
(``lrnn simulate``) produce a ``Trajectory``, so their files have the same long-format columns
``t,mode,a,b,c,u,energy`` (mode numbered from 0, t in the theory's time units: tau * da/dt = ...). Complex
(rotational) trajectories write the real and imaginary parts, ``t,mode,a_re,a_im,b_re,b_im,c_re,c_im,u_re,u_im,energy``,
and NPZ files hold complex arrays; ``Trajectory.polar`` gives the radius and unwrapped angle of b and u.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LrnnInputError
from .io import write_files_whole
from .task_sums import power_rows
from .tasks import lag_exponents, sum_coefficients_of

CSV_COLUMNS = ("t", "mode", "a", "b", "c", "u", "energy")
COMPLEX_CSV_COLUMNS = ("t", "mode", "a_re", "a_im", "b_re", "b_im", "c_re", "c_im", "u_re", "u_im", "energy")


def mode_energy(singular_values: np.ndarray, a, b, c, tau: float, input_covariance=None) -> np.ndarray:
    """Per-mode energy 1/(2 tau) sum over links |s_link - c b^(power) a|^2 for states of shape (..., K).

    With ``input_covariance`` (an ``InputCovariance`` or its (T, T) / (K, T, T) matrix; inputs correlated across
    time) the energy is that of ``correlated_mode_energy``; None or the identity gives the white energy below, bit
    for bit.

    A link joins an input step i to an output through b^(power): power T - i for the final output (singular values
    (K, T)), t - i for the output at step t >= i of an every-step task (singular values (K, T, T)). The residuals
    are summed per lag k around the lag mean m_k = alpha_k / w_k of the task sums (``sum_coefficients_of``):
    sum over the w_k links of lag k of |s_link - u b^k|^2 = w_k |m_k - u b^k|^2 + (their spread around m_k)
    exactly, so each state costs T operations whatever the layout (a final-output task has one link per lag, the
    mean is the singular value itself and the spread is exactly 0). Computed from residuals, not from the expanded
    (norm - 2 Re(conj(u) A) + |u|^2 B), which loses every digit to cancellation near zero loss; vectorized over
    leading axes and modes, chunked over the leading axis to bound memory for long trajectories.
    """
    s = np.asarray(singular_values)
    a, b, c = (np.asarray(x, dtype=np.result_type(x, float)) for x in (a, b, c))  # complex for rotational tasks
    K, T = s.shape[0], s.shape[-1]
    lam = getattr(input_covariance, "matrix", input_covariance)
    if lam is not None and not np.array_equal(lam, np.broadcast_to(np.eye(T), np.shape(lam))):
        return correlated_mode_energy(s, a, b, c, tau, lam)
    # The lag means (column k: lag k) and their weights, and the spread of each link around the mean of its lag
    # (lag_exponents maps every link of either layout to its lag).
    alpha, weights = sum_coefficients_of(s)
    means = alpha / weights
    lags, linked = lag_exponents(T, s.ndim == 3)
    deviation = np.where(linked, s - means[:, lags.astype(int)], 0.0)
    spread = np.sum(np.abs(deviation.reshape(K, -1)) ** 2, axis=1)
    flat_b = b.reshape(-1, K)
    flat_u = (a * c).reshape(-1, K)
    out = np.empty(flat_b.shape)
    chunk = max(1, int(_chunk_elements(flat_b.size) // max(1, K * T)))
    dtype = np.result_type(flat_b, flat_u, means)
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, flat_b.shape[0], chunk):
            sl = slice(start, start + chunk)
            residual = _lag_powers(flat_b[sl], T, dtype)  # b^k for every lag k, then in place: m_k - u b^k
            residual *= flat_u[sl, :, None]
            np.subtract(means, residual, out=residual)
            if residual.dtype.kind == "c":
                squared = residual.real * residual.real
                squared += residual.imag * residual.imag
            else:
                squared = np.multiply(residual, residual, out=residual)
            out[sl] = squared @ weights
            out[sl] += spread
            out[sl] *= 0.5 / tau
    return out.reshape(b.shape)


#: Elements (states x modes x lags) of one chunk of ``mode_energy``: 16 MB per temporary. Chunks of 2e7 elements
#: peaked at 655 MB for K = 10^4, T = 20 (issue 25) and ran 1.7x slower than chunks of 2e6.
ENERGY_CHUNK_ELEMENTS = 2_000_000


def _chunk_elements(states: int) -> int:
    """Elements of one chunk: no more than the states themselves (so that the energy of a short run does not
    outweigh the run: ``integrate`` at K = 1000 peaked at 5.8x the solver's memory with full-size chunks), at least
    2^16 (few chunks for small runs), at most ``ENERGY_CHUNK_ELEMENTS``."""
    return min(ENERGY_CHUNK_ELEMENTS, max(states, 2**16))


def _lag_powers(b: np.ndarray, T: int, dtype) -> np.ndarray:
    """b^k, k = 0..T-1, for b of shape (n, K): shape (n, K, T) (a view of ``task_sums.power_rows``; np.power with
    float exponents costs a pow() per element)."""
    return power_rows(b.astype(dtype), T).transpose(1, 2, 0)


def filter_factors(singular_values: np.ndarray, covariance: np.ndarray) -> tuple:
    """The factors of the correlated energy as a sum of squares, for any positive semi-definite covariance:
    (C, z) with, per mode,

        2 tau E = sum_rows |u (C P(b))_row - z_row|^2,     P(b) = (1, b, ..., b^(T-1)),

    one row per (output time t, r = 1..t) (final output: t = T only). Per output time t, R_t = diag(sqrt(e)) Q^T from
    the eigen-decomposition Lambda_t = Q diag(e) Q^T of the covariance of the inputs 1..t (R_t^T R_t = Lambda_t), so
    that ||R_t (w_t - w*_t)||^2 = (w_t - w*_t)^T Lambda_t (w_t - w*_t) for the network's filter w_(t,i) = u b^(t-i):
    C[row, m] = R_t[r, t - m] (the coefficient of b^m) and z = R_t w*_t = diag(1/sqrt(e)) Q^T sigma_t (0 on the
    null space of a singular Lambda_t, where w* is the pseudo-inverse's). ``correlated_mode_energy`` uses these
    only for a singular covariance (the Cholesky recursion needs a positive definite one).

    Parameters
    ----------
    singular_values : ndarray, shape (K, T) or (K, T, T)
        sigma (every step: sigma_(t, i) for i <= t).
    covariance : ndarray, shape (T, T) or (K, T, T)
        Lambda, shared by all modes or one per mode.

    Returns
    -------
    C : ndarray, shape (rows, T) (shared covariance) or (K, rows, T)
    z : ndarray, shape (K, rows), complex for complex sigma
    """
    s = np.asarray(singular_values)
    lam = np.asarray(covariance, dtype=float)
    T = s.shape[-1]
    every_step = s.ndim == 3
    times = range(1, T + 1) if every_step else (T,)
    C_parts, z_parts = [], []
    for t in times:  # T eigen-decompositions (vectorized over modes), or one for the final output
        e, Q = np.linalg.eigh(lam[..., :t, :t])
        tol = np.max(e, axis=-1, keepdims=True) * t * np.finfo(float).eps
        keep = e > tol
        root = np.where(keep, np.sqrt(np.where(keep, e, 0.0)), 0.0)
        inv_root = np.where(keep, 1.0 / np.where(keep, root, 1.0), 0.0)
        R = root[..., :, None] * np.swapaxes(Q, -1, -2)                 # (..., t, t): R^T R = Lambda_t
        C_t = np.zeros(R.shape[:-1] + (T,))
        C_t[..., :t] = R[..., ::-1]                                      # column m <- input step t - m
        sigma_t = s[:, t - 1, :t] if every_step else s
        Qs = np.einsum("...ji,kj->ki" if lam.ndim == 2 else "kji,kj->ki", Q, sigma_t)
        C_parts.append(C_t)
        z_parts.append(inv_root * Qs)
    return np.concatenate(C_parts, axis=-2), np.concatenate(z_parts, axis=-1)


#: A Cholesky pivot below this many T eps of the covariance's largest entry counts as singular (rounding level).
SINGULAR_PIVOT = 100.0


def cholesky_factors(singular_values: np.ndarray, covariance: np.ndarray) -> tuple:
    """(L, z) for a positive definite covariance: L the lower Cholesky factor of Lambda ((T, T) or (K, T, T)) and
    z[:, t - 1, :t] = L_t^-1 sigma_t (K, T, T), zero-padded (final output: t = T only, shape (K, 1, T)).

    The Cholesky factor of the covariance of the inputs 1..t is the leading block L_t of L, so
    (w_t - w*_t)^T Lambda_t (w_t - w*_t) = ||L_t^T w_t - z_t||^2 with L_t^T w*_t = L_t^-1 sigma_t for every output time
    t at once. Raises ``numpy.linalg.LinAlgError`` for a singular covariance, or one whose smallest pivot is at
    rounding level (below ``SINGULAR_PIVOT`` T eps of its largest entry): its pseudo-inverse is the eigen path's."""
    s = np.asarray(singular_values)
    lam = np.asarray(covariance, dtype=float)
    L = np.linalg.cholesky(lam)
    K, T = s.shape[0], s.shape[-1]
    pivots = np.diagonal(L, axis1=-2, axis2=-1) ** 2
    if np.min(pivots) <= SINGULAR_PIVOT * T * np.finfo(float).eps * np.max(np.abs(lam)):
        raise np.linalg.LinAlgError("singular covariance")
    every_step = s.ndim == 3
    z = np.zeros((K, T if every_step else 1, T), dtype=s.dtype)
    for row, t in enumerate(range(1, T + 1) if every_step else (T,)):
        sigma_t = s[:, t - 1, :t] if every_step else s
        if lam.ndim == 2:
            z[:, row, :t] = np.linalg.solve(L[:t, :t], sigma_t.T).T
        else:
            z[:, row, :t] = np.linalg.solve(L[:, :t, :t], sigma_t[..., None])[..., 0]
    return L, z


def correlated_mode_energy(singular_values: np.ndarray, a, b, c, tau: float, covariance: np.ndarray) -> np.ndarray:
    """Per-mode energy (w - w*)^H Lambda (w - w*) / (2 tau) of inputs correlated across time, for states (..., K).

    w_i = u b^(T-i) is the network's filter and w* = Lambda^+ sigma the best linear filter (every step: one filter
    per output time t over the inputs 1..t, with Lambda_t, summed over t). Computed as a sum of squares, never from
    the expanded (norm - 2 Re(conj(u) A) + |u|^2 B), which loses every digit to cancellation near zero loss:

    * positive definite Lambda (``cholesky_factors``): ||L_t^T w_t - L_t^-1 sigma_t||^2, where
      g_r(t) = (L_t^T w_t)_r / u = sum_(i=r..t) L_ir b^(t-i) follows the recursion g(t) = b g(t-1) + L[t, :]: T steps
      of O(T) per state for every output time together (every-step outputs cost what the final output does);
    * singular Lambda: the eigen-factors of ``filter_factors`` (T (T + 1) / 2 rows per state for every-step outputs).

    Vectorized over states and modes, chunked over the leading axis to bound memory.
    """
    s = np.asarray(singular_values)
    a, b, c = (np.asarray(x, dtype=np.result_type(x, float)) for x in (a, b, c))
    K, T = s.shape[0], s.shape[-1]
    flat_b = b.reshape(-1, K)
    flat_u = (a * c).reshape(-1, K)
    try:
        L, z = cholesky_factors(s, covariance)
    except np.linalg.LinAlgError:
        return _eigen_energy(s, flat_u, flat_b, tau, covariance).reshape(b.shape)
    every_step = z.shape[1] > 1
    out = np.empty(flat_b.shape)
    dtype = np.result_type(flat_b, flat_u, z)
    chunk = max(1, int(ENERGY_CHUNK_ELEMENTS // max(1, K * T)))
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, flat_b.shape[0], chunk):
            bb = flat_b[start:start + chunk][..., None]                    # (n, K, 1)
            uu = flat_u[start:start + chunk][..., None]
            g = np.zeros((bb.shape[0], K, T), dtype=dtype)
            total = np.zeros(bb.shape[:2])
            for t in range(T):  # g(t) = b g(t-1) + L[t, :], on the entries r <= t (the others stay 0)
                gt = g[..., :t + 1]
                gt *= bb
                gt += L[t, :t + 1] if L.ndim == 2 else L[:, t, :t + 1]
                if every_step or t == T - 1:
                    d = uu * gt - z[:, t if every_step else 0, :t + 1]
                    if np.iscomplexobj(d):
                        total += np.einsum("nkr,nkr->nk", d.real, d.real) + np.einsum("nkr,nkr->nk", d.imag, d.imag)
                    else:
                        total += np.einsum("nkr,nkr->nk", d, d)
            out[start:start + chunk] = 0.5 / tau * total
    return out.reshape(b.shape)


def _eigen_energy(s, flat_u, flat_b, tau, covariance) -> np.ndarray:
    """``correlated_mode_energy`` for a singular covariance, through ``filter_factors`` (states (n, K))."""
    K, T = s.shape[0], s.shape[-1]
    C, z = filter_factors(s, covariance)
    rows = C.shape[-2]
    CT = np.ascontiguousarray(np.swapaxes(C, -1, -2))                    # (T, rows), or (K, T, rows) per mode
    out = np.empty(flat_b.shape)
    chunk = max(1, int(ENERGY_CHUNK_ELEMENTS // max(1, K * max(rows, T))))
    with np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, flat_b.shape[0], chunk):
            sl = slice(start, start + chunk)
            powers = np.ascontiguousarray(_lag_powers(flat_b[sl], T, flat_b.dtype))
            n = powers.shape[0]
            if CT.ndim == 2:  # one BLAS product (a broadcast 3-D matmul was measured 15x slower)
                Rw = (powers.reshape(n * K, T) @ CT).reshape(n, K, rows)
            else:
                Rw = np.matmul(powers.transpose(1, 0, 2), CT).transpose(1, 0, 2)
            d = flat_u[sl][..., None] * Rw - z
            out[sl] = 0.5 / tau * np.sum(d.real ** 2 + d.imag ** 2 if np.iscomplexobj(d) else d * d, axis=-1)
    return out


@dataclass
class Trajectory:
    """Mode strengths over time.

    Attributes
    ----------
    t : ndarray, shape (n,)
        Time in the theory's units (tau * da/dt = ...).
    a, b, c : ndarray, shape (n, K)
        Input, recurrent and output mode strengths.
    energy : ndarray, shape (n, K)
        Per-mode energy (loss) 1/(2 tau) sum_i r_i^2.
    info : dict
        How the trajectory was produced (method, function evaluations, learning rate, ...).
    """

    t: np.ndarray
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    energy: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def u(self) -> np.ndarray:
        """Input-output mode u = a c."""
        return self.a * self.c

    @property
    def K(self) -> int:
        return self.a.shape[1]

    @property
    def is_complex(self) -> bool:
        """Complex modes (a rotational task)."""
        return any(np.iscomplexobj(getattr(self, k)) for k in ("a", "b", "c"))

    def polar(self, name: str = "b"):
        """Radius and angle of a mode strength over time: ``(abs, angle)``, the angle unwrapped along time.

        Parameters
        ----------
        name : {"a", "b", "c", "u"}

        Returns
        -------
        radius, angle : ndarray, shape (n, K)
            ``|z|`` and ``arg z`` in radians, continuous in time (``numpy.unwrap`` over the time axis).
        """
        if name not in ("a", "b", "c", "u"):
            raise LrnnInputError(f"parameter 'name' must be one of a, b, c, u, got {name!r}")
        z = getattr(self, name)
        return np.abs(z), np.unwrap(np.angle(z), axis=0)

    @property
    def total_energy(self) -> np.ndarray:
        return self.energy.sum(axis=1)

    def final(self) -> dict:
        """Final a, b, c, u, energy per mode."""
        return {k: getattr(self, k)[-1] for k in ("a", "b", "c", "u", "energy")}

    def interpolate(self, t) -> "Trajectory":
        """Linear interpolation of every column at times ``t`` (within the stored range)."""
        t = np.asarray(t, dtype=float)
        if t.size and (t.min() < self.t[0] or t.max() > self.t[-1]):
            raise LrnnInputError(f"parameter 't' must lie within [{self.t[0]:g}, {self.t[-1]:g}], got "
                                 f"[{t.min():g}, {t.max():g}]")
        right = np.clip(np.searchsorted(self.t, t, side="right"), 1, len(self.t) - 1)
        left = right - 1
        span = self.t[right] - self.t[left]
        w = np.divide(t - self.t[left], span, out=np.zeros_like(t), where=span > 0)[:, None]
        cols = {k: (1 - w) * getattr(self, k)[left] + w * getattr(self, k)[right] for k in ("a", "b", "c", "energy")}
        return Trajectory(t=t, info=dict(self.info), **cols)

    # ---- output -------------------------------------------------------------------------------------------------
    def _table(self) -> tuple:
        """The CSV columns and rows: one row per (time, mode)."""
        n, K = self.a.shape
        # Presentation, not a code path per kind of task: a CSV cell holds a real number, so complex modes take
        # two columns (real and imaginary part) each.
        if self.is_complex:
            columns = COMPLEX_CSV_COLUMNS
            parts = [f(getattr(self, k)).ravel() for k in ("a", "b", "c", "u") for f in (np.real, np.imag)]
        else:
            columns = CSV_COLUMNS
            parts = [self.a.ravel(), self.b.ravel(), self.c.ravel(), self.u.ravel()]
        rows = np.column_stack([np.repeat(self.t, K), np.tile(np.arange(K), n), *parts, self.energy.ravel()])
        return columns, rows

    def csv_bytes(self) -> bytes:
        """Long format, one row per (time, mode), columns ``t,mode,a,b,c,u,energy`` (complex modes:
        ``t,mode,a_re,a_im,b_re,b_im,c_re,c_im,u_re,u_im,energy``)."""
        columns, rows = self._table()
        buf = io.StringIO()
        buf.write(",".join(columns) + "\n")
        np.savetxt(buf, rows, delimiter=",", fmt=["%.12g", "%d"] + ["%.12g"] * (len(columns) - 2))
        return buf.getvalue().encode()

    def npz_bytes(self) -> bytes:
        """Arrays t (n,), a, b, c, u, energy (n, K) in NPZ format (a, b, c, u complex for complex modes)."""
        buf = io.BytesIO()
        np.savez(buf, t=self.t, a=self.a, b=self.b, c=self.c, u=self.u, energy=self.energy)
        return buf.getvalue()

    def encoded(self, path, param: str = "out") -> bytes:
        """The file contents for ``path``: CSV or NPZ by its suffix."""
        suffix = Path(path).suffix.lower()
        if suffix == ".npz":
            return self.npz_bytes()
        if suffix == ".csv":
            return self.csv_bytes()
        raise LrnnInputError(f"parameter '{param}' must end in .csv or .npz, got '{path}'")

    def to_csv(self, path, param: str = "out") -> None:
        """Write ``csv_bytes`` whole or not at all."""
        write_files_whole([(path, self.csv_bytes(), param)])

    def to_npz(self, path, param: str = "out") -> None:
        """Write ``npz_bytes`` whole or not at all."""
        write_files_whole([(path, self.npz_bytes(), param)])

    def save(self, path, param: str = "out") -> None:
        """CSV or NPZ by the file suffix, whole or not at all."""
        write_files_whole([(path, self.encoded(path, param), param)])

    @classmethod
    def from_csv(cls, path) -> "Trajectory":
        """Read a file written by ``to_csv``."""
        with open(path, newline="") as fh:
            header = next(csv.reader(fh))
        if tuple(header) not in (CSV_COLUMNS, COMPLEX_CSV_COLUMNS):
            raise LrnnInputError(f"trajectory file '{path}' must have columns {','.join(CSV_COLUMNS)}, got "
                                 f"{','.join(header)}")
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        K = int(data[:, 1].max()) + 1
        n = data.shape[0] // K
        data = data.reshape(n, K, len(header))
        if len(header) == len(COMPLEX_CSV_COLUMNS):
            a, b, c = (data[:, :, 2 + 2 * j] + 1j * data[:, :, 3 + 2 * j] for j in range(3))
            return cls(t=data[:, 0, 0], a=a, b=b, c=c, energy=data[:, :, 10])
        return cls(t=data[:, 0, 0], a=data[:, :, 2], b=data[:, :, 3], c=data[:, :, 4], energy=data[:, :, 6])

    @classmethod
    def from_npz(cls, path) -> "Trajectory":
        with np.load(path) as z:
            return cls(t=z["t"], a=z["a"], b=z["b"], c=z["c"], energy=z["energy"])

"""The one engine: a task as the coefficients of its task sums A(b) and B(b), per mode and per power of b.

Every result of the toolkit sees a task only through this object. Per mode, with u = a c,

    tau E(u, b) = (norm - 2 Re(conj(u) A(b)) + |u|^2 B(b)) / 2,
    A(b) = sum_k alpha[:, k] conj(b)^k,
    B(b) = sum_(k, l) G[:, k, l] conj(b)^k b^l            (G Hermitian per mode, B real),

so the flow, the zero-loss solutions and stability, fixed points, learning order, extrapolation, the regulariser, the
finite-learning-rate map and the NTK from the modes all follow from (alpha, G, norm). For real b the conjugates are
no-ops: A(b) = sum_k alpha_k b^k and B(b) = sum_p beta_p b^p with beta_p = sum_(k + l = p) G_kl.

What fills the coefficients is the kind of task, as data:

* final output, white inputs (the paper's main text): alpha[:, k] = s_(T-k), G = I (B = sum_k |b|^(2k));
* complex (rotational) tasks: complex alpha (eigenvalues d_i), the same G;
* every-step outputs (App. M): alpha[:, k] = sum_t s_(t, t-k) over the lag k, G = diag(T - k);
* inputs correlated across time: a full G (``Task(..., input_covariance=...)``).

A diagonal G is stored as its diagonal (``weights``, shared (n,) or per mode (K, n)) and evaluated through the
table of |b|^(2k); a full G as its polynomial coefficients per power of b (real b) and as the matrix itself
(complex b). That choice is made here, once, and no result branches on it.

``norm`` is the part of the target variance the inputs can explain, sum_i |s_i|^2 for white inputs; it shifts the
energy, never the dynamics.
"""
from __future__ import annotations

import threading

import numpy as np


#: Wirtinger partials (i, j) = d^(i+j) B / db^i d(conj b)^j of B(b, conj b) that ``TaskSums.evaluate_complex``
#: returns, i <= j (B_ji = conj(B_ij)), by total order (``derivations.complex.B_PARTIALS_EVALUATED``).
COMPLEX_PARTIALS = ((0, 0), (0, 1), (0, 2), (1, 1), (0, 3), (1, 2))


def complex_partials(order: int) -> tuple:
    """The (i, j) of ``COMPLEX_PARTIALS`` with i + j <= order."""
    return tuple(p for p in COMPLEX_PARTIALS if sum(p) <= order)


def falling_factorial(k: np.ndarray, order: int) -> np.ndarray:
    """k (k-1) ... (k-order+1): the factor of b^(k-order) in the order-th derivative of b^k (1 for order 0)."""
    out = np.ones_like(k, dtype=float)
    for j in range(order):
        out = out * (k - j)
    return out


#: Up to this many modes the table of powers is one running product (half the time of the repeated squaring there,
#: measured at K <= 10, T = 20: the solver calls it 7 times per step); beyond it repeated squaring is faster.
RUNNING_PRODUCT_MODES = 64


def power_rows(b: np.ndarray, rows: int, out: np.ndarray | None = None) -> np.ndarray:
    """Table P[k] = b^k, k = 0..rows-1, shape (rows,) + b.shape, by repeated squaring (``out``: where to write it).

    The filled rows b^0..b^(m-1) are multiplied by b^m to give b^m..b^(2m-1): log2(n) vectorized products over
    contiguous rows instead of a running product (measured several times faster than ``np.cumprod``, up to ~30x
    at K = 10,000; benchmarks/bench_batched.py), with a rounding error growing like log n, not n. Up to
    ``RUNNING_PRODUCT_MODES`` values it is one running product instead.
    """
    P = np.empty((rows,) + b.shape, dtype=b.dtype) if out is None else out
    P[0] = 1.0
    if b.size <= RUNNING_PRODUCT_MODES:  # one call, where the calls are the cost (error ~ n eps, < 1e-13)
        P[1:] = b  # then the running product in place: np.broadcast_to alone costs more (2.8 us) than both
        np.multiply.accumulate(P[1:], axis=0, out=P[1:])
        return P
    b_m = b
    m = 1
    while m < rows:
        width = min(m, rows - m)
        np.multiply(P[:width], b_m, out=P[m:m + width])
        m += width
        if m < rows:
            b_m = b_m * b_m
    return P


class TaskSums:
    """A(b), B(b) and their b-derivatives for every mode of a task, vectorized over modes and powers.

    Parameters
    ----------
    alpha : array_like, shape (K, n)
        Coefficient of conj(b)^k in A(b), per mode (complex for rotational tasks).
    weights : array_like, shape (n,) or (K, n), optional
        Diagonal of G: B(b) = sum_k weights[k] |b|^(2k). All ones (the paper's final-output task) by default.
    gram : array_like, shape (n, n) or (K, n, n), optional
        A full Hermitian G, B(b) = sum_(k, l) G_kl conj(b)^k b^l (inputs correlated across time). Give either
        ``weights`` or ``gram``.
    norm : array_like, shape (K,), optional
        Energy offset per mode (sum_i |s_i|^2 for a white task); sum_k |alpha_k|^2 / weights by default, which is
        exact for the final-output white task.

    Examples
    --------
    >>> sums = TaskSums([[1.0, 0.5, 0.25]])          # s = (0.25, 0.5, 1): A(b) = 1 + 0.5 b + 0.25 b^2
    >>> A, B = sums.values(np.array([0.5]))
    >>> float(A[0]), float(B[0])                     # B = 1 + 0.25 + 0.0625
    (1.3125, 1.3125)
    >>> float(sums.optimal_u(np.array([0.5]))[0]), float(sums.reduced_energy(np.array([0.5]))[0])
    (1.0, 0.0)
    """

    #: Tables with a mode axis (the last), sliced by ``subset``.
    PER_MODE = ("_a_rows", "_b_rows", "_alpha_rows", "norm", "_gram", "_beta")

    def __init__(self, alpha, weights=None, gram=None, norm=None):
        alpha = np.asarray(alpha)
        alpha = alpha.astype(complex if alpha.dtype.kind == "c" else float)
        if alpha.ndim != 2:
            raise ValueError(f"alpha must have shape (K, n), got {alpha.shape}")
        K, n = alpha.shape
        self.K, self.n = K, n
        self.T = n  # number of powers of b (the trajectory length of a final-output task)
        self.alpha = alpha                       # (K, n), as given
        self._alpha_rows = alpha.T.copy()        # (n, K): mode axis last, as every table below
        if weights is not None and gram is not None:
            raise ValueError("give either the weights of B (a diagonal G) or its full gram matrix G, not both")
        self._gram = self._gram_modes = self._beta = None
        if gram is not None:
            G = np.asarray(gram, dtype=float)
            G = np.broadcast_to(G, (K, n, n)) if G.ndim == 2 else G
            if G.shape != (K, n, n):
                raise ValueError(f"gram must have shape ({n}, {n}) or ({K}, {n}, {n}), got {G.shape}")
            if np.array_equal(G, np.diagonal(G, axis1=1, axis2=2)[..., None] * np.eye(n)):
                weights, G = np.diagonal(G, axis1=1, axis2=2), None
            else:
                self._gram = np.ascontiguousarray(np.moveaxis(G, 0, -1))  # (n, n, K)
                self._gram_modes = np.ascontiguousarray(G)                # (K, n, n): batched products per mode
                beta = np.zeros((2 * n - 1, K))
                for k in range(n):  # beta_p = sum_(k + l = p) G_kl: the polynomial of B in real b
                    beta[k:k + n] += G[:, k, :].T
                self._beta = beta
        self.diagonal = self._gram is None
        if self.diagonal:
            w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
            if w.shape not in ((n,), (K, n)):
                raise ValueError(f"weights of B must have shape ({n},) or ({K}, {n}), got {w.shape}")
            self.weights = w
        else:
            self.weights = None
        self.norm = (np.asarray(norm, dtype=float) if norm is not None else self._default_norm()).copy()
        self._orders = -1
        self._build_tables(2)
        self._work = {}  # reusable memory for the tables of powers, by (thread, dtype, rows); shared with subsets

    # ---- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_task(cls, task) -> "TaskSums":
        """The task sums of ``task`` (``Task.sums``)."""
        return task.sums()

    def _default_norm(self) -> np.ndarray:
        if self.diagonal:
            w = np.broadcast_to(self.weights, (self.K, self.n)).T
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.sum(np.where(w > 0, np.abs(self._alpha_rows) ** 2 / np.where(w > 0, w, 1.0), 0.0), axis=0)
        return np.zeros(self.K)

    def _build_tables(self, orders: int):
        """Coefficient tables of the derivatives 0..orders of A and B, per power, mode axis last.

        A^(j)(b) = sum_k ff(k, j) alpha_k b^(k-j): row k - j of ``_a_rows[j]``. A diagonal B is a polynomial in
        x = b^2: B^(j)(b) = sum_k w_k ff(2k, j) b^(2k-j) is b^(j mod 2) times a sum over the table of b^(2m),
        m = k - ceil(j/2). A full B is a polynomial in b with coefficients beta_p, like A.
        """
        if orders <= self._orders:
            return
        n, K = self.n, self.K
        k = np.arange(n, dtype=float)
        a_rows = np.zeros((orders + 1, n, K), dtype=self.alpha.dtype)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow surfaces as a non-finite rate, reported later
            for j in range(orders + 1):
                if j < n:
                    a_rows[j, :n - j] = self._alpha_rows[j:] * falling_factorial(k[j:], j)[:, None]
            if self.diagonal:
                w = self.weights
                shared = w.ndim == 1
                b_rows = np.zeros((orders + 1, n) + (() if shared else (K,)))
                for j in range(orders + 1):
                    shift = (j + 1) // 2
                    if shift >= n:
                        continue
                    factor = falling_factorial(2 * k[shift:], j)
                    wk = w[shift:] if shared else w[:, shift:].T
                    b_rows[j, :n - shift] = (factor * wk) if shared else factor[:, None] * wk
            else:
                p = np.arange(2 * n - 1, dtype=float)
                b_rows = np.zeros((orders + 1, 2 * n - 1, K))
                for j in range(min(orders + 1, 2 * n - 1)):
                    b_rows[j, :2 * n - 1 - j] = self._beta[j:] * falling_factorial(p[j:], j)[:, None]
        self._a_rows = a_rows
        self._b_rows = b_rows
        self._b_shared = b_rows.ndim == 2  # one row per power for all modes: B sums as one matrix product
        self._orders = orders

    # ---- evaluation for the flow (b of shape (K,)) ----------------------------------------------------------------
    def powers(self, b: np.ndarray) -> np.ndarray:
        """Table P[:, k] = b^k, k = 0..n-1 (shape (K, n), a transposed view of ``powers_by_row``)."""
        return self.powers_by_row(b).T

    def powers_by_row(self, b: np.ndarray, out: np.ndarray | None = None, rows: int | None = None) -> np.ndarray:
        """Table P[k] = b^k, k = 0..rows-1 (n by default), shape (rows, K) (``power_rows``)."""
        return power_rows(b, self.n if rows is None else rows, out)

    def _tables(self, b: np.ndarray, b_rows: int):
        """Powers of b (n rows) and the table B is summed over (b_rows rows): |b|^(2k) for a diagonal G, b^p for a
        full one; in work memory reused between calls (per thread): fresh megabyte-sized arrays on every call cost
        page faults that were measured to take longer than the arithmetic (K = 10^4, T = 20)."""
        k = b.shape[0]
        rows = max(self.n, b_rows)
        key = (threading.get_ident(), b.dtype.char)
        work = self._work.get(key)
        if work is None or work[0].size < rows * k:
            work = self._work[key] = (np.empty(rows * k, b.dtype), np.empty(self.n * k))
        P = self.powers_by_row(b, out=work[0][:rows * k].reshape(rows, k), rows=rows)
        if not self.diagonal:
            return P[:self.n], P[:b_rows]
        squares = work[1][:self.n * k].reshape(self.n, k)
        if P.dtype.kind == "c":
            np.multiply(P.real, P.real, out=squares)
            squares += P.imag * P.imag
        else:
            np.multiply(P, P, out=squares)
        return P, squares

    def derivatives(self, b: np.ndarray, order: int = 1):
        """(A, A', ..., A^(order)), (B, B', ..., B^(order)) at real b (shape (K,)): two arrays (order + 1, K)."""
        self._build_tables(order)
        P, table = self._tables(b, self._b_rows.shape[1])
        As = np.einsum("jtk,tk->jk", self._a_rows[:order + 1], P[:self._a_rows.shape[1]])
        if self._b_shared:
            Bs = self._b_rows[:order + 1] @ table
        else:
            Bs = np.einsum("jtk,tk->jk", self._b_rows[:order + 1], table)
        if self.diagonal:
            Bs[1::2] *= b  # odd derivatives of a polynomial in b^2 carry one factor b
        return As, Bs

    def evaluate(self, b: np.ndarray, second: bool = False):
        """(A, A', [A''], B, B', [B'']) at real b (shape (K,)); second derivatives only when ``second``."""
        As, Bs = self.derivatives(b, 2 if second else 1)
        return (*As, *Bs)

    def evaluate_all(self, b: np.ndarray):
        """(A, A', A'', A''', B, B', B'', B''') at real b (the modified flow's Jacobian needs third derivatives)."""
        As, Bs = self.derivatives(b, 3)
        return (*As, *Bs)

    def evaluate_complex(self, b: np.ndarray, second: bool = False, order: int | None = None):
        """Complex task sums at complex b (shape (K,)): A, A', [A''] at conj(b), then the Wirtinger partials
        B_ij = d^(i+j) B / db^i d(conj b)^j of the real B(b, conj b) = sum_kl G_kl conj(b)^k b^l for the (i, j) of
        ``complex_partials`` (i <= j; B_ji = conj(B_ij)): B, dB/d(conj b), [d^2B/d(conj b)^2, d^2B/db d(conj b)]
        (the complex flow of ``lrnn_theory.derivations.complex``). ``order`` asks for the derivatives of total order
        0..order instead (the complex modified flow's Jacobian needs 3: then also d^3B/d(conj b)^3 and
        d^3B/db d(conj b)^2). B and the B_ii are real arrays, the others complex.

        A diagonal G (B = beta(|b|^2)) sums its partials over the table of |b|^(2k), as the real flow does: for i <= j,
        B_ij = b^(j-i) sum_k w_k ff(k, i) ff(k, j) |b|^(2(k-j)). A full G gives them as quadratic forms in the powers of
        conj(b), B_ij = sum_kl ff(k, j) conj(b)^(k-j) G_kl ff(l, i) b^(l-i): one batched matrix product per i over the
        modes (``_gram_modes``)."""
        orders = order if order is not None else (2 if second else 1)
        self._build_tables(orders)
        b = np.asarray(b)
        P, table = self._tables(np.conj(b), self.n)
        As = np.einsum("jtk,tk->jk", self._a_rows[:orders + 1], P)
        pairs = complex_partials(orders)
        with np.errstate(over="ignore", invalid="ignore"):  # overflow surfaces as a non-finite rate, reported later
            Bs = self._diagonal_partials(b, table, pairs) if self.diagonal else self._gram_partials(P, pairs)
        return (*As, *Bs)

    def _diagonal_partials(self, b: np.ndarray, table: np.ndarray, pairs) -> list:
        """B_ij (i <= j) of B = sum_k w_k |b|^(2k) from the table x^k, x = |b|^2 (rows k, modes last)."""
        n = self.n
        k = np.arange(n, dtype=float)
        w = self.weights
        out = []
        for i, j in pairs:
            coeff = np.zeros((n,) + (() if w.ndim == 1 else (self.K,)))
            if j < n:
                ff = falling_factorial(k[j:], i) * falling_factorial(k[j:], j)
                coeff[:n - j] = ff * w[j:] if w.ndim == 1 else ff[:, None] * w[:, j:].T
            value = coeff @ table if w.ndim == 1 else np.einsum("tk,tk->k", coeff, table)
            for _ in range(j - i):  # b^(j-i): the powers of b left over (none on the diagonal i = j, real there)
                value = value * b
            out.append(value)
        return out

    def _gram_partials(self, P: np.ndarray, pairs) -> list:
        """B_ij (i <= j) of a full G from the powers P[k] = conj(b)^k (rows k, modes last): with
        v_j[k] = ff(k, j) conj(b)^(k-j), B_ij = v_j^T G conj(v_i), the products G conj(v_i) for every i at once."""
        n, K = self.n, P.shape[1]
        k = np.arange(n, dtype=float)
        rows = sorted({i for i, _ in pairs})
        V = np.empty((K, n, len(rows)), dtype=complex)            # conj(v_i) per mode, one column per i
        np.conjugate(P.T, out=V[:, :, 0])                         # conj(v_0) = b^l
        for col, i in enumerate(rows[1:], start=1):
            V[:, :i, col] = 0.0
            np.multiply(V[:, :n - i, 0], falling_factorial(k[i:], i), out=V[:, i:, col])
        # real G times complex vectors: one batched real product over the interleaved real and imaginary parts
        GV = (self._gram_modes @ V.view(float)).view(complex)      # (K, n, len(rows))
        out = []
        for i, j in pairs:
            weighted = GV[:, j:, rows.index(i)]
            if j:
                weighted = weighted * falling_factorial(k[j:], j)
            value = np.einsum("mk,km->m", weighted, P[:n - j])
            out.append(value.real if i == j else value)
        return out

    # ---- coefficient tables over monomials of b (the exact gradient-descent map) ------------------------------------
    def power_coefficients(self, order: int, slots=None) -> np.ndarray:
        """Coefficients of b^p in A^(0..order)(b) and B^(0..order)(b) at real b, per mode: (slots, P, K), the rows
        A, A', ..., A^(order), B, ..., B^(order) (the compiled sums' order; ``slots`` picks some of them) and P up to
        the last power with a non-zero coefficient. A diagonal B is b^(j mod 2) times a polynomial in b^2, so its
        row m of ``_b_rows[j]`` is the coefficient of b^(2m + j mod 2); a full B's rows are its powers of b."""
        self._build_tables(order)
        n, K = self.n, self.K
        out = np.zeros((2 * (order + 1), 2 * n, K), dtype=self.alpha.dtype)
        for j in range(order + 1):
            out[j, :n] = self._a_rows[j]
            rows = self._b_rows[j] if self._b_rows.ndim == 3 else self._b_rows[j][:, None]
            if self.diagonal:
                out[order + 1 + j, j % 2::2] = rows
            else:
                out[order + 1 + j, :2 * n - 1] = rows
        out = out if slots is None else out[list(slots)]
        used = np.flatnonzero(np.any(out != 0, axis=(0, 2)))
        return out[:, :used[-1] + 1 if used.size else 1]

    def monomial_coefficients(self, order: int, pairs, slots=None) -> tuple:
        """Coefficients of the monomials conj(b)^k b^l in the complex task sums, per mode: (monomials (M, 2) of
        (k, l), coefficients (slots, M, K) complex), the sums in the compiled order A^(0..order)(conj b),
        conj(A^(0..order)), then B_ij for the (i, j) of ``pairs`` (``slots`` picks some), only monomials with a
        non-zero coefficient. A^(j)(conj b) = sum_t ff(t + j, j) alpha_(t+j) conj(b)^t; B_ij = sum_kl ff(k, j)
        ff(l, i) G_kl conj(b)^(k-j) b^(l-i) for any (diagonal or full) G."""
        self._build_tables(order)
        n, K = self.n, self.K
        reads = set(range(2 * (order + 1) + len(pairs)) if slots is None else slots)
        if self.diagonal:
            w = np.broadcast_to(self.weights, (K, n))
            gram = {(k, k): w[:, k] for k in range(n) if np.any(w[:, k] != 0)}
        else:
            gram = {(k, l): self._gram_modes[:, k, l] for k, l in np.argwhere(np.any(self._gram_modes != 0, axis=0))}
        columns, entries = {}, []

        def add(slot, k, l, value):
            if slot in reads:
                entries.append((slot, columns.setdefault((int(k), int(l)), len(columns)), value))

        for j in range(order + 1):
            for t in range(n - j):
                add(j, t, 0, self._a_rows[j, t])
                add(order + 1 + j, 0, t, np.conj(self._a_rows[j, t]))
        for s, (i, j) in enumerate(pairs):
            for (k, l), value in gram.items():
                if k >= j and l >= i:
                    factor = falling_factorial(np.array(float(k)), j) * falling_factorial(np.array(float(l)), i)
                    add(2 * (order + 1) + s, k - j, l - i, factor * value)
        rows = sorted(reads)
        coefficients = np.zeros((len(rows), len(columns), K), dtype=complex)
        for slot, column, value in entries:
            coefficients[rows.index(slot), column] += value
        monomials = np.array(list(columns), dtype=np.int64).reshape(-1, 2)
        return monomials, coefficients

    # ---- values on grids, for the results (b of shape (K, ...), real or complex) -------------------------------
    def values(self, b, shared_grid: bool = False):
        """A(b) and B(b) for b of shape (K,) or (K, ...) (one grid of b per mode), real or complex.

        ``shared_grid``: b is one grid (G,) for every mode and A, B are (K, G), as for that grid repeated per mode,
        from the powers of b once and one matrix product per sum (the grid searches of ``stability``: 16 modes on
        4001 points, 20x faster than the per-mode tables)."""
        b = np.asarray(b)
        b = np.asarray(b, dtype=complex if b.dtype.kind == "c" else float)  # no copy when it is one already
        extra = b.ndim - 1
        k = np.arange(self.n, dtype=float)
        conj_b = np.conj(b) if b.dtype.kind == "c" else b  # (the golden-section search calls this ~80 times a run)
        # (np.add.reduce: np.sum without its Python wrapper)
        with np.errstate(over="ignore", invalid="ignore"):
            if shared_grid:
                P = conj_b[:, None] ** k                                         # (G, n)
                A = self.alpha @ P.T
            else:
                P = conj_b[..., None] ** k                                       # (K, ..., n)
                alpha = self.alpha.reshape((self.K,) + (1,) * extra + (self.n,))
                A = np.add.reduce(alpha * P, axis=-1)
            if self.diagonal:
                # real b: b^(2k) as one power (the rounding the results had before the engine: same minimisers)
                squares = b[..., None] ** (2 * k) if b.dtype.kind != "c" else np.abs(P) ** 2
                if shared_grid:
                    B = np.broadcast_to(self.weights, (self.K, self.n)) @ squares.T
                else:
                    w = self.weights
                    if w.ndim == 2 or b.shape[:1] != (self.K,):  # else the same products without broadcast_to
                        w = np.broadcast_to(w, (self.K, self.n)).reshape((self.K,) + (1,) * extra + (self.n,))
                    B = np.add.reduce(w * squares, axis=-1)
            elif shared_grid:
                B = np.real(np.einsum("gk,klm,gl->mg", P, self._gram, np.conj(P)))
            else:
                G = np.moveaxis(self._gram, -1, 0).reshape((self.K,) + (1,) * extra + (self.n, self.n))
                B = np.real(np.einsum("...k,...kl,...l->...", P, G, np.conj(P)))
        if np.isrealobj(b):
            A = np.real(A) if np.isrealobj(self.alpha) else A
        return A, B

    def energy(self, u, b, tau: float = 1.0) -> np.ndarray:
        """E(u, b) = (norm - 2 Re(conj(u) A(b)) + |u|^2 B(b)) / (2 tau) per mode."""
        A, B = self.values(b)
        u = np.asarray(u)
        norm = self.norm.reshape((self.K,) + (1,) * (np.ndim(A) - 1))
        return (norm - 2 * np.real(np.conj(u) * A) + np.abs(u) ** 2 * B) / (2 * tau)

    def optimal_u(self, b) -> np.ndarray:
        """u*(b) = A(b) / B(b): the input-output product that minimises E at fixed b."""
        A, B = self.values(b)
        with np.errstate(divide="ignore", invalid="ignore"):
            return A / B

    def reduced_energy(self, b, tau: float = 1.0, shared_grid: bool = False) -> np.ndarray:
        """E*(b) = (norm - |A(b)|^2 / B(b)) / (2 tau): the energy at the best u for this b (``shared_grid``: b is one
        grid (G,) for every mode, E* is (K, G), see ``values``)."""
        A, B = self.values(b, shared_grid)
        norm = self.norm.reshape((self.K,) + (1,) * (np.ndim(A) - 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return (norm - np.abs(A) ** 2 / B) / (2 * tau)

    # ---- parts ----------------------------------------------------------------------------------------------------
    def subset(self, modes: np.ndarray) -> "TaskSums":
        """The task sums of the modes ``modes`` only (the batched solver drops modes that have finished)."""
        part = object.__new__(type(self))
        part.__dict__.update(self.__dict__)
        for name in self.PER_MODE:
            value = getattr(self, name)
            if value is None or (name == "_b_rows" and self._b_shared):
                continue
            setattr(part, name, np.take(value, modes, axis=-1))  # contiguous, unlike [..., modes]
        part.alpha = self.alpha[modes]
        if self._gram_modes is not None:
            part._gram_modes = self._gram_modes[modes]
        if self.diagonal and self.weights.ndim == 2:
            part.weights = self.weights[modes]
        part.K = len(modes)
        return part

"""A linear recurrent neural network in numpy, with exact backpropagation-through-time gradients.

The model is the paper's (S1 eqs. 1-3): ``h_1 = 0``, ``h_{t+1} = W_h h_t + W_x x_t`` for ``t = 1..T``, output
``y_hat = W_y h_{T+1}``. Unrolled, ``y_hat = sum_i W_y W_h^(T-i) W_x x_i``: the input at step ``i`` reaches the output
through ``W_h^(T-i)``, the last step with no recurrent factor. With every-step outputs (App. M) the network is read
out after every step, ``y_hat_t = W_y h_{t+1} = sum_(i<=t) W_y W_h^(t-i) W_x x_i``.

Two gradients are provided, both of the summed loss with a factor 1/2 (the theory's convention):

- ``loss_and_grad_samples(X, Y)``: BPTT over a batch of sequences, ``L = 1/2 sum_p ||y_p - y_hat_p||^2`` (or any
  loss whose derivative with respect to the outputs is given), vectorized over the batch with one matrix product per
  time step.
- ``loss_and_grad_population(C)``: the same loss in expectation over exactly whitened inputs,
  ``L = 1/2 sum_i ||C_i - W_y W_h^(T-i) W_x||_F^2`` with ``C_i = Sigma^{YX_i}``: an adjoint recursion over the T
  steps with no samples at all.
- Every-step outputs: ``loss_and_grad_samples(X, Y)`` with targets Y of shape (P, T, N_y),
  ``L = 1/2 sum_p sum_t ||y_{p,t} - y_hat_{p,t}||^2``; ``loss_and_grad_population_every_step(C)`` with
  ``C[t-1, i-1] = Sigma^{Y_t X_i}``. Both losses depend on the maps ``M_k = W_y W_h^k W_x`` per lag k only, through
  lag targets and weights (``G_k = C_(T-k)``, ``w_k = 1`` for the final output; ``G_k = sum_t C_(t,t-k)``,
  ``w_k = T - k`` for every step), so one adjoint recursion serves both.

Training evaluates a loss of fixed data at every step, with what depends on the data only computed once:
``PopulationLoss`` / ``EveryStepPopulationLoss`` (the lag targets of correlations) and ``SampleLoss`` (samples
through their second moments, the sample loss to rounding at a cost independent of the number of samples).
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.errors import LrnnInputError
from lrnn_theory.network import check_inputs, check_weights, hidden_states

from .data import real_block_form

WEIGHT_NAMES = ("W_x", "W_h", "W_y")


class LRNN:
    """Linear recurrent network with input, recurrent and output weights.

    Parameters
    ----------
    W_x : array_like, shape (N_h, N_x)
        Input weights.
    W_h : array_like, shape (N_h, N_h)
        Recurrent weights.
    W_y : array_like, shape (N_y, N_h)
        Output weights.

    Examples
    --------
    >>> import numpy as np
    >>> net = LRNN.aligned([1.0], [0.5], [2.0], np.eye(1), np.eye(1), np.eye(1))
    >>> X = np.ones((1, 3, 1))              # one sequence, T = 3, one input dimension
    >>> float(net.forward(X)[0, 0])           # 2 * (0.25 + 0.5 + 1) * 1
    3.5
    """

    def __init__(self, W_x, W_h, W_y):
        self.W_x, self.W_h, self.W_y = check_weights(W_x, W_h, W_y)

    # ---- construction -------------------------------------------------------------------------------------------
    @classmethod
    def aligned(cls, a, b, c, U, V, R) -> "LRNN":
        """Network aligned with the task's singular vectors: ``W_x = R diag(a) V^T``, ``W_h = R diag(b) R^T``,
        ``W_y = U diag(c) R^T``.

        Parameters
        ----------
        a, b, c : array_like, shape (K,)
            Input, recurrent and output mode strengths.
        U : array_like, shape (N_y, K)
            Output singular vectors (orthonormal columns).
        V : array_like, shape (N_x, K)
            Input singular vectors (orthonormal columns).
        R : array_like, shape (N_h, K)
            Hidden basis (orthonormal columns; N_h >= K).

        Returns
        -------
        LRNN
        """
        a, b, c = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (a, b, c))
        U, V, R = (np.atleast_2d(np.asarray(m, dtype=float)) for m in (U, V, R))
        K = a.shape[0]
        for name, vec in (("b", b), ("c", c)):
            if vec.shape != (K,):
                raise LrnnInputError(f"parameter '{name}' must have {K} entries like 'a', got shape {vec.shape}")
        for name, mat in (("U", U), ("V", V), ("R", R)):
            if mat.ndim != 2 or mat.shape[1] != K:
                raise LrnnInputError(f"parameter '{name}' must have {K} columns (one per mode), got shape "
                                     f"{mat.shape}")
        return cls(R * a @ V.T, R * b @ R.T, U * c @ R.T)

    @classmethod
    def aligned_blocks(cls, a, b, c, U, V, R, sizes) -> "LRNN":
        """Network aligned with a rotational task's real block form: ``W_x = R H(a) V^T``, ``W_h = R H(b) R^T``,
        ``W_y = U H(c) R^T`` with ``H = real_block_form`` (a 2x2 block [[mu, -nu], [nu, mu]] per complex mode).

        Parameters
        ----------
        a, b, c : array_like of complex, shape (K,)
            Complex input, recurrent and output mode strengths.
        U, V, R : ndarray, shapes (N_y, N), (N_x, N), (N_h, N)
            Orthonormal columns, N = sum(sizes) real units.
        sizes : array_like of int, shape (K,)
            2 per complex mode, 1 per real one (``lrnn_theory.validation.data.mode_block_sizes``).

        Returns
        -------
        LRNN

        Examples
        --------
        >>> import numpy as np
        >>> net = LRNN.aligned_blocks([1j], [0.5j], [1.0], np.eye(2), np.eye(2), np.eye(2), [2])
        >>> net.W_h
        array([[ 0. , -0.5],
               [ 0.5,  0. ]])
        """
        Ha, Hb, Hc = (real_block_form(np.atleast_1d(np.asarray(v, dtype=complex)), sizes) for v in (a, b, c))
        return cls(R @ Ha @ V.T, R @ Hb @ R.T, U @ Hc @ R.T)

    def copy(self) -> "LRNN":
        """A network with copies of these weights."""
        clone = LRNN.__new__(LRNN)  # the weights were validated already
        clone.W_x, clone.W_h, clone.W_y = self.W_x.copy(), self.W_h.copy(), self.W_y.copy()
        return clone

    @property
    def weights(self) -> tuple:
        """``(W_x, W_h, W_y)``."""
        return self.W_x, self.W_h, self.W_y

    @property
    def N_x(self) -> int:
        """Input dimension."""
        return self.W_x.shape[1]

    @property
    def N_h(self) -> int:
        """Hidden width."""
        return self.W_x.shape[0]

    @property
    def N_y(self) -> int:
        """Output dimension."""
        return self.W_y.shape[0]

    def __repr__(self) -> str:
        return f"LRNN(N_x={self.N_x}, N_h={self.N_h}, N_y={self.N_y})"

    # ---- forward ------------------------------------------------------------------------------------------------
    def _check_inputs(self, X) -> np.ndarray:
        return check_inputs(X, self.N_x)

    def _drive(self, X: np.ndarray) -> np.ndarray:
        """``W_x x_t`` for every sample and step, (P, T, N_h), as one 2-D product (BLAS-friendly)."""
        P, T, N_x = X.shape
        return (X.reshape(P * T, N_x) @ self.W_x.T).reshape(P, T, self.N_h)

    def hidden_states(self, X) -> np.ndarray:
        """Hidden states ``h_1 .. h_{T+1}``.

        Parameters
        ----------
        X : array_like, shape (P, T, N_x)

        Returns
        -------
        ndarray, shape (T+1, P, N_h)
            Row 0 is ``h_1 = 0``.
        """
        return hidden_states(self.W_x, self.W_h, self._check_inputs(X))

    def forward(self, X) -> np.ndarray:
        """Output ``W_y h_{T'+1}`` after a sequence of any length T'.

        Parameters
        ----------
        X : array_like, shape (P, T', N_x)

        Returns
        -------
        ndarray, shape (P, N_y)
        """
        X = self._check_inputs(X)
        drive = self._drive(X)
        h = np.zeros((X.shape[0], self.N_h))
        for t in range(X.shape[1]):
            h = h @ self.W_h.T + drive[:, t]
        return h @ self.W_y.T

    def forward_every_step(self, X) -> np.ndarray:
        """Outputs ``W_y h_{t+1}`` after every step t = 1..T' (every-step read-out, App. M).

        Parameters
        ----------
        X : array_like, shape (P, T', N_x)

        Returns
        -------
        ndarray, shape (P, T', N_y)
        """
        H = self.hidden_states(X)
        return np.swapaxes(H[1:] @ self.W_y.T, 0, 1)

    def end_to_end(self, T: int) -> np.ndarray:
        """Per-step maps ``W_y W_h^(T-i) W_x`` for steps i = 1..T.

        Parameters
        ----------
        T : int
            Trajectory length.

        Returns
        -------
        ndarray, shape (T, N_y, N_x)
            Row i-1 is step i.
        """
        maps = np.empty((T, self.N_y, self.N_x))
        P = self.W_x
        for k in range(T):  # k = T - i
            maps[T - 1 - k] = self.W_y @ P
            P = self.W_h @ P
        return maps

    # ---- gradients ----------------------------------------------------------------------------------------------
    def loss_and_grad_samples(self, X, Y, output_grad=None):
        """Loss and exact BPTT gradients over a batch of sequences.

        Parameters
        ----------
        X : ndarray, shape (P, T, N_x)
            Input sequences.
        Y : ndarray, shape (P, N_y), or (P, T, N_y) for every-step outputs
            Final targets, or the targets after every step (then the loss sums over the steps).
        output_grad : callable, optional
            ``output_grad(residual) -> (loss, dloss/dy_hat)`` with ``residual = y_hat - Y`` of shape (P, N_y)
            (every step: (T, P, N_y)). By default the theory's loss ``1/2 sum_p ||y_hat_p - y_p||^2``.

        Returns
        -------
        loss : float
        grads : tuple of ndarray
            Gradients with respect to ``(W_x, W_h, W_y)``.
        """
        X = self._check_inputs(X)
        P, T, _ = X.shape
        H = self.hidden_states(X)
        every_step = np.ndim(Y) == 3
        if every_step:  # outputs W_y h_{t+1} for t = 1..T, residuals (T, P, N_y)
            residual = H[1:] @ self.W_y.T - np.swapaxes(Y, 0, 1)
        else:
            residual = H[T] @ self.W_y.T - Y
        if output_grad is None:
            loss, G = 0.5 * float(np.sum(residual * residual)), residual
        else:
            loss, G = output_grad(residual)
        if every_step:
            g_y = G.reshape(T * P, -1).T @ H[1:].reshape(T * P, self.N_h)
            injected = G @ self.W_y  # dL/dh_{t+1} from the output at step t
        else:
            g_y = G.T @ H[T]
        # Backward pass: D[t] = dL/dh_{t+1}; the weight gradients are then two large products over (t, p).
        D = np.empty((T, P, self.N_h))
        D[T - 1] = injected[T - 1] if every_step else G @ self.W_y
        for t in range(T - 1, 0, -1):
            np.matmul(D[t], self.W_h, out=D[t - 1])
            if every_step:
                D[t - 1] += injected[t - 1]
        # h_{t+1} = W_h h_t + W_x x_t: dW_x = sum_t D[t]^T x_t, dW_h = sum_t D[t]^T h_t (h_1 = 0 drops out)
        g_x = D.reshape(T * P, self.N_h).T @ X.transpose(1, 0, 2).reshape(T * P, -1)
        g_h = D[1:].reshape((T - 1) * P, self.N_h).T @ H[1:T].reshape((T - 1) * P, self.N_h)
        return loss, (g_x, g_h, g_y)

    def loss_and_grad_correlations(self, C):
        """The population loss of correlations ``C`` and its gradients: ``loss_and_grad_population`` for final-output
        correlations (T, N_y, N_x), ``loss_and_grad_population_every_step`` for every-step ones (T, T, N_y, N_x).

        Parameters
        ----------
        C : ndarray, shape (T, N_y, N_x) or (T, T, N_y, N_x)

        Returns
        -------
        loss : float
        grads : tuple of ndarray
        """
        return population_loss(C)(self)

    def loss_and_grad_population(self, C):
        """The theory's loss ``1/2 sum_i ||C_i - W_y W_h^(T-i) W_x||_F^2`` and its exact gradients.

        This is the sample loss in expectation over inputs whitened as a sum (``sum_p x_{p,t} x_{p,t'}^T =
        delta_{tt'} I``) with targets ``y = sum_i C_i x_i``; with exactly whitened samples the two are equal.

        Parameters
        ----------
        C : ndarray, shape (T, N_y, N_x)
            Input-output correlations ``Sigma^{YX_i}``, row ``i-1`` for step ``i``.

        Returns
        -------
        loss : float
        grads : tuple of ndarray
            Gradients with respect to ``(W_x, W_h, W_y)``.
        """
        return PopulationLoss(C)(self)

    def loss_and_grad_population_every_step(self, C):
        """Every-step population loss ``1/2 sum_t sum_i ||C_(t,i) - [i <= t] W_y W_h^(t-i) W_x||_F^2`` and gradients.

        The sample loss ``1/2 sum_p sum_t ||y_{p,t} - W_y h_{p,t+1}||^2`` in expectation over inputs whitened as a sum,
        with targets ``y_t = sum_i C_(t,i) x_i``.

        Parameters
        ----------
        C : ndarray, shape (T, T, N_y, N_x)
            ``C[t-1, i-1] = Sigma^{Y_t X_i}``, the correlation of the output at time t with the input at step i.

        Returns
        -------
        loss : float
        grads : tuple of ndarray
            Gradients with respect to ``(W_x, W_h, W_y)``.
        """
        return EveryStepPopulationLoss(C)(self)

    def _lag_powers(self, T: int, squares: list | None = None) -> np.ndarray:
        """``W_h^k W_x`` for k = 0..T-1 side by side, shape (N_h, T N_x); the squarings W_h^m (m = 1, 2, 4, .. < T)
        it makes are appended to ``squares``, if given (``_lag_gradients`` reuses them)."""
        N_h, N_x = self.W_x.shape
        # Layout (N, k N_x): block k = W_h^k W_x, so that stacks over k are free. By doubling: blocks m..2m-1 are
        # W_h^m times blocks 0..m-1, one product each (log2 T products and squarings instead of T small ones).
        # ndarray.dot in the training step: the same BLAS call as matmul (equal to the bit) at a third of its
        # overhead (0.35 against 0.95 us at N = 4), which is the cost of these small products.
        powers = np.empty((N_h, T * N_x))
        powers[:, :N_x] = self.W_x
        W_m = self.W_h
        squares = [] if squares is None else squares
        squares.append(W_m)
        m = 1
        while m < T:
            width = min(m, T - m)
            powers[:, m * N_x:(m + width) * N_x] = W_m.dot(powers[:, :width * N_x])
            m += width
            if m < T:
                W_m = W_m.dot(W_m)
                squares.append(W_m)
        return powers

    def _lag_gradients(self, D: np.ndarray, P_flat: np.ndarray, squares: list | None = None):
        """Gradients of a loss whose derivative with respect to the lag map M_k = W_y W_h^k W_x is D_k.

        ``D`` (N_y, T N_x) holds D_k side by side, ``P_flat`` the lag powers and ``squares`` the squarings that
        ``_lag_powers`` made with them (None: made again where the adjoint needs them). With
        Z_k = W_y^T D_k, the adjoint Lambda_T = 0, Lambda_j = Z_j + W_h^T Lambda_(j+1) gives dL/dW_x = Lambda_0 and
        dL/dW_h = sum_(j>=1) Lambda_j (W_h^(j-1) W_x)^T: dL/dW_h is one product.
        """
        N_h, N_x = self.W_x.shape
        T = D.shape[1] // N_x
        g_y = D.dot(P_flat.T)
        Z = self.W_y.T.dot(D)  # block j: Z_j, then Lambda_j
        if N_h * N_h * N_x <= self.SCAN_LIMIT:
            self._adjoint_scan(Z, T, N_x, squares)
        else:
            # the block views made once (indexing in the loop cost more than the products at small N)
            blocks = list(Z.reshape(N_h, T, N_x).transpose(1, 0, 2))
            W_hT = self.W_h.T
            for j in range(T - 2, -1, -1):
                blocks[j] += W_hT.dot(blocks[j + 1])
        g_h = Z[:, N_x:] @ P_flat[:, :-N_x].T  # matmul kept: on these strided operands ndarray.dot changes last bits
        return Z[:, :N_x], g_h, g_y  # dL/dW_x: a view of Lambda_0, Z is made per call

    #: Largest N_h^2 N_x for which ``_lag_gradients`` runs the adjoint as a doubling scan: ceil(log2 T) stacked
    #: products instead of T - 1 small ones, with more flops (sum over the passes of T - m block products), so
    #: faster only while a block product costs less than a numpy call (N = 2..16 measured; at N = 32 slower).
    SCAN_LIMIT = 4096

    def _adjoint_scan(self, Z: np.ndarray, T: int, N_x: int, squares: list | None) -> None:
        """``Lambda_j = sum_(k>=j) (W_h^T)^(k-j) Z_k`` in place in Z by a doubling scan (Hillis-Steele): after the pass
        with W_h^m, block j holds the sum over lags j..j+2m-1, with the squarings W_h^m of ``_lag_powers``."""
        if squares is None:  # powers made without keeping their squarings: the same squarings again
            squares = [self.W_h]
            while 2 ** len(squares) < T:
                squares.append(squares[-1].dot(squares[-1]))
        m = 1
        for W_m in squares:
            if m >= T:
                break
            Z[:, :(T - m) * N_x] += W_m.T.dot(Z[:, m * N_x:])  # the product is made before the sum: old blocks only
            m *= 2


class PopulationLoss:
    """The population loss of fixed final-output correlations ``C`` (T, N_y, N_x) as a function of the network, with
    the lag targets computed once: a training run evaluates it at every step. ``PopulationLoss(C)(net)`` is
    ``net.loss_and_grad_population(C)`` (``population_loss`` picks this or ``EveryStepPopulationLoss`` for ``C``).

    Parameters
    ----------
    C : ndarray, shape (T, N_y, N_x)
    """

    def __init__(self, C):
        C = np.asarray(C)
        self.C, self.T = C, C.shape[0]
        self.targets = C[::-1].transpose(1, 0, 2).reshape(C.shape[1], -1)  # C_(T-k) at block k

    def __call__(self, net: LRNN):
        """``(loss, (g_x, g_h, g_y))`` of ``net``."""
        squares = []
        P_flat = net._lag_powers(self.T, squares)
        D = net.W_y.dot(P_flat) - self.targets  # dL/dM_k = W_y W_h^k W_x - C_(T-k), side by side
        loss = 0.5 * float(np.vdot(D, D))
        return loss, net._lag_gradients(D, P_flat, squares)


class EveryStepPopulationLoss(PopulationLoss):
    """``PopulationLoss`` of every-step correlations ``C`` (T, T, N_y, N_x): lag targets, lag weights and the causal
    mask computed once; ``EveryStepPopulationLoss(C)(net)`` is ``net.loss_and_grad_population_every_step(C)``."""

    def __init__(self, C):
        C = np.asarray(C)
        self.C, self.T = C, C.shape[0]
        T, N_y, N_x = C.shape[0], C.shape[2], C.shape[3]
        lag_targets = np.stack([np.trace(C, offset=-k, axis1=0, axis2=1) for k in range(T)])  # sum_t C_(t,t-k)
        self.targets = lag_targets.transpose(1, 0, 2).reshape(N_y, T * N_x)
        self.lag_weights = np.repeat(np.arange(T, 0, -1, dtype=float), N_x)  # T - k pairs (t, i) at lag k
        lag = np.subtract.outer(np.arange(T), np.arange(T))
        self.causal = (lag >= 0)[:, :, None, None]
        self.lag_index = np.maximum(lag, 0)

    def __call__(self, net: LRNN):
        squares = []
        P_flat = net._lag_powers(self.T, squares)
        M = net.W_y.dot(P_flat)  # M_k = W_y W_h^k W_x at block k
        D = self.lag_weights * M - self.targets  # dL/dM_k
        # The loss from the residuals of every (t, i) pair, exact near zero loss.
        maps = M.reshape(net.N_y, self.T, net.N_x).transpose(1, 0, 2)
        predicted = np.where(self.causal, maps[self.lag_index], 0.0)
        loss = 0.5 * float(np.sum((self.C - predicted) ** 2))
        return loss, net._lag_gradients(D, P_flat, squares)


class SampleLoss:
    """The sample loss of fixed sequences ``X`` and targets ``Y`` as a function of the network, from the data's
    second moments: a step costs the same for any number of samples. ``SampleLoss(X, Y)(net)`` is
    ``net.loss_and_grad_samples(X, Y)`` to rounding (the loss in the theory's convention,
    ``L = 1/2 sum_p ||y_p - y_hat_p||^2``, every step: summed over the output times too).

    The outputs are linear in the lag maps M_k = W_y W_h^k W_x: ``y_hat_(p,t) = M d_(p,t)`` with the lag design
    ``d_(p,t)`` holding ``x_(p,t-k)`` at block k (zero for k >= t; t = T only for the final output). A QR
    factorisation of the design rows beside their targets, ``[d | y] = Q [R | B]`` with orthonormal Q (made once,
    in blocks of rows), keeps the residuals' norm: ``L = 1/2 ||R M^T - B||_F^2``. Its rows past the design's width
    do not depend on M (``outside``, what no lag maps fit), so a step takes two products with the (n, n) factor,
    n = T N_x, and the loss stays a sum of squares (no cancellation near zero loss).

    Parameters
    ----------
    X : ndarray, shape (P, T, N_x)
    Y : ndarray, shape (P, N_y), or (P, T, N_y) for every-step outputs
    """

    #: Largest number of entries of a block of design rows factorised at once (bounds the memory of the set-up).
    BLOCK_ENTRIES = 2**21

    def __init__(self, X, Y):
        X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
        P, T, N_x = X.shape
        self.T, n = T, T * N_x
        factor = None
        for rows in self._design_blocks(X, Y):
            factor = np.linalg.qr(rows if factor is None else np.vstack((factor, rows)), mode="r")
        width = min(factor.shape[0], n)
        self.design_t = np.ascontiguousarray(factor[:width, :n].T)  # (n, width): R^T
        self.design = np.ascontiguousarray(factor[:width, :n])      # (width, n): R
        self.targets_t = np.ascontiguousarray(factor[:width, n:].T)  # (N_y, width): B^T
        rest = factor[width:, n:]
        self.outside = 0.5 * float(np.sum(rest * rest))

    @classmethod
    def _design_blocks(cls, X, Y):
        """Blocks of rows ``[d_(p,t) | y_(p,t)]``, a slice of the samples at one output time each."""
        P, T, N_x = X.shape
        times = range(1, T + 1) if Y.ndim == 3 else (T,)
        chunk = max(1, cls.BLOCK_ENTRIES // (T * N_x + Y.shape[-1]))
        for t in times:
            targets = Y[:, t - 1] if Y.ndim == 3 else Y
            for start in range(0, P, chunk):
                part = slice(start, start + chunk)
                design = np.zeros((len(X[part]), T, N_x))
                design[:, :t] = X[part, t - 1::-1]  # block k: x_(t-k)
                yield np.hstack((design.reshape(len(design), T * N_x), targets[part]))

    def __call__(self, net: LRNN):
        """``(loss, (g_x, g_h, g_y))`` of ``net``."""
        squares = []
        P_flat = net._lag_powers(self.T, squares)
        residual = net.W_y.dot(P_flat).dot(self.design_t) - self.targets_t  # (R M^T - B)^T
        loss = 0.5 * float(np.vdot(residual, residual)) + self.outside
        return loss, net._lag_gradients(residual.dot(self.design), P_flat, squares)


def population_loss(C) -> PopulationLoss:
    """The population loss of correlations ``C``: final-output (T, N_y, N_x) or every-step (T, T, N_y, N_x)."""
    return EveryStepPopulationLoss(C) if np.ndim(C) == 4 else PopulationLoss(C)

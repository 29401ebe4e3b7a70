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
from .lag_buffers import LagBuffers, LagWorkspace

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

    def _lag_powers(self, T: int, squares: list | None = None, buffers: "LagBuffers | None" = None) -> np.ndarray:
        """``(W_h^k W_x)^T`` for k = 0..T-1 stacked, shape (T N_x, N_h) (row block k); the squarings W_h^m
        (m = 1, 2, 4, .. < T) it makes are appended to ``squares``, if given (``_lag_gradients`` reuses them). With
        ``buffers`` (``LagBuffers`` of this shape) the powers are written into ``buffers.powers`` and returned."""
        N_h, N_x = self.W_x.shape
        buffers = LagBuffers(T, N_x, N_h) if buffers is None else buffers
        # By doubling: blocks m..m+w-1 are blocks 0..w-1 times (W_h^m)^T, one product each (log2 T products and
        # squarings instead of T small ones), written straight into their rows (a contiguous slice).
        np.copyto(buffers.first_power, self.W_x.T)
        W_m = self.W_h
        squares = [] if squares is None else squares
        squares.append(W_m)
        last = len(buffers.power_passes) - 1
        for index, (source, target) in enumerate(buffers.power_passes):
            np.dot(source, W_m.T, out=target)
            if index < last:
                W_m = W_m.dot(W_m)
                squares.append(W_m)
        return buffers.powers

    def _lag_gradients(self, D: np.ndarray, P_flat: np.ndarray, squares: list | None = None,
                       buffers: "LagBuffers | None" = None):
        """Gradients of a loss whose derivative with respect to the lag map M_k = W_y W_h^k W_x is D_k.

        ``D`` (T N_x, N_y) holds D_k^T stacked (row block k), ``P_flat`` the lag powers of ``_lag_powers`` and
        ``squares`` the squarings it made with them (None: made again where the adjoint needs them), ``buffers``
        the ``LagBuffers`` they were made in (None: new ones). With Z_k = W_y^T D_k, the adjoint Lambda_T = 0,
        Lambda_j = Z_j + W_h^T Lambda_(j+1) gives dL/dW_x = Lambda_0 and dL/dW_h = sum_(j>=1) Lambda_j
        (W_h^(j-1) W_x)^T: dL/dW_h is one product.
        """
        N_h, N_x = self.W_x.shape
        T = D.shape[0] // N_x
        buffers = LagBuffers(T, N_x, N_h) if buffers is None else buffers
        g_y = D.T.dot(P_flat)
        np.dot(D, self.W_y, out=buffers.adjoint)  # row block j: Z_j^T, then Lambda_j^T
        if N_h * N_h * N_x <= self.SCAN_LIMIT:
            self._adjoint_scan(buffers, squares)
        else:
            W_h = self.W_h
            for later, product, block in buffers.recursion:  # Lambda_j^T = Z_j^T + Lambda_(j+1)^T W_h
                np.add(block, np.dot(later, W_h, out=product), out=block)
        g_h = buffers.later_adjoint.T.dot(buffers.earlier_powers if P_flat is buffers.powers else P_flat[:-N_x])
        return buffers.first_adjoint.T.copy(), g_h, g_y  # dL/dW_x = Lambda_0, copied out of the reused buffer

    #: Largest N_h^2 N_x for which ``_lag_gradients`` runs the adjoint as a doubling scan: ceil(log2 T) stacked
    #: products instead of T - 1 small ones, with more flops (sum over the passes of T - m block products), so
    #: faster only while a block product costs less than a numpy call (N = 2..16 measured; at N = 32 slower).
    SCAN_LIMIT = 4096

    def _adjoint_scan(self, buffers: "LagBuffers", squares: list | None) -> None:
        """``Lambda_j = sum_(k>=j) (W_h^T)^(k-j) Z_k`` in place in ``buffers.adjoint`` by a doubling scan
        (Hillis-Steele): after the pass with W_h^m, block j holds the sum over lags j..j+2m-1, with the squarings
        W_h^m of ``_lag_powers``."""
        if squares is None:  # powers made without keeping their squarings: the same squarings again
            squares = [self.W_h]
            while len(squares) < len(buffers.scan_passes):
                squares.append(squares[-1].dot(squares[-1]))
        for W_m, (later, product, earlier) in zip(squares, buffers.scan_passes):
            np.add(earlier, np.dot(later, W_m, out=product), out=earlier)  # the product first: old blocks only


class LagLoss:
    """A loss of the lag maps M_k = W_y W_h^k W_x of fixed data, evaluated at every step of a training run: it keeps
    the work arrays of the lag computations between calls, one set per thread (``LagWorkspace``: copies and
    pickles of the loss make their own), and returns new arrays (never views of them)."""

    T: int

    def __init__(self):
        self._workspace = LagWorkspace()

    def _powers(self, net: LRNN) -> tuple:
        """``(powers, squares, buffers)`` of ``net`` (``LRNN._lag_powers``) in this thread's buffers."""
        buffers = self._workspace.buffers(self.T, net)
        squares = []
        return net._lag_powers(self.T, squares, buffers), squares, buffers


class PopulationLoss(LagLoss):
    """The population loss of fixed final-output correlations ``C`` (T, N_y, N_x) as a function of the network, with
    the lag targets computed once: a training run evaluates it at every step. ``PopulationLoss(C)(net)`` is
    ``net.loss_and_grad_population(C)`` (``population_loss`` picks this or ``EveryStepPopulationLoss`` for ``C``).

    Parameters
    ----------
    C : ndarray, shape (T, N_y, N_x)
    scale : float
        Factor of the loss and its gradients: a loss convention's (``lrnn_theory.losses``), applied once to the
        derivative with respect to the lag maps instead of to each gradient (equal to rounding).
    """

    def __init__(self, C, scale: float = 1.0):
        LagLoss.__init__(self)
        C = np.asarray(C)
        self.C, self.T, self.scale = C, C.shape[0], float(scale)
        self.targets = C[::-1].transpose(0, 2, 1).reshape(-1, C.shape[1])  # C_(T-k)^T at row block k

    def __call__(self, net: LRNN):
        """``(loss, (g_x, g_h, g_y))`` of ``net``."""
        P_flat, squares, buffers = self._powers(net)
        D = P_flat.dot(net.W_y.T)  # dL/dM_k = W_y W_h^k W_x - C_(T-k), transposed, stacked
        D -= self.targets
        loss = 0.5 * float(np.vdot(D, D))
        if self.scale != 1.0:  # sum_half: x * 1.0 == x, so skipping the products changes no bit
            loss, D = self.scale * loss, self.scale * D
        return loss, net._lag_gradients(D, P_flat, squares, buffers)


class EveryStepPopulationLoss(PopulationLoss):
    """``PopulationLoss`` of every-step correlations ``C`` (T, T, N_y, N_x): lag targets, lag weights and the causal
    pairs computed once; ``EveryStepPopulationLoss(C)(net)`` is ``net.loss_and_grad_population_every_step(C)``."""

    def __init__(self, C, scale: float = 1.0):
        LagLoss.__init__(self)
        C = np.asarray(C)
        self.C, self.T, self.scale = C, C.shape[0], float(scale)
        T, N_y, N_x = C.shape[0], C.shape[2], C.shape[3]
        lag_targets = np.stack([np.trace(C, offset=-k, axis1=0, axis2=1) for k in range(T)])  # sum_t C_(t,t-k)
        # dL/dM_k = (T - k) M_k - sum_t C_(t,t-k) (T - k pairs (t, i) at lag k), times the scale
        self.targets = self.scale * lag_targets.transpose(0, 2, 1).reshape(T * N_x, N_y)
        self.lag_weights = self.scale * np.repeat(np.arange(T, 0, -1, dtype=float), N_x)[:, None]
        # the loss from the residuals of every (t, i) pair, exact near zero loss: the pairs i <= t against their lag
        # map (targets transposed like the maps), the pairs i > t (no map) a constant
        times, steps = np.nonzero(np.subtract.outer(np.arange(T), np.arange(T)) >= 0)
        self.pair_lags = times - steps
        self.pair_targets = np.ascontiguousarray(C[times, steps].transpose(0, 2, 1))  # (pairs, N_x, N_y)
        acausal = C[np.triu_indices(T, 1)]
        self.acausal_loss = 0.5 * float(np.vdot(acausal, acausal))

    def __call__(self, net: LRNN):
        P_flat, squares, buffers = self._powers(net)
        M = P_flat.dot(net.W_y.T)  # M_k^T = (W_y W_h^k W_x)^T at row block k
        D = self.lag_weights * M - self.targets  # scale dL/dM_k, transposed
        residual = self.pair_targets - M.reshape(self.T, net.N_x, net.N_y)[self.pair_lags]
        loss = 0.5 * float(np.vdot(residual, residual)) + self.acausal_loss
        return (loss if self.scale == 1.0 else self.scale * loss), net._lag_gradients(D, P_flat, squares, buffers)


class SampleLoss(LagLoss):
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
    scale : float
        Factor of the loss and its gradients (``PopulationLoss``), here in the factor the gradient is taken with.
    """

    #: Largest number of entries of a block of design rows factorised at once (bounds the memory of the set-up).
    BLOCK_ENTRIES = 2**21

    def __init__(self, X, Y, scale: float = 1.0):
        LagLoss.__init__(self)
        X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
        P, T, N_x = X.shape
        self.T, self.scale, n = T, float(scale), T * N_x
        factor = None
        for rows in self._design_blocks(X, Y):
            factor = np.linalg.qr(rows if factor is None else np.vstack((factor, rows)), mode="r")
        width = min(factor.shape[0], n)
        self.design_t = self.scale * np.ascontiguousarray(factor[:width, :n].T)  # (n, width): scale R^T
        self.design = np.ascontiguousarray(factor[:width, :n])      # (width, n): R
        self.targets = np.ascontiguousarray(factor[:width, n:])     # (width, N_y): B
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
        P_flat, squares, buffers = self._powers(net)
        residual = self.design.dot(P_flat.dot(net.W_y.T))  # R M^T - B
        residual -= self.targets
        loss = 0.5 * float(np.vdot(residual, residual)) + self.outside
        if self.scale != 1.0:
            loss = self.scale * loss
        return loss, net._lag_gradients(self.design_t.dot(residual), P_flat, squares, buffers)


def population_loss(C, scale: float = 1.0) -> PopulationLoss:
    """The population loss of correlations ``C``: final-output (T, N_y, N_x) or every-step (T, T, N_y, N_x), times
    ``scale``."""
    return (EveryStepPopulationLoss if np.ndim(C) == 4 else PopulationLoss)(C, scale)

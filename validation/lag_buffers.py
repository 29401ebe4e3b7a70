"""Work arrays of the lag computations of ``network.LRNN`` (``LagBuffers``) and the per-thread set of them that a
loss keeps between evaluations (``LagWorkspace``): in a module of their own, so that ``network`` and ``data`` (whose
correlated moments keep a workspace too, and which ``network`` imports) both import them at module level.
"""
from __future__ import annotations

import threading

import numpy as np


class LagBuffers:
    """The work arrays of the lag computations of one shape (T lags, N_x inputs, N_h hidden units), made once per
    loss and thread (``LagWorkspace``) and reused at every evaluation, with the views that the doubling passes read
    and write (no slicing, no allocation per step). Row block k (N_x rows) of ``powers`` is (W_h^k W_x)^T, of
    ``adjoint`` Lambda_k^T: the blocks a pass writes are a contiguous slice, which a product writes into directly.

    Parameters
    ----------
    T, N_x, N_h : int
    """

    def __init__(self, T: int, N_x: int, N_h: int):
        self.shape = (T, N_x, N_h)
        rows = T * N_x
        self.powers = np.empty((rows, N_h))
        self.adjoint = np.empty((rows, N_h))
        scratch = np.empty((rows, N_h))
        self.first_power = self.powers[:N_x]
        self.power_passes = []  # (blocks 0..w-1, blocks m..m+w-1) for m = 1, 2, 4, ..
        m = 1
        while m < T:
            width = min(m, T - m)
            self.power_passes.append((self.powers[:width * N_x], self.powers[m * N_x:(m + width) * N_x]))
            m += width
        self.scan_passes = []  # (blocks m.., scratch, blocks ..T-m-1) for m = 1, 2, 4, .. < T
        m = 1
        while m < T:
            self.scan_passes.append((self.adjoint[m * N_x:], scratch[:(T - m) * N_x], self.adjoint[:(T - m) * N_x]))
            m *= 2
        # dL/dW_x = Lambda_0 and dL/dW_h = sum_(j>=1) Lambda_j (W_h^(j-1) W_x)^T read these
        self.first_adjoint, self.later_adjoint = self.adjoint[:N_x], self.adjoint[N_x:]
        self.earlier_powers = self.powers[:rows - N_x]
        blocks = [self.adjoint[j * N_x:(j + 1) * N_x] for j in range(T)]
        self.recursion = [(blocks[j + 1], scratch[:N_x], blocks[j]) for j in range(T - 2, -1, -1)]


class LagWorkspace:
    """The ``LagBuffers`` of an object that evaluates lag computations repeatedly (the losses below,
    ``data.CorrelatedMoments``): one set per thread, made on first use in that thread and kept for later calls.

    The buffers are scratch space, not state: their arrays must stay views of one another, which a copy or a pickle
    would not keep, so a copied, deep-copied or unpickled workspace is a new empty one (its owner then makes new
    buffers on its next call). Per thread, two threads may call the same owner at once.
    """

    def __init__(self):
        self._local = threading.local()

    def buffers(self, T: int, net) -> LagBuffers:
        """This thread's buffers for ``net``'s lag computations over T lags (new ones for another shape)."""
        local = self._local
        held = getattr(local, "buffers", None)
        shape = (T, net.W_x.shape[1], net.W_x.shape[0])
        if held is None or held.shape != shape:
            local.buffers = held = LagBuffers(*shape)
        return held

    def __reduce__(self):
        return LagWorkspace, ()  # copy, deepcopy and pickle: a new empty workspace (the class docstring)

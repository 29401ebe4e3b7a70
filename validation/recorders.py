"""Stage 3 of the harness: recorders, small objects the training loop calls at the steps they are due.

A recorder has three methods: ``start(steps, network)`` before the loop (allocate for a run of at most ``steps``
steps), ``due(step, last)`` (``last``: the final step of the run, ``steps`` or the step where ``stop_loss`` stops it,
which every recorder takes), and ``record(step, network, loss)``; optionally ``next_due(step)``, the first step
>= step it can be due at besides the last (the loop does not ask it in between), and ``flush()``, which the loop
calls when it ends, by any exit path (return, divergence, interruption): a recorder that defers reading the
networks it was given reads them there, before the caller can change them. ``Recorder`` records every
``every``-th step and the last one into preallocated arrays; its subclasses say what they read:

- ``ModeRecorder``: the modes a, b, c (``TrainingSetup.read_modes``), read in batches of records
  (``BatchedRecorder``);
- ``LossRecorder``: the training loss;
- ``SingularValueRecorder``: the singular values of W_x, W_h, W_y;
- ``CallbackRecorder``: the return value of ``on_record(step, network)``;
- ``NTKRecorder``: the network's NTK (``lrnn_theory.ntk.empirical_ntk``) at its own steps.

``Recording(every=, on_record=, ntk=NTKRecording(...), progress=)`` is the option object of ``train_lrnn`` that
says which recorders a run gets (``Recording.recorders``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from lrnn_theory.errors import bad, check_int
from lrnn_theory.ntk import OUTPUTS, empirical_ntk, whitened_probe_inputs

from .network import WEIGHT_NAMES

#: How ``Recording`` records the singular values of the weights.
SINGULAR_VALUE_METHODS = ("auto", "svd")
#: Most recorded states per run (each holds K modes and the singular values of three matrices).
MAX_RECORDS = 10**6


class Recorder:
    """Records at every ``every``-th step (0 included) and at the last step; subclasses store what they read.

    Attributes
    ----------
    steps : ndarray of int
        The steps recorded so far.
    """

    def __init__(self, every: int = 1):
        self.every = check_int("record_every", every, minimum=1)

    def start(self, steps: int, network) -> None:
        """Allocate for a run of ``steps`` steps (the records at 0, every ``every``-th step and the last)."""
        capacity = steps // self.every + 2
        if capacity > MAX_RECORDS:
            raise bad("record_every", self.every, f"leave at most {MAX_RECORDS} records of the {steps} steps "
                                                  f"(use record_every >= {steps // (MAX_RECORDS - 2) + 1})")
        self._steps = np.empty(capacity, dtype=int)
        self.count = 0
        self._allocate(capacity, network)

    def due(self, step: int, last: bool) -> bool:
        """Whether ``step`` is recorded: the last step, or a step that ``next_due`` gives (a subclass that overrides
        ``next_due`` alone changes the schedule)."""
        return last or self.next_due(step) == step

    def next_due(self, step: int) -> int:
        """The first step >= ``step`` that is due (besides the last): the next multiple of ``every``."""
        return -(-step // self.every) * self.every

    def flush(self) -> None:
        """Read whatever was recorded but not read yet (``gradient_descent`` calls it when the loop ends)."""

    def record(self, step: int, network, loss: float) -> None:
        self._steps[self.count] = step
        self._store(self.count, network, loss)
        self.count += 1

    @property
    def steps(self) -> np.ndarray:
        return self._steps[:self.count]

    def _allocate(self, capacity: int, network) -> None:
        pass

    def _store(self, index: int, network, loss: float) -> None:
        raise NotImplementedError


class WeightStack:
    """The weights of several records stacked along a leading axis: ``W_x`` (n, N_h, N_x), ``W_h``, ``W_y``."""

    def __init__(self, weights: list):
        self.W_x, self.W_h, self.W_y = (np.stack(w) for w in zip(*weights))


class BatchedRecorder(Recorder):
    """A recorder that reads the weights of up to ``BATCH_ENTRIES`` weight entries' worth of records at once
    (``_read(start, stack)`` with a ``WeightStack``): a few stacked products per batch instead of several small ones
    per record. It keeps references to the recorded weight arrays until it reads them, so the training loop must
    not write into them (``gradient_descent`` makes new arrays at every step) and must read the rest (``flush``)
    before it hands the network back: ``gradient_descent`` flushes its recorders by every exit path, after which a
    caller's in-place edit of the network does not reach the records. Reading the recorded values
    (``ModeRecorder.modes``, ``SingularValueRecorder.singular_values``) flushes too."""

    #: Most weight entries held per batch (256 KB: the weights kept stay in cache; at N = 32 larger batches made the
    #: steps between reads slower than the batching saved).
    BATCH_ENTRIES = 2**15

    def _allocate(self, capacity, network):
        self._pending, self._first_pending = [], 0
        self._batch = max(1, min(256, self.BATCH_ENTRIES // sum(W.size for W in network.weights)))

    def _store(self, index, network, loss):
        pending = self._pending
        if not pending:
            self._first_pending = index
        pending.append(network.weights)
        if len(pending) >= self._batch:
            self._read_pending()

    def _read_pending(self) -> None:
        if self._pending:
            self._read(self._first_pending, WeightStack(self._pending))
            self._pending = []

    def flush(self) -> None:
        self._read_pending()

    def _read(self, start: int, stack: WeightStack) -> None:
        raise NotImplementedError


class ModeRecorder(BatchedRecorder):
    """The modes a, b, c read off the network (``read_modes(network) -> (a, b, c)``, each (K,), and each (n, K) for
    a ``WeightStack`` of n records: ``TrainingSetup.read_modes``)."""

    def __init__(self, read_modes: Callable, K: int, dtype=float, every: int = 1):
        super().__init__(every)
        self.read_modes, self.K, self.dtype = read_modes, K, dtype

    def _allocate(self, capacity, network):
        super()._allocate(capacity, network)
        self._modes = np.empty((3, capacity, self.K), dtype=self.dtype)

    def _read(self, start, stack):
        a, b, c = self.read_modes(stack)
        rows = slice(start, start + len(a))
        modes = self._modes  # one array at a time: assigning the tuple would build an array from it first
        modes[0, rows], modes[1, rows], modes[2, rows] = a, b, c

    @property
    def modes(self) -> np.ndarray:
        """(3, n_records, K): a, b, c."""
        self._read_pending()
        return self._modes[:, :self.count]


class LossRecorder(Recorder):
    """The training loss (in the run's convention)."""

    def _allocate(self, capacity, network):
        self._losses = np.empty(capacity)

    def _store(self, index, network, loss):
        self._losses[index] = loss

    @property
    def losses(self) -> np.ndarray:
        return self._losses[:self.count]


class SingularValueRecorder(BatchedRecorder):
    """Singular values of W_x, W_h, W_y, descending (the paper's unaligned read-out).

    By default an SVD of each matrix per record. With ``modes`` (the run's ``ModeRecorder``, which records at the
    same steps) they come from the modes instead, for a network that stays aligned with the task's singular vectors:
    W_x = R H(a) V^T has the singular values |a| (once per real unit of the mode: twice for a complex mode's 2x2
    block ``sizes``), W_h = R H(b) R^T has |b| and N_h - K zeros, W_y has |c|; all records at once, when
    ``singular_values`` is read. Three SVDs per record were +72% on a training step at N = 32 recorded at every
    step (issue 25).
    """

    def __init__(self, every: int = 1, modes: "ModeRecorder | None" = None, sizes=None):
        super().__init__(every)
        self.modes, self.sizes = modes, sizes

    @property
    def method(self) -> str:
        """"aligned read-out" (from the modes) or "svd"."""
        return "svd" if self.modes is None else "aligned read-out"

    def _allocate(self, capacity, network):
        super()._allocate(capacity, network)
        self._values = {name: np.empty((capacity, min(W.shape))) for name, W in zip(WEIGHT_NAMES, network.weights)}
        self._rows = list(self._values.values())
        if self.modes is not None:  # W_h = R H(b) R^T has N_h - (real units) zero singular values
            units = self.modes.K if self.sizes is None else int(np.sum(self.sizes))
            self._zero_rows = [row for row in self._rows if row.shape[1] > units]

    def _store(self, index, network, loss):
        if self.modes is None:  # else: read off the recorded modes by ``singular_values``
            super()._store(index, network, loss)

    def _read(self, start, stack):
        for name, W in zip(WEIGHT_NAMES, (stack.W_x, stack.W_h, stack.W_y)):
            self._values[name][start:start + len(W)] = np.linalg.svd(W, compute_uv=False)

    def _read_off_modes(self) -> None:
        """|a|, |b|, |c| sorted descending, for every record and the three matrices at once."""
        n = self.count
        size = np.abs(self.modes.modes[:, :n])  # (3, n, K)
        if self.sizes is not None:
            size = np.repeat(size, self.sizes, axis=2)
        size = -size
        size.sort(axis=2)  # in place: np.sort would copy
        size = -size
        units = size.shape[2]
        for row, values in zip(self._rows, size):
            row[:n, :units] = values
        for row in self._zero_rows:
            row[:n, units:] = 0.0

    @property
    def singular_values(self) -> dict:
        """``{"W_x", "W_h", "W_y"}`` -> (n_records, min(shape))."""
        if self.modes is not None:
            self._read_off_modes()
        self._read_pending()
        return {name: values[:self.count] for name, values in self._values.items()}


class CallbackRecorder(Recorder):
    """Return values of ``on_record(step, network)``: any extra measurement without a second training loop."""

    def __init__(self, on_record: Callable, every: int = 1):
        super().__init__(every)
        self.on_record = on_record

    def _allocate(self, capacity, network):
        self.records = []

    def _store(self, index, network, loss):
        self.records.append(self.on_record(self._steps[index].item(), network))


class NTKRecorder(Recorder):
    """The NTK ``empirical_ntk(W_x, W_h, W_y, inputs, outputs=)`` at the steps ``at`` (None: every ``every``-th
    step) and at the last step."""

    def __init__(self, inputs: np.ndarray, outputs: str = "final", at=None, every: int = 1):
        super().__init__(every)
        self.inputs, self.outputs, self.at = inputs, outputs, at

    def _allocate(self, capacity, network):
        self.kernels = []

    def next_due(self, step):
        if self.at is None:
            return super().next_due(step)
        return min((s for s in self.at if s >= step), default=math.inf)

    def _store(self, index, network, loss):
        self.kernels.append(empirical_ntk(network.W_x, network.W_h, network.W_y, self.inputs, outputs=self.outputs))

    def result(self, dt: float) -> dict:
        """``steps``, ``t = steps * dt``, ``kernels`` (n, m, m), ``inputs`` and ``outputs``."""
        steps = np.array(self.steps.tolist())
        return {"steps": steps, "t": steps * dt, "kernels": np.stack(self.kernels), "inputs": self.inputs,
                "outputs": self.outputs}


# ---- options --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class NTKRecording:
    """Record the network's NTK during training (``lrnn_theory.ntk``). Errors name the ``train_lrnn`` keywords
    (``ntk_steps``, ``ntk_inputs``, ``ntk_outputs``).

    Parameters
    ----------
    steps : "records" or iterable of int
        "records": at every recorded step; otherwise these steps. The last step (or the step where ``stop_loss``
        stops the run) is always included.
    inputs : ndarray (P, T, N_x), optional
        Inputs the NTK is taken over: by default the training inputs, or for population data the T N_x whitened
        one-hot probes (``lrnn_theory.ntk.whitened_probe_inputs``), which give the same kernel distances as any
        exactly whitened sample set; for a task with an ``input_covariance``, those probes coloured to its
        covariance (``data.CorrelatedMoments.colour``), as exact-covariance samples are.
    outputs : {"final", "every_step"}
        Outputs the NTK is taken of.
    """

    steps: object = "records"
    inputs: np.ndarray | None = None
    outputs: str = "final"

    def __post_init__(self):
        if self.outputs not in OUTPUTS:
            raise bad("ntk_outputs", self.outputs, f"be one of {', '.join(OUTPUTS)}")
        if isinstance(self.steps, str):
            if self.steps != "records":
                raise bad("ntk_steps", self.steps, "be 'records' or a list of step numbers")
            return
        try:
            at = frozenset(check_int("ntk_steps", s, minimum=0) for s in self.steps)
        except TypeError:
            raise bad("ntk_steps", self.steps, "be 'records' or a list of step numbers") from None
        object.__setattr__(self, "steps", at)

    def recorder(self, setup, every: int) -> NTKRecorder:
        """The recorder for a run on ``setup`` whose modes are recorded every ``every`` steps."""
        data = setup.data
        N_x = data.V.shape[0]
        if self.inputs is not None:
            X = np.asarray(self.inputs, dtype=float)
            if X.ndim != 3 or X.shape[2] != N_x:
                raise bad("ntk_inputs", self.inputs, f"have shape (P, T, {N_x})")
        else:
            X = whitened_probe_inputs(data.task.T, N_x) if data.X is None else data.X
            if data.X is None and data.moments is not None:  # probes with the task's covariance across time
                X = data.moments.colour(X)
        return NTKRecorder(X, self.outputs, at=None if self.steps == "records" else self.steps, every=every)


@dataclass(frozen=True, eq=False)
class Recording:
    """What a training run records, and how often. Errors name the ``train_lrnn`` keywords (``record_every``).

    Parameters
    ----------
    every : int
        Record the modes, losses and singular values every this many steps (the initial and final steps always).
    on_record : callable, optional
        ``on_record(step, network)`` at every recorded step; its return values go to ``TrainingResult.records``.
    ntk : NTKRecording, optional
        Record the NTK too (off by default).
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal; it appears only on runs longer than ~2 s).
    singular_values : {"auto", "svd"}
        How the singular values of the weights are recorded: "auto" reads them off the modes when the run starts
        aligned on the task's own data (it stays aligned: no SVD per record), else an SVD of each matrix; "svd"
        always takes the SVDs.
    """

    every: int = 1
    on_record: Callable | None = None
    ntk: NTKRecording | None = None
    progress: bool | None = None
    singular_values: str = "auto"

    def __post_init__(self):
        object.__setattr__(self, "every", check_int("record_every", self.every, minimum=1))
        if self.singular_values not in SINGULAR_VALUE_METHODS:
            raise bad("singular_values", self.singular_values, f"be one of {', '.join(SINGULAR_VALUE_METHODS)}")

    def recorders(self, setup) -> dict:
        """Name -> recorder for a run on ``setup``: modes, losses, singular values, and the optional NTK and
        ``on_record`` ones."""
        out = {}
        if self.ntk is not None:
            out["ntk"] = self.ntk.recorder(setup, self.every)
        dtype = float if setup.data.sizes is None else complex
        out["modes"] = ModeRecorder(setup.read_modes, setup.task.K, dtype, self.every)
        out["losses"] = LossRecorder(self.every)
        # Gradient descent keeps an aligned network aligned on the task's own data (population or exactly whitened
        # samples), so its modes give the singular values; user data or another init need the SVD.
        aligned = self.singular_values == "auto" and setup.aligned and setup.data.source != "user"
        out["singular_values"] = SingularValueRecorder(self.every, out["modes"] if aligned else None,
                                                       setup.data.sizes)
        if self.on_record is not None:
            out["records"] = CallbackRecorder(self.on_record, self.every)
        return out

"""The mode flow's vector field: how the modes of a task sit in the state vector (``RealModes``, ``ComplexModes``)
and the compiled flow (``CompiledFlow``: rates, Jacobian blocks and energy of every mode, from the derived ODEs of
``lrnn_theory.derivations.mode_flow`` compiled by ``lrnn_theory.compiled``, with the task sums of all K modes and all
T steps from one matrix product over a table of powers of b), the generated programs linear in the task sums
(``SumsProgram``: the rates and Jacobian on the batched solver's rows at small K, and the exact gradient-descent map
stepped in place, ``GradientStep``, from ``lrnn_theory.compiled.map_step`` and ``jacobian_step`` for every kind of
task), and the checked output times of a run.

Everything that follows the flow builds on this module: ``lrnn_theory.finite_lr`` (the modified flow and the exact
gradient-descent map) and ``lrnn_theory.flow`` (``integrate``, which dispatches to both), so neither has to import
the other late. Complex (rotational) tasks go through the same pipeline with complex task sums and the Wirtinger flow
of ``lrnn_theory.derivations.complex``: their state holds the real and imaginary parts, [Re a_0, Im a_0, Re b_0,
Im b_0, Re c_0, Im c_0, ...], so the blocks are 6x6 (``CompiledFlow.block_size``). The kind of task is chosen once,
from the dtype of its values, as the mode layout of the compiled flow.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from . import resources
from .compiled import flow_functions, jacobian_step, map_step
from .derivations.complex import B_PARTIALS, partials
from .errors import DivergenceError, IntegrationError, bad, check_finite_array, check_int, check_real
from .solvers import block_sparsity, blocks_to_banded, blocks_to_sparse
from .task_sums import RUNNING_PRODUCT_MODES, complex_partials, power_rows
from .tasks import coerce_task
from .trajectory import mode_energy


# ---- mode layouts ---------------------------------------------------------------------------------------------
# How the modes of one kind of task sit in the real state vector, chosen once per compiled flow from the dtype of the
# task's values (``MODE_LAYOUTS``): packing and unpacking of states, and the rate values and Jacobian blocks from the
# compiled functions (``lrnn_theory.compiled.FlowFunctions``) and the task sums. The flows hold a layout and never
# ask for the kind of task again. The hot path (``rates``, ``jacobian``) works on states stored as rows Yr (m, k),
# the batched solver's layout.
class RealModes:
    """Real modes: 3 reals per mode, (a, b, c), and the task sums at real b.

    Parameters
    ----------
    functions : lrnn_theory.compiled.FlowFunctions
        The compiled flow (gradient or modified) for this layout.
    parameters : tuple
        The flow's parameters after the mode values: (tau,) or (tau, h).
    """

    name = "real"
    block_size = 3

    def __init__(self, functions, parameters: tuple):
        self.functions = functions
        self.parameters = tuple(parameters)
        #: The compiled values are tau times the flow's, or the flow's (dividing by 1.0 is exact).
        self.divisor = self.parameters[0] if functions.times_tau else 1.0
        # Slots of the sums beyond the derivatives a function reads: zeros (the expressions do not contain them).
        self._rates_padding = (0.0,) * (functions.sum_slots - 1 - functions.rates_order)
        self._jacobian_padding = (0.0,) * (functions.sum_slots - 1 - functions.jacobian_order)

    # ---- states ----
    def pack(self, a, b, c) -> np.ndarray:
        """Flat state (3 K,) = [a_0, b_0, c_0, a_1, ...] from the modes (K,) each."""
        return np.column_stack([np.asarray(v, dtype=float) for v in (a, b, c)]).ravel()

    def unpack(self, y):
        """(a, b, c), each (..., K), from flat states (..., 3 K)."""
        return y[..., 0::3], y[..., 1::3], y[..., 2::3]

    def mode_rows(self, Yr):
        """(a, b, c), each (k,), from states stored as rows Yr (3, k)."""
        return Yr[0], Yr[1], Yr[2]

    def magnitudes(self, Yr) -> np.ndarray:
        """|a|, |b|, |c| as rows (3, k) from states stored as rows Yr (3, k)."""
        return np.abs(Yr)

    # ---- compiled functions ----
    def arguments(self, a, b, c, sums, order: int, padding: tuple = ()) -> tuple:
        """Arguments of the compiled functions: the modes, the parameters, A^(0..order)(b) and B^(0..order)(b)."""
        As, Bs = sums.derivatives(b, order)
        return (a, b, c, *self.parameters, *As, *padding, *Bs, *padding)

    def rates(self, Yr, sums) -> np.ndarray:
        """Rates as rows (3, k) for the states Yr (3, k) and the task sums of those modes."""
        a, b, c = self.mode_rows(Yr)
        values = self.functions.rates(*self.arguments(a, b, c, sums, self.functions.rates_order,
                                                      self._rates_padding))
        out = np.empty(Yr.shape)
        for row, value in zip(out, values):  # divided into place: no temporaries
            np.divide(value, self.divisor, out=row)
        return out

    def jacobian(self, Yr, sums) -> np.ndarray:
        """Jacobian blocks as (3, 3, k): d(rate of p)/d(q)."""
        a, b, c = self.mode_rows(Yr)
        rows = self.functions.jacobian(*self.arguments(a, b, c, sums, self.functions.jacobian_order,
                                                       self._jacobian_padding))
        out = np.empty((3, 3, Yr.shape[1]))
        for p in range(3):
            for q in range(3):
                np.divide(rows[p][q], self.divisor, out=out[p, q])
        return out

    def energy_correction(self, y, sums) -> np.ndarray:
        """The compiled energy correction (modified flow) per mode for a flat state (3 K,)."""
        a, b, c = self.unpack(y)
        order = self.functions.sum_slots - 1
        # real for real modes; for complex ones E_h - E is real up to rounding of the complex arithmetic
        return np.real(self.functions.energy_correction(*self.arguments(a, b, c, sums, order)))

    # ---- the exact gradient-descent map (``GradientStep``): strengths as (3, k) numbers of ``map_dtype`` ----
    map_dtype = float

    def map_state(self, Yr) -> np.ndarray:
        """The strengths (3, k) from states stored as rows Yr (m, k)."""
        return np.array(Yr, dtype=float)

    def map_rows(self, Z) -> np.ndarray:
        """States stored as rows (m, k) from the strengths Z (3, k)."""
        return np.array(Z, dtype=float)

    def map_load(self, Z, Yr, columns=None):
        """Write the strengths of the states stored as rows Yr (m, k) into Z (3, k), or into its ``columns``."""
        if columns is None:
            np.copyto(Z, Yr)
        else:
            Z[:, columns] = Yr

    def map_jacobian(self, entries) -> np.ndarray:
        """Jacobian blocks (m, m, k) from the generated entries (``compiled.jacobian_step``), (3 m'', k) row after
        row (a new array)."""
        return entries.reshape(3, 3, -1).copy()

    @staticmethod
    def map_loader(Z, columns=None):
        """``map_load`` into Z as a function of Yr alone (bound once: no Python frame for the real layout)."""
        if columns is None:
            return functools.partial(np.copyto, Z)
        return functools.partial(Z.__setitem__, (slice(None), columns))

    @staticmethod
    def solver_outputs(outputs, jacobian: bool, whole: bool):
        """(view, convert) of the generated ``outputs`` for ``SumsProgram.solver_runner``: the rates (m, K) or
        Jacobian blocks (m, m, K) of all modes as a view of them (None where they need converting), and a function
        from the outputs (of all modes, or of some of their columns) to the result (a buffer it may reuse when
        ``whole``). Real modes: the outputs are the rows, as they are."""
        if jacobian:
            return (outputs.reshape(3, 3, -1) if whole else None), lambda entries: entries.reshape(3, 3, -1)
        return (outputs if whole else None), lambda entries: entries

    def map_modes(self, Z, Z_conj) -> tuple:
        """The mode arguments of the generated step (``compiled.map_step``), views of Z (and of its conjugate)."""
        return Z[0], Z[1], Z[2]

    def map_coefficients(self, sums, slots) -> tuple:
        """(what the monomials are, coefficients (slots, M, k)) of the task sums ``slots`` over monomials of b: the
        powers b^p, p < M."""
        coefficients = sums.power_coefficients(self.functions.sum_slots - 1, slots)
        return coefficients.shape[1], coefficients

    #: From this many modes times powers (and up to ``RUNNING_PRODUCT_MODES`` modes) the exact map reads its task sums
    #: from |b|^p = exp((p / 2) log b^2) (``map_magnitudes``, one exp for the whole table) with the signs of b folded
    #: into its coefficients (``SumsProgram``): four calls whose cost hardly grows with the table, against a running
    #: product of ~4 ns per power and mode (K = 32, T = 20: table and sums 8.1 -> 5.8 us; at fewer values the running
    #: product is cheaper, beyond 64 modes the repeated squaring of ``power_rows``).
    LOG_POWER_SIZE = 800

    def map_logarithmic(self, monomials, modes: int) -> bool:
        """Whether the exact map's table of ``monomials`` powers of ``modes`` b is the logarithmic one."""
        return modes <= RUNNING_PRODUCT_MODES and modes * monomials >= self.LOG_POWER_SIZE

    def map_magnitudes(self, monomials, Z, table):
        """A function of no arguments that fills ``table`` (k, M - 1) with |b|^p, p = 1..M-1, of the b of Z, one row
        per mode: exp((p / 2) log b^2) (b = 0 gives log 0 = -inf and exp(-inf) = 0; the exponents p / 2 are exact),
        the values of a running product to the rounding of b^2 and its logarithm."""
        b = Z[1]
        square, log_square = np.empty(b.shape), np.empty(b.shape + (1,))
        halves = (np.arange(1.0, monomials) / 2.0)[None, :]

        def fill():
            np.multiply(b, b, out=square)
            np.log(square, out=log_square[:, 0])
            np.dot(log_square, halves, out=table)
            np.exp(table, out=table)

        return fill

    def map_signs(self, Z) -> np.ndarray:
        """The b of Z (k,) whose signs the logarithmic table's coefficients carry."""
        return Z[1]

    def map_monomials(self, monomials, Z, Z_conj, table):
        """A function of no arguments that fills ``table`` (M, k) with the monomials of the b of Z: b^p as one running
        product over a view made once (at most ``RUNNING_PRODUCT_MODES`` modes), else by repeated squaring."""
        b = Z[1]
        table[0] = 1.0
        if b.size > RUNNING_PRODUCT_MODES or monomials < 2:
            return lambda: power_rows(b, monomials, out=table)
        source, target = np.broadcast_to(b, table[1:].shape), table[1:]
        return functools.partial(np.multiply.accumulate, source, axis=0, out=target)  # no Python frame per call


class ComplexModes(RealModes):
    """Complex modes: 6 reals per mode, the real and imaginary parts (Re a, Im a, Re b, Im b, Re c, Im c).

    The compiled functions are the Wirtinger flow's (``lrnn_theory.derivations.complex``): they take every strength
    and its conjugate, and the task sums A^(j)(conj b), their conjugates and the Wirtinger partials B_ij of the real
    B(b, conj b) (``TaskSums.evaluate_complex`` gives those with i <= j, B_ji = conj(B_ij)), for a diagonal or a full
    gram matrix G alike; the 6 x 6 real Jacobian blocks follow from the Wirtinger derivatives,
    d f/d Re z = f_z + f_zbar and d f/d Im z = i (f_z - f_zbar), split into the real and imaginary parts of f.
    """

    name = "complex"
    block_size = 6

    def __init__(self, functions, parameters: tuple):
        super().__init__(functions, parameters)
        slots = functions.sum_slots - 1
        # per derivative order read: where each compiled B_ij argument comes from among the evaluated partials
        # (index, conjugated), and how many compiled B arguments beyond it get zeros
        self._partial_sources = {}
        for order in {functions.rates_order, functions.jacobian_order, slots}:
            evaluated = complex_partials(order)
            sources = [(evaluated.index((i, j)), False) if i <= j else (evaluated.index((j, i)), True)
                       for i, j in (p for p in B_PARTIALS if sum(p) <= order)]
            padding = sum(1 for p in B_PARTIALS if order < sum(p) <= slots)
            self._partial_sources[order] = (sources, (0.0,) * padding)

    def pack(self, a, b, c) -> np.ndarray:
        """Flat state (6 K,) = [Re a_0, Im a_0, Re b_0, Im b_0, Re c_0, Im c_0, Re a_1, ...]."""
        return np.column_stack([f(v) for v in (a, b, c) for f in (np.real, np.imag)]).ravel()

    def unpack(self, y):
        """(a, b, c), each complex (..., K), from flat states (..., 6 K)."""
        return tuple(y[..., 2 * j::6] + 1j * y[..., 2 * j + 1::6] for j in range(3))

    def mode_rows(self, Yr):
        return tuple(Yr[2 * j] + 1j * Yr[2 * j + 1] for j in range(3))

    def magnitudes(self, Yr) -> np.ndarray:
        return np.hypot(Yr[0::2], Yr[1::2])

    def arguments(self, a, b, c, sums, order: int, padding: tuple = ()) -> tuple:
        """The modes and their conjugates, the parameters, A^(0..order)(conj b), their conjugates, and the B_ij with
        i + j <= order in the compiled order (``derivations.complex.partials``)."""
        values = sums.evaluate_complex(b, order=order)
        As, evaluated = values[:order + 1], values[order + 1:]
        sources, b_padding = self._partial_sources[order]
        Bs = [np.conj(evaluated[index]) if conjugated else evaluated[index] for index, conjugated in sources]
        return (a, a.conj(), b, b.conj(), c, c.conj(), *self.parameters, *As, *padding,
                *(np.conj(v) for v in As), *padding, *Bs, *b_padding)

    def rates(self, Yr, sums) -> np.ndarray:
        a, b, c = self.mode_rows(Yr)
        values = self.functions.rates(*self.arguments(a, b, c, sums, self.functions.rates_order,
                                                      self._rates_padding))
        out = np.empty(Yr.shape)
        for j, value in enumerate(values):
            rate = value / self.divisor
            out[2 * j], out[2 * j + 1] = rate.real, rate.imag
        return out

    def jacobian(self, Yr, sums) -> np.ndarray:
        """(6, 6, k) real blocks from the 3 x 6 Wirtinger derivatives."""
        a, b, c = self.mode_rows(Yr)
        rows = self.functions.jacobian(*self.arguments(a, b, c, sums, self.functions.jacobian_order,
                                                       self._jacobian_padding))
        W = np.empty((3, 6, Yr.shape[1]), dtype=complex)  # d(rate p)/d(z_q), d(rate p)/d(conj z_q): columns 2q, 2q+1
        for p in range(3):
            for q in range(6):
                W[p, q] = rows[p][q]
        out = self._real_blocks(W)
        out /= self.divisor
        return out

    @staticmethod
    def _real_blocks(W) -> np.ndarray:
        """(6, 6, k) real blocks from the Wirtinger derivatives W (3, 6, k): d(rate p)/d(z_q), d(rate p)/d(conj z_q)
        in columns 2q, 2q + 1."""
        d_re, d_im = W[:, 0::2] + W[:, 1::2], 1j * (W[:, 0::2] - W[:, 1::2])
        out = np.empty((6, 6, W.shape[2]))
        out[0::2, 0::2], out[1::2, 0::2] = d_re.real, d_re.imag
        out[0::2, 1::2], out[1::2, 1::2] = d_im.real, d_im.imag
        return out

    # ---- the exact gradient-descent map: the strengths as complex numbers z = Re z + i Im z ----
    map_dtype = complex

    def map_state(self, Yr) -> np.ndarray:
        return Yr[0::2] + 1j * Yr[1::2]

    def map_rows(self, Z) -> np.ndarray:
        rows = np.empty((6,) + Z.shape[1:])
        rows[0::2], rows[1::2] = Z.real, Z.imag
        return rows

    def map_modes(self, Z, Z_conj) -> tuple:
        return Z[0], Z_conj[0], Z[1], Z_conj[1], Z[2], Z_conj[2]

    def map_load(self, Z, Yr, columns=None):
        if columns is None:
            Z.real, Z.imag = Yr[0::2], Yr[1::2]
        else:
            Z[:, columns] = Yr[0::2] + 1j * Yr[1::2]

    def map_jacobian(self, entries) -> np.ndarray:
        """(6, 6, k) real blocks from the 3 x 6 Wirtinger derivatives (rows of ``entries``)."""
        return self._real_blocks(entries.reshape(3, 6, -1))

    def map_loader(self, Z, columns=None):
        if columns is not None:
            return functools.partial(self.map_load, Z, columns=columns)
        # Z (3, K) complex as reals (3, K, 2), and the rows Yr (6, K) = (3, 2, K) swapped to match: one copy
        parts = Z.view(float).reshape(Z.shape + (2,))
        return lambda Yr: np.copyto(parts, Yr.reshape(3, 2, -1).transpose(0, 2, 1))

    def solver_outputs(self, outputs, jacobian: bool, whole: bool):
        """As ``RealModes.solver_outputs``: the real rows (6, K) or real blocks (6, 6, K), written into buffers made
        once when ``whole`` (the real blocks by ``_real_blocks``' algebra, in place)."""
        if not whole:
            return None, (lambda entries: self._real_blocks(entries.reshape(3, 6, -1))) if jacobian else self.map_rows
        K = outputs.shape[1]
        if not jacobian:
            rows = np.empty((6, K))
            real, imag = rows[0::2], rows[1::2]

            def convert(Z):
                np.copyto(real, Z.real)
                np.copyto(imag, Z.imag)
                return rows

            return None, convert
        W = outputs.reshape(3, 6, K)
        z, z_conj = W[:, 0::2], W[:, 1::2]
        total, difference = np.empty((3, 3, K), complex), np.empty((3, 3, K), complex)
        blocks = np.empty((6, 6, K))
        parts = blocks[0::2, 0::2], blocks[1::2, 0::2], blocks[0::2, 1::2], blocks[1::2, 1::2]

        def convert_blocks(entries):  # d/d Re z = f_z + f_zbar, d/d Im z = i (f_z - f_zbar), real and imaginary parts
            np.add(z, z_conj, out=total)
            np.subtract(z, z_conj, out=difference)
            np.copyto(parts[0], total.real)
            np.copyto(parts[1], total.imag)
            np.negative(difference.imag, out=parts[2])
            np.copyto(parts[3], difference.real)
            return blocks

        return None, convert_blocks

    def map_coefficients(self, sums, slots) -> tuple:
        """Monomials conj(b)^k b^l ((M, 2) of (k, l)) and the coefficients of the sums ``slots`` over them."""
        order = self.functions.sum_slots - 1
        return sums.monomial_coefficients(order, partials(order), slots)

    def map_logarithmic(self, monomials, modes: int) -> bool:
        """Never: the monomials conj(b)^k b^l are products of the powers of conj(b) and b."""
        return False

    def map_monomials(self, monomials, Z, Z_conj, table):
        """Fills Z_conj with the conjugates of Z, then ``table`` with conj(b)^k b^l from the powers of conj(b) and b."""
        k, l = monomials.T
        b, b_conj = Z[1], Z_conj[1]
        rows = int(monomials.max()) + 1 if monomials.size else 1
        conj_powers, powers = (np.empty((rows,) + b.shape, dtype=complex) for _ in range(2))
        left, right = np.empty(table.shape, complex), np.empty(table.shape, complex)  # conj(b)^k and b^l
        if b.size <= RUNNING_PRODUCT_MODES and rows > 1:  # ``power_rows``' running product, over a view made once
            conj_powers[0] = 1.0
            source = np.broadcast_to(b_conj, conj_powers[1:].shape)
            powers_of_conjugate = functools.partial(np.multiply.accumulate, source, axis=0, out=conj_powers[1:])
        else:
            powers_of_conjugate = functools.partial(power_rows, b_conj, rows, out=conj_powers)

        def fill():
            np.conjugate(Z, out=Z_conj)
            powers_of_conjugate()
            np.conjugate(conj_powers, out=powers)
            conj_powers.take(k, axis=0, out=left)  # (take: a quarter of fancy indexing's cost, and no new array)
            powers.take(l, axis=0, out=right)
            np.multiply(left, right, out=table)

        return fill


def _einsum_vecdot(x, y, out):
    """``np.vecdot(x, y, out=out)`` (numpy >= 2) on numpy 1: the products of the last axes."""
    return np.einsum("...m,...m->...", x, y, out=out)


_vecdot = getattr(np, "vecdot", _einsum_vecdot)


class SumsProgram:
    """A generated function linear in the task sums (``lrnn_theory.compiled.map_step``, ``jacobian_step``) on the
    strengths of a set of modes, in buffers made once.

    The sums it reads come from one batched matrix product of coefficient tables (``scale`` and each sum's rational
    factor folded in once) with a table of monomials of b (the powers of b, or conj(b)^k b^l for complex modes) that
    the layout fills, or (``logarithmic``, real modes) of the table of |b|^p with the signs of b folded into the
    coefficients; ``run`` then writes the function's outputs into ``outputs``. A run is a fixed, small number of
    numpy calls with no allocation: one engine for every kind of task.

    Parameters
    ----------
    layout : RealModes or ComplexModes
        The mode layout (gradient flow).
    monomials, coefficients
        The table's monomials and the coefficients (S, M, K) of the sums the function reads over them, factors and
        scale folded in (``sum_coefficients``).
    generated : lrnn_theory.compiled.MapStep
        The generated function.
    states : int
        Buffers of strengths the program is bound to (``GradientStep``'s ring; ``state`` is the first).
    logarithmic : bool
        The table of |b|^p and signed coefficients (``RealModes.map_logarithmic``).

    Attributes
    ----------
    state : ndarray (3, K)
        The strengths a, b, c of every mode (complex for complex modes) the program reads.
    outputs : ndarray (n, K)
        What ``run`` writes, one row per output of the generated function.
    """

    def __init__(self, layout, monomials, coefficients, generated, states: int = 1, logarithmic: bool = False):
        count, K = coefficients.shape[1:]
        dtype = layout.map_dtype
        self.layout = layout
        #: Monomials of b in the table the task sums are read from (the powers b^p, p < count, for real modes).
        self.monomials = count
        #: ``states`` buffers of strengths (3, K) the program can run on (``GradientStep``: a ring of steps), each
        #: with its own bound table fill and arguments, ``_programs`` (fill, arguments); ``state`` is the first.
        self._states = np.zeros((states, 3, K), dtype)
        self.state = self._states[0]
        conjugates = np.zeros((3, K), dtype)
        #: With ``logarithmic`` (real modes): |b|^p in a table (K, M - 1) and the signs of b folded into the
        #: coefficients (``fold_signs``); else the monomials of b in a table (M, K).
        self.logarithmic = logarithmic
        if logarithmic:
            table = np.empty((K, count - 1))
            self._evaluate, sums_read = self._signed_products(coefficients, table)
            fills = [layout.map_magnitudes(monomials, Z, table) for Z in self._states]
        else:
            table = np.empty((count, K), np.result_type(dtype, coefficients.dtype))
            self._evaluate, sums_read = self._sum_products(coefficients.astype(table.dtype, copy=False), table)
            fills = [layout.map_monomials(monomials, Z, conjugates, table) for Z in self._states]
        self.outputs = np.empty((generated.outputs, K), dtype)
        scratch = np.empty((generated.temporaries, K), dtype)  # the generated function's partial results
        self._programs = [(fill, (*layout.map_modes(Z, conjugates), *sums_read, *self.outputs, *scratch))
                          for fill, Z in zip(fills, self._states)]
        self._fill, self._arguments = self._programs[0]
        self._step = generated.increments

    @staticmethod
    def sum_coefficients(layout, sums, generated, scale: float) -> tuple:
        """(monomials, coefficients (S, M, K)) of the sums ``generated`` reads over monomials of b, each times its
        factor and ``scale`` (h / tau for the map's increments, 1 / tau for the flow's rates and Jacobian)."""
        monomials, coefficients = layout.map_coefficients(sums, generated.slots)
        return monomials, coefficients * (np.asarray(generated.factors) * scale)[:, None, None]

    #: Up to this many modes the task sums are one batched product per mode (one numpy call, where the calls are the
    #: cost: 3 us at K = 32); beyond it, sums with one coefficient table for all modes (B of white inputs) are one
    #: matrix product and the others one einsum over their own powers (K = 10^4, T = 20: 2.6 ms -> 0.4 ms per step).
    BATCHED_MODES = 256

    @classmethod
    def _sum_products(cls, coefficients, table) -> tuple:
        """(a function of no arguments that writes the task sums, the sums as one (K,) view each) from the
        coefficients (S, M, K) and the table of monomials (M, K) that ``_fill`` writes."""
        S, M, K = coefficients.shape
        if K <= cls.BATCHED_MODES:
            per_mode = np.ascontiguousarray(coefficients.transpose(2, 0, 1))  # (K, S, M)
            sums, monomials = np.empty((K, S, 1), table.dtype), table.T[:, :, None]
            return functools.partial(np.matmul, per_mode, monomials, out=sums), tuple(sums[:, j, 0] for j in range(S))
        shared = [j for j in range(S) if np.array_equal(coefficients[j], np.broadcast_to(coefficients[j, :, :1],
                                                                                            (M, K)))]
        own = [j for j in range(S) if j not in shared]
        sums = np.empty((S, K), table.dtype)
        order = shared + own
        common = np.ascontiguousarray(coefficients[shared, :, 0])  # (shared, M)
        used = np.flatnonzero(np.any(coefficients[own] != 0, axis=(0, 2)))
        rows = used[-1] + 1 if used.size else 1
        individual = np.ascontiguousarray(coefficients[own, :rows])  # (own, rows, K)
        common_out, own_out, own_table = sums[:len(shared)], sums[len(shared):], table[:rows]

        def evaluate():
            np.matmul(common, table, out=common_out)
            np.einsum("spk,pk->sk", individual, own_table, out=own_out)

        return evaluate, tuple(sums[order.index(j)] for j in range(S))

    def _signed_products(self, coefficients, table) -> tuple:
        """(a function of no arguments that writes the task sums, the sums as one (K,) view each) from the
        coefficients (S, M, K) of the powers of b and the table of |b|^p, p >= 1, (K, M - 1) that the fill writes:
        the constant terms plus one product per mode and sum (``np.vecdot`` over contiguous rows, numpy >= 2; an einsum before), with the
        coefficients of the odd powers of the modes with b < 0 negated (``fold_signs``)."""
        self._constant = np.ascontiguousarray(coefficients[:, 0])  # (S, K)
        self._magnitude_coefficients = np.ascontiguousarray(coefficients[:, 1:].transpose(0, 2, 1))  # (S, K, M - 1)
        self._signed = self._magnitude_coefficients.copy()
        self._odd_powers = np.arange(1, coefficients.shape[1]) % 2 == 1
        self.negative = np.zeros(coefficients.shape[2], bool)  # the modes whose odd coefficients are negated
        self.sign_folds = 0
        sums, constant, signed = np.empty(self._constant.shape), self._constant, self._signed

        def evaluate():
            _vecdot(signed, table, out=sums)
            np.add(sums, constant, out=sums)

        return evaluate, tuple(sums)

    def fold_signs(self, b):
        """Fold the signs of ``b`` (K,) into the coefficients (logarithmic table): b^p = sign(b)^p |b|^p, so the
        coefficients of odd p of the modes with b < 0 are negated; nothing to do while the signs are those folded."""
        negative = b < 0
        if np.array_equal(negative, self.negative):
            return
        self.negative = negative
        self.sign_folds += 1
        flip = np.where(negative[:, None] & self._odd_powers, -1.0, 1.0)
        np.multiply(self._magnitude_coefficients, flip, out=self._signed)

    def runner(self, convert, columns=None):
        """``convert(run(Yr, columns))`` (a new array: ``convert`` is the layout's ``map_rows`` or
        ``map_jacobian``, of the columns ``columns`` only if given) as a function of Yr alone, its buffers and
        calls bound once."""
        pick = (slice(None),) if columns is None else (slice(None), columns)
        if self.logarithmic:  # the signs of b folded in first (``run``)
            return lambda Yr: convert(self.run(Yr, columns)[pick])
        load, state, fill, evaluate = self.layout.map_load, self.state, self._fill, self._evaluate
        step, arguments, outputs = self._step, self._arguments, self.outputs

        def evaluated(Yr):
            load(state, Yr, columns)
            fill()
            evaluate()
            step(*arguments)
            return convert(outputs if columns is None else outputs[pick])

        return evaluated

    def solver_runner(self, jacobian: bool, columns=None):
        """The program as the batched solver calls it: a function of (t, Yr) (t unused: the flow is autonomous), Yr
        the states as rows of the modes ``columns`` (None: all), giving the rates (m, k) (``jacobian`` False) or the
        Jacobian blocks (m, m, k) in a buffer of the layout's (``RealModes.solver_outputs``), valid until the next
        call: no copy, and no layer between the solver and the numpy calls."""
        view, convert = self.layout.solver_outputs(self.outputs, jacobian, columns is None)
        if self.logarithmic:  # the signs of b folded in first (``run``)
            pick = (slice(None),) if columns is None else (slice(None), columns)
            return lambda t, Yr: convert(self.run(Yr, columns)[pick])
        load, fill, evaluate = self.layout.map_loader(self.state, columns), self._fill, self._evaluate
        step, arguments, outputs = self._step, self._arguments, self.outputs
        if columns is not None:
            def evaluated_columns(t, Yr):
                load(Yr)
                fill()
                evaluate()
                step(*arguments)
                return convert(outputs[:, columns])

            return evaluated_columns
        if view is not None:  # the outputs are the result (real modes)
            def evaluated_view(t, Yr):
                load(Yr)
                fill()
                evaluate()
                step(*arguments)
                return view

            return evaluated_view

        def evaluated(t, Yr):
            load(Yr)
            fill()
            evaluate()
            step(*arguments)
            return convert(outputs)

        return evaluated

    def run(self, Yr=None, columns=None) -> np.ndarray:
        """Evaluate the program (on the states stored as rows Yr (m, K), if given, else on ``state``; Yr (m, k)
        of the modes ``columns`` only, if given) into ``outputs`` and return them (the buffer itself). ``runner``
        binds the same calls once for the solver: a change here belongs there too."""
        if Yr is not None:
            self.layout.map_load(self.state, Yr, columns)
        if self.logarithmic:
            self.fold_signs(self.layout.map_signs(self.state))
        self._fill()
        self._evaluate()
        self._step(*self._arguments)
        return self.outputs


class GradientStep(SumsProgram):
    """The exact gradient-descent map of every mode of a compiled flow, stepped in place (``DiscreteGD.run``).

    A step adds the increments h * rate of the generated function of the layout (``lrnn_theory.compiled.map_step``)
    as a ``SumsProgram`` with scale h / tau. The steps of one ``advance`` run through a ring of ``ring_steps`` + 1
    state buffers (``RING`` + 1 at up to ``RING_VALUES`` / (3 RING) modes), each step writing the next buffer (state +
    increments: one call), so that the extremes of every coordinate are four calls per ring of steps instead of two
    per step (K = 32: 0.75 -> 0.14 us a step); ``state`` is the first buffer again after every ``advance``.

    Parameters
    ----------
    flow : CompiledFlow
        The gradient flow of the task (its layout, task sums and tau).
    h : float
        Theory time of one step (lr * tau * scale).

    Attributes
    ----------
    state : ndarray (3, K)
        The strengths a, b, c of every mode (complex for complex modes), stepped in place.
    highest, lowest : ndarray
        Largest and smallest value of every real coordinate (rows a, b, c; real and imaginary parts side by side for
        complex modes) over the steps since ``reset_extremes``: a divergence check of every step.
    """

    #: Steps between two reductions of the extremes (the ring holds this many steps and the state before them), at
    #: most ``RING_VALUES`` strengths in all (fewer steps at many modes, where the calls cost little).
    RING = 64
    RING_VALUES = 2 ** 18

    def __init__(self, flow, h: float):
        layout, step = flow.layout, map_step(flow.layout.name)
        monomials, coefficients = self.sum_coefficients(layout, flow.sums, step, h / layout.divisor)
        #: The monomials of b and the coefficients (S, M, K) of the task sums the step reads over them, scale h / tau
        #: folded in (what the compiled map, ``lrnn_theory.native``, reads too).
        self.tables = (monomials, coefficients)
        self.ring_steps = max(1, min(self.RING, self.RING_VALUES // (3 * flow.K)))
        super().__init__(layout, monomials, coefficients, step, states=self.ring_steps + 1,
                         logarithmic=layout.map_logarithmic(monomials, flow.K))
        self._increments = self.outputs
        self._coordinates = self._states.view(float)  # (ring_steps + 1, 3, real coordinates per row)
        self.highest = np.empty_like(self._coordinates[0])
        self.lowest = np.empty_like(self._coordinates[0])
        self._block_extremes = np.empty_like(self.highest)
        #: Per ring position: (table fill, arguments of the generated step, the state, the next state).
        self._ring = [(fill, arguments, self._states[i], self._states[i + 1])
                      for i, (fill, arguments) in enumerate(self._programs[:-1])]

    def set_rows(self, Yr):
        """Set the state from states stored as rows Yr (m, K)."""
        self.state[...] = self.layout.map_state(np.asarray(Yr, dtype=float))
        self.reset_extremes()

    def reset_extremes(self):
        """Start ``highest`` and ``lowest`` again from the current state."""
        self.highest[...] = self._coordinates[0]
        self.lowest[...] = self._coordinates[0]

    def rows(self) -> np.ndarray:
        """The state as rows (m, K), one row per real coordinate (a new array)."""
        return self.layout.map_rows(self.state)

    def parts(self) -> dict:
        """The parts of one step as functions of no arguments, by name, in the order ``advance`` runs them (for
        measuring what a step costs; each runs on the current state; the extremes are one ring's reductions)."""
        increments, state, following, ring = self._increments, self.state, self._states[1], self.ring_steps

        def per_ring():
            self._reduce_extremes(ring)
            if self.logarithmic:
                self.fold_signs(self.layout.map_signs(state))
                self._steps_with_folded_signs(ring)

        return {"table of monomials of b": self._fill, "task sums (coefficients x table)": self._evaluate,
                "increments h * rate (generated)": lambda: self._step(*self._arguments),
                "next state = state + increments": lambda: np.add(state, increments, out=following),
                f"extremes (and signs of b) of {ring} steps": per_ring}

    def _reduce_extremes(self, count: int):
        """Fold the states of the last ``count`` ring positions into ``highest`` and ``lowest`` (NaN propagates: a
        non-finite step fails the check)."""
        block, extremes = self._coordinates[1:count + 1], self._block_extremes
        np.maximum.reduce(block, axis=0, out=extremes)
        np.maximum(self.highest, extremes, out=self.highest)
        np.minimum.reduce(block, axis=0, out=extremes)
        np.minimum(self.lowest, extremes, out=self.lowest)

    def advance(self, count: int):
        """``count`` steps of gradient descent, in place (overflow gives inf or NaN, never an exception), keeping
        ``highest`` and ``lowest``."""
        evaluate, step, increments, add, ring = self._evaluate, self._step, self._increments, np.add, self._ring
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            while count > 0:
                steps = min(count, self.ring_steps)
                if self.logarithmic:
                    self.fold_signs(self.layout.map_signs(self.state))
                for fill, arguments, state, following in ring[:steps]:
                    fill()
                    evaluate()
                    step(*arguments)
                    add(state, increments, following)
                if self.logarithmic:
                    steps = self._steps_with_folded_signs(steps)
                self._reduce_extremes(steps)
                self.state[...] = self._states[steps]
                count -= steps

    def _steps_with_folded_signs(self, steps: int) -> int:
        """How many of the ``steps`` just run read a b with the signs folded into the coefficients: up to the first
        state whose b changed sign (at least one: the first state's signs are those folded); the steps after it are
        run again with the new signs (NaN, never negative, keeps the fold)."""
        changed = (self.layout.map_signs(self._states[:steps].transpose(1, 0, 2)) < 0) != self.negative
        if not changed.any():
            return steps
        return int(np.argmax(changed.any(axis=1)))


#: The mode layout of a task, by the dtype kind of its values (one dtype per task: ``Task``): float or complex.
MODE_LAYOUTS = {"f": RealModes, "c": ComplexModes}


def mode_layout(task, flow: str = "gradient", parameters: tuple | None = None):
    """The mode layout of ``task`` with the compiled ``flow`` ("gradient" or "modified"; parameters (tau,) or
    (tau, h), default (tau,))."""
    Layout = MODE_LAYOUTS[task.singular_values.dtype.kind]
    return Layout(flow_functions(flow, Layout.name), (task.tau,) if parameters is None else parameters)


class CompiledFlow:
    """Vectorized right-hand side, Jacobian and energy of the mode flow of one task.

    The state vector is y = [a_0, b_0, c_0, a_1, b_1, c_1, ...] (mode-major, so the Jacobian is banded); for a
    complex task it holds real and imaginary parts, [Re a_0, Im a_0, Re b_0, Im b_0, Re c_0, Im c_0, ...]. Which one
    is the mode layout (``RealModes``, ``ComplexModes``), chosen once from the task's dtype.

    Attributes
    ----------
    layout : RealModes or ComplexModes
        Packing of the modes into the state, and the compiled functions of this flow.
    block_size : int
        Real numbers per mode in the state, 3 (real task) or 6 (complex task): the Jacobian is (K, m, m) blocks.

    nfev, njev : int
        Right-hand-side and Jacobian evaluations since the last ``reset_counters``.
    """

    #: The compiled flow (``lrnn_theory.compiled.flow_functions``): the gradient flow of E.
    FLOW = "gradient"

    def __init__(self, task):
        self.task = coerce_task(task)
        self.tau = self.task.tau
        self.K = self.task.K
        self.sums = self.task.sums()
        self.layout = mode_layout(self.task, self.FLOW, self.parameters())
        self.block_size = self.layout.block_size
        self._sparsity = None  # row and column indices of the sparse Jacobian, made by the first ``jacobian_sparse``
        self._subset_modes, self._subset_sums = None, None
        self._row_programs = {}  # thread -> [the subset last run, (rates, Jacobian) programs] (``_programs``)
        self._last_evaluators = (object(), None, None)  # (modes, thread, evaluators) last used (``_evaluators``)
        self.reset_counters()

    def parameters(self) -> tuple:
        """The flow's parameters for its compiled functions: (tau,)."""
        return (self.tau,)

    def reset_counters(self):
        self.nfev = 0
        self.njev = 0
        #: DivergenceError describing the first non-finite evaluation since the last reset, if any.
        self.overflow = None
        self._nonfinite_calls = 0
        self._t_start = 0.0
        self._last_t, self._calls_at_t = None, 0
        #: Set by ``integrate`` while a solver runs: only then do repeated calls at one time mean a stuck solver.
        self.watch_progress = False

    def initial_state(self) -> np.ndarray:
        init = self.task.init
        return self.layout.pack(init.a, init.b, init.c)

    def modes(self, y):
        """(a, b, c), each of shape (..., K), from flat states (..., m K); complex for a complex task."""
        return self.layout.unpack(np.asarray(y))

    def mode_values(self, y_mode):
        """(a, b, c) of one mode from its m state values (complex numbers for a complex task)."""
        return tuple(np.ravel(v)[0] for v in self.modes(np.ravel(y_mode)))

    def _sums_for(self, modes):
        """Task sums of the modes ``modes`` (None: all), cached for as long as the solver passes the same array."""
        if modes is None or len(modes) == self.K:
            return self.sums
        if modes is not self._subset_modes:
            self._subset_modes, self._subset_sums = modes, self.sums.subset(modes)
        return self._subset_sums

    def rates_blocks(self, t, Y, modes=None) -> np.ndarray:
        """Rates (k, m) for the states Y (k, m) of the modes ``modes`` (indices; None: all K). No checks: the
        batched solver handles non-finite values per mode."""
        return self.rates_rows(t, np.reshape(Y, (Y.shape[0], -1)).T, modes).T

    #: Frozen state components of a mode, a bool mask of shape (m,) (``integrate(frozen=)``), or None: all move.
    #: Their rates and Jacobian rows are zero, so every solver (batched, scipy, events) holds them fixed.
    frozen_components = None

    #: The rates and Jacobian on states as rows come from generated programs linear in the task sums
    #: (``SumsProgram``: one table of monomials of b, one batched product, a few fused numpy calls, 1 / tau folded
    #: into the coefficients; rates 21 -> 6 us and Jacobian 33 -> 13 us per call at K = 1, T = 20, where the calls
    #: are the cost) up to this many modes times powers of b (K T); beyond it (and for flows without them,
    #: ``ROW_PROGRAMS``) from the compiled functions, whose tables of b^2 are half as long and whose sums are one
    #: product for all modes (measured even at K T ~ 5000: K = 100, T = 50 and K = 10, T = 500; slower beyond).
    ROW_PROGRAM_SIZE = 4096
    #: Whether this flow's rates and Jacobian are the generated programs' (the gradient flow's: ``map_step``,
    #: ``jacobian_step``).
    ROW_PROGRAMS = True

    def _programs(self, modes):
        """(rates, Jacobian) ``SumsProgram`` of all K modes (made once per thread), and the columns of ``modes``
        in them (None: all modes), or None: the compiled functions. A subset of the modes (the solver's running
        modes) runs on all columns, the others at zero since the subset last changed: at these K the columns cost
        less than the numpy calls, and nothing is built again when modes finish."""
        if not self.ROW_PROGRAMS or self.K * self.sums.T > self.ROW_PROGRAM_SIZE:
            return None
        thread = threading.get_ident()
        cached = self._row_programs.get(thread)
        if cached is None:
            layout = self.layout
            cached = self._row_programs[thread] = [None, tuple(
                SumsProgram(layout, *SumsProgram.sum_coefficients(layout, self.sums, generated, 1.0 / layout.divisor),
                            generated) for generated in (map_step(layout.name), jacobian_step(layout.name)))]
        columns = None if modes is None or len(modes) == self.K else modes
        if columns is not None and cached[0] is not modes:  # a new subset: the other modes' columns at zero
            cached[0] = modes
            for program in cached[1]:
                program.state[...] = 0.0
        return cached[1], columns

    def rates_rows(self, t, Yr, modes=None) -> np.ndarray:
        """Rates (m, k) for states stored as rows Yr (m, k), one row per state variable (the batched solver's
        layout); otherwise as ``rates_blocks``."""
        return self._rows_of(0, Yr, modes)

    def jacobian_rows(self, t, Yr, modes=None) -> np.ndarray:
        """Jacobian blocks as (m, m, k) for states stored as rows Yr (m, k); unchecked, as ``rates_rows``."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._rows_of(1, Yr, modes)

    def row_functions(self, modes):
        """(rates, Jacobian) of the states as rows Yr of the modes ``modes`` as functions of (t, Yr) for the batched
        solver (``solvers.solve_blocks``), whose results may be buffers valid until the next call of the same
        function; unchecked, as ``rates_rows``. At small K the layers between the solver and the numpy calls cost as
        much as the calls: the generated programs' (``SumsProgram.solver_runner``) have none."""
        programs = self._programs(modes)
        if programs is None:
            layout, sums = self.layout, self._sums_for(modes)
            functions = (lambda t, Yr: layout.rates(Yr, sums), lambda t, Yr: layout.jacobian(Yr, sums))
        else:
            (rates, jacobian), columns = programs
            functions = (rates.solver_runner(False, columns), jacobian.solver_runner(True, columns))
        frozen = self.frozen_components
        if frozen is None:
            return functions

        def zero_frozen(function):  # frozen: d(rate)/dt = 0 and d(frozen rate)/d(anything) = 0
            def rows(t, Yr):
                out = function(t, Yr)
                out[frozen] = 0.0
                return out

            return rows

        return tuple(zero_frozen(function) for function in functions)

    def _rows_of(self, which: int, Yr, modes) -> np.ndarray:
        """The rates (``which`` 0) or Jacobian blocks (1) of the states Yr of ``modes``: from the generated programs
        (``_programs``) or the compiled functions (``_evaluators``); frozen components' rates and Jacobian rows are
        zero."""
        out = self._evaluators(modes)[which](Yr)
        if self.frozen_components is not None:
            out[self.frozen_components] = 0.0  # frozen: d(rate)/dt = 0 and d(frozen rate)/d(anything) = 0
        return out

    def _evaluators(self, modes) -> tuple:
        """(rates, Jacobian) of states as rows Yr of the modes ``modes``, each a function of Yr alone, kept for the
        last (modes, thread) asked (the solver passes one array object per set of running modes): at small K the
        layers between the solver and the numpy calls cost as much as the calls, so they are bound here once. They
        hold the layout and the sums, not the flow (no reference cycle through ``_last_evaluators``)."""
        thread = threading.get_ident()
        last = self._last_evaluators
        if last[0] is modes and last[1] == thread:
            return last[2]
        programs = self._programs(modes)
        if programs is None:
            layout, sums = self.layout, self._sums_for(modes)
            evaluators = (lambda Yr: layout.rates(Yr, sums), lambda Yr: layout.jacobian(Yr, sums))
        else:
            (rates, jacobian), columns = programs
            evaluators = (rates.runner(self.layout.map_rows, columns),
                          jacobian.runner(self.layout.map_jacobian, columns))
        self._last_evaluators = (modes, thread, evaluators)
        return evaluators

    def overflow_error(self, t, mode: int, y_mode) -> DivergenceError:
        """The error for a mode whose rates are not finite (``y_mode``: its m state values)."""
        a, b, c = self.mode_values(y_mode)
        cause = (f"|b|^(T-1) = |{b:.4g}|^{self.task.T - 1} overflows" if abs(b) > 1 else
                 "the mode strengths or singular values are too large for floating point")
        return DivergenceError(
            f"learning dynamics diverged at t={t:.6g}: mode {mode} overflowed (a={a:.4g}, b={b:.4g}, c={c:.4g}): "
            f"{cause}", time=float(t), mode=mode)

    #: Consecutive evaluations at one and the same time after which the solver counts as stuck (its step size has
    #: underflowed, as on badly scaled problems); LSODA would otherwise retry without end.
    MAX_CALLS_AT_ONE_TIME = 2000

    #: Consecutive non-finite evaluations after which the dynamics count as diverged. An explicit solver's rejected
    #: trial step may overflow harmlessly and is retried with a smaller step; an implicit solver would retry forever.
    MAX_NONFINITE_CALLS = 25

    def _check(self, t, values, y):
        """Raise DivergenceError when evaluations stay non-finite (or are non-finite at the start)."""
        if np.count_nonzero(np.isfinite(values)) == values.size:  # (.all(): its Python wrapper costs more)
            self._nonfinite_calls = 0
            return
        self._nonfinite_calls += 1
        if self.overflow is None:
            bad_rows = ~np.all(np.isfinite(values.reshape(self.K, -1)), axis=1)
            mode = int(np.argmax(bad_rows))
            m = self.block_size
            self.overflow = self.overflow_error(t, mode, np.asarray(y)[m * mode:m * mode + m])
        if t == self._t_start or self._nonfinite_calls >= self.MAX_NONFINITE_CALLS:
            raise self.overflow

    #: Most right-hand-side evaluations of one solver run: an explicit method on this stiff flow (or a badly
    #: scaled task) would otherwise run for hours; the implicit methods need a few thousand.
    MAX_RHS_CALLS = 200_000

    def _check_progress(self, t, y):
        if not self.watch_progress:
            return
        if self.nfev > self.MAX_RHS_CALLS:
            raise IntegrationError(
                f"the solver made {self.nfev} evaluations and reached only t={t:.6g}: the flow is too stiff for this "
                f"method; use the default method (or BDF, Radau)")
        if t != self._last_t:
            self._last_t, self._calls_at_t = t, 0
            return
        self._calls_at_t += 1
        if self._calls_at_t >= self.MAX_CALLS_AT_ONE_TIME:
            rates = np.max(np.abs(self.rates(t, y, count=False, check=False)))
            raise IntegrationError(
                f"the solver is stuck at t={t:.6g}: {self._calls_at_t} evaluations without progress (largest rate "
                f"{rates:.3g}); the problem is too badly scaled for floating point: rescale the singular values, "
                f"initial values or tau")

    def rates(self, t, y, count: bool = True, check: bool = True) -> np.ndarray:
        """dy/dt for the flat state y (shape (m K,)); ``count=False`` leaves ``nfev`` alone (event checks)."""
        self.nfev += count
        if check:
            self._check_progress(t, y)
        with np.errstate(over="ignore", invalid="ignore"):  # (``rates_blocks`` without its layers: scipy calls this)
            out = self._rows_of(0, np.reshape(y, (self.K, self.block_size)).T, None).T.ravel()
        if check:
            self._check(t, out, y)
        return out

    __call__ = rates

    def jacobian_blocks(self, t, y, modes=None) -> np.ndarray:
        """(k, m, m) Jacobian blocks d(rates of one mode)/d(state of that mode); m = ``block_size``.

        ``y`` is the flat state (m K,) (checked for overflow, as for the scipy solvers) or, with ``modes`` given,
        the (k, m) states of those modes (unchecked: the batched solver handles non-finite values per mode).
        """
        if modes is not None:
            return np.moveaxis(self.jacobian_rows(t, np.reshape(y, (y.shape[0], -1)).T, modes), 2, 0)
        self.njev += 1
        blocks = self.jacobian_rows(t, np.reshape(y, (self.K, self.block_size)).T).transpose(2, 0, 1)  # (moveaxis)
        self._check(t, blocks, y)
        return blocks

    def jacobian_banded(self, t, y) -> np.ndarray:
        return blocks_to_banded(self.jacobian_blocks(t, y))

    def jacobian_sparse(self, t, y):
        if self._sparsity is None:  # (only BDF and Radau ask for it: not made for every flow)
            self._sparsity = block_sparsity(self.K, self.block_size)
        return blocks_to_sparse(self.jacobian_blocks(t, y), *self._sparsity)

    def gradient_step(self, h: float) -> GradientStep:
        """The exact gradient-descent map of this flow with steps of theory time ``h`` (``GradientStep``)."""
        return GradientStep(self, h)

    def energy(self, y) -> np.ndarray:
        """Per-mode energy for a flat state (3K,) or a stack of states (n, 3K)."""
        return mode_energy(self.task.singular_values, *self.modes(y), self.tau, self.task.input_covariance)


def compile_flow(task) -> CompiledFlow:
    """Compile the derived mode ODEs of ``task`` into vectorized numpy functions.

    Examples
    --------
    >>> from lrnn_theory import Task
    >>> from lrnn_theory.flow import compile_flow
    >>> flow = compile_flow(Task.constant(delta=1.0, T=3))
    >>> flow.rates(0.0, flow.initial_state()).round(6)   # a = b = c = 0.1: A = 1.11, B = 1.0101, u = 0.01
    array([0.10999, 0.01199, 0.10999])
    """
    return CompiledFlow(task)


# ---- output times -------------------------------------------------------------------------------------------------
#: Largest t_end in units of tau: at 1e12 the spacing of doubles is 1e-4, near the step sizes the flow needs.
MAX_T_END = 1e12


def check_final_time(name: str, value, tau: float = 1.0) -> float:
    """``value`` checked as a final time: positive, finite and at most ``MAX_T_END`` tau."""
    value = check_real(name, value, positive=True)
    if value / tau > MAX_T_END:
        raise bad(name, value, f"be at most {MAX_T_END:g} * tau = {MAX_T_END * tau:g} (beyond it the spacing of "
                               f"floating-point times is too coarse for the solver); rescale tau or the task")
    return value


def output_times(t_end, n_points=201, t_eval=None, tau: float = 1.0):
    """Checked ``(t_end, t_eval)``: ``n_points`` equally spaced times from 0 to ``t_end``, or the given ``t_eval``
    (finite, strictly increasing, within [0, t_end]); ``t_end`` at most ``MAX_T_END`` tau."""
    t_end = check_final_time("t_end", t_end, tau)
    if t_eval is None:
        n_points = check_int("n_points", n_points, minimum=2)
        resources.guard(resources.integrate_estimate(1, 1, n_points), "the output times")
        return t_end, np.linspace(0.0, t_end, n_points)
    t_eval = check_finite_array("t_eval", t_eval, ndim=1)
    if t_eval.size == 0 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0 or t_eval[-1] > t_end:
        raise bad("t_eval", t_eval, f"be strictly increasing times within [0, {t_end:g}]")
    return t_end, t_eval

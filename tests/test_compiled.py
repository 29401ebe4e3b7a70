"""The compiled functions of ``lrnn_theory.compiled`` against independent evaluations, and how much work they do:
each flow's Jacobian (compiled as one flat list with shared subexpressions) entry by entry against the nested list
lambdified without cse; the frozen input-output solutions derived per family on first use; the BLAS controller of
``lrnn_theory.network`` made once while no shared library is loaded.

Finite differences of the rates check the same Jacobians in tests/test_complex.py (gradient flow, complex),
tests/test_finite_lr.py (modified flow, real and complex) and tests/test_correlated.py.
"""
import numpy as np
import pytest
import sympy as sp

from lrnn_theory import compiled, network
from lrnn_theory.frozen import compile_io_solution

FLOWS = [("gradient", "real"), ("gradient", "complex"), ("modified", "real"), ("modified", "complex")]


@pytest.mark.parametrize("flow, layout", FLOWS)
def test_flat_jacobian_equals_the_nested_lambdify_without_cse(flow, layout):
    expr = compiled.flow_expressions(flow, layout)
    rows = compiled.flow_functions(flow, layout).jacobian
    rng = np.random.default_rng(3)
    K = 5
    values = [rng.uniform(0.2, 1.2, K) for _ in expr.args]
    if layout == "complex":
        values = [v + 1j * rng.uniform(-0.5, 0.5, K) for v in values]
    got = rows(*values)
    reference = sp.lambdify(expr.args, expr.jacobian, modules="numpy", cse=False)(*values)
    assert [len(row) for row in got] == [len(row) for row in expr.jacobian]
    for got_row, reference_row in zip(got, reference):
        for value, expected in zip(got_row, reference_row):
            np.testing.assert_allclose(np.broadcast_to(value, (K,)), np.broadcast_to(expected, (K,)),
                                       rtol=1e-12, atol=1e-12)


def test_balanced_starts_never_derive_the_unbalanced_solution(monkeypatch):
    """a = c (balanced) asks only for the logistic family; a != c needs the root form, derived on first use."""
    assert compiled.BALANCED_NAMES == set(compiled.frozen_balanced_functions())

    class Derived(Exception):
        """Raised instead of deriving the unbalanced solution (its derivation is what the test counts)."""

    def derive():
        raise Derived

    monkeypatch.setattr(compiled, "frozen_unbalanced_functions", derive)
    sol = compile_io_solution()
    u = sol.u([0.0, 1.0], A=1.0, B=1.0, a0=0.1, c0=0.1)
    t_half = sol.time_to_fraction(0.5, A=1.0, B=1.0, a0=0.1, c0=0.1)
    # The logistic u(t) = u0 e^2t / (1 + u0 (e^2t - 1)) at u0 = 0.01, and its half time log(99) / 2.
    np.testing.assert_allclose(u, [0.01, 0.01 * np.e**2 / (1 + 0.01 * (np.e**2 - 1))], rtol=1e-12)
    np.testing.assert_allclose(t_half, np.log(99) / 2, rtol=1e-12)
    with pytest.raises(Derived):
        sol.u(1.0, A=1.0, B=1.0, a0=0.1, c0=0.2)


def test_blas_controller_is_made_again_only_when_a_library_is_loaded(monkeypatch):
    made = []
    controller = network.ThreadpoolController

    def counting():
        made.append(1)
        return controller()

    monkeypatch.setattr(network, "ThreadpoolController", counting)
    monkeypatch.setattr(network, "_CONTROLLER", [None, None])
    for _ in range(3):
        context, threads = network.blas_threads(8)
        with context:
            assert threads == 1
            assert {lib["num_threads"] for lib in network._CONTROLLER[1].select(user_api="blas").info()} == {1}
    assert len(made) == 1
    monkeypatch.setattr(network, "_CONTROLLER", [network._loaded_library_count() - 1, network._CONTROLLER[1]])
    network.blas_threads(8)
    assert len(made) == 2

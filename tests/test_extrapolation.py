"""Result 2, extrapolation: the error of a zero-loss solution run at another length T' (notes §5.3)."""
import numpy as np
import pytest
import sympy as sp

from lrnn_theory import LrnnInputError, Task
from lrnn_theory.derivations import stability as st
from lrnn_theory.derivations.extrapolation import derive_extrapolation
from lrnn_theory.extrapolation import (closed_form_energy, family_extrapolation, family_task,
                                       network_extrapolation_energy, solution_extrapolation)

INIT = {"a": 0.5, "b": 0.5, "c": 0.5}


# ---- extrapolation ----------------------------------------------------------------------------------------------
def test_extrapolation_table_of_notes():
    """The derived residuals agree with notes §5.3 (up to its prediction-minus-target sign)."""
    i, T, Tp = st.i, st.T, sp.Symbol("T'", integer=True, positive=True)
    exp = derive_extrapolation("exponential")
    assert sp.simplify(exp["residual"] + st.delta * st.lam**i * (st.lam ** (T - Tp) - 1)) == 0
    mean = derive_extrapolation("mean")
    assert sp.simplify(mean["energy_generic"] - (Tp - T) ** 2 / (2 * st.tau * T**2 * Tp)) == 0
    for fam in ("constant", "sum", "inverse_exponential"):
        assert derive_extrapolation(fam)["residual"] == 0


@pytest.mark.parametrize("family, lam", [("exponential", 0.8), ("exponential", 1.1), ("mean", None),
                                         ("constant", None), ("inverse_exponential", 0.7)])
def test_extrapolation_closed_forms_match_running_the_solution(family, lam):
    res = family_extrapolation(family, 5, [1, 2, 3, 5, 8, 13], delta=0.9, lam=lam)
    assert res["max_abs_error"] <= 1e-9 * max(1.0, np.abs(res["closed_form"]).max())
    if family in ("constant", "inverse_exponential"):
        assert np.all(res["energy"] < 1e-20)
    else:
        assert res["energy"][3] < 1e-20 and np.all(np.delete(res["energy"], 3) > 1e-4)


def test_extrapolation_of_trained_network_matches_closed_form():
    """Train an LRNN at T = 4 (harness), run the trained weights at other lengths through LRNN.forward."""
    from lrnn_theory.validation import train_lrnn

    lam, T = 0.8, 4
    task = Task.exponential(delta=1.0, lam=lam, T=T, init=INIT)
    result = train_lrnn(task, lr=0.05, steps=4000, record_every=4000)
    U, V = result.basis["U"], result.basis["V"]
    T_test = [2, 3, 6, 9]
    simulated = [network_extrapolation_energy(result.network, family_task("exponential", t, 1.0, lam)
                                              .singular_values, U, V) for t in T_test]
    np.testing.assert_allclose(simulated, closed_form_energy("exponential", T, T_test, 1.0, lam), rtol=1e-5)


def test_network_forward_of_aligned_solution_matches_mode_residuals():
    from lrnn_theory.validation import LRNN
    from lrnn_theory.validation.data import random_orthonormal

    rng = np.random.default_rng(3)
    U, V, R = (random_orthonormal(rng, n, 2) for n in (3, 4, 5))
    b, u = np.array([1.25, 0.9]), np.array([0.4, -0.7])
    net = LRNN.aligned(np.sqrt(np.abs(u)), b, np.sign(u) * np.sqrt(np.abs(u)), U, V, R)
    s = rng.standard_normal((2, 7))
    _, energy = solution_extrapolation(b, u, s, tau=2.0)
    assert network_extrapolation_energy(net, s, U, V, tau=2.0) == pytest.approx(energy.sum(), rel=1e-12)


def test_closed_form_energy_rejects_bad_lengths_and_parameters():
    with pytest.raises(LrnnInputError, match="T_test"):
        closed_form_energy("mean", 4, [1.5])
    with pytest.raises(LrnnInputError, match="'T'"):
        closed_form_energy("mean", 0, [2])
    with pytest.raises(LrnnInputError, match="lam"):
        closed_form_energy("exponential", 4, [2])
    with pytest.raises(LrnnInputError, match="tau"):
        closed_form_energy("mean", 4, [2], tau=0.0)

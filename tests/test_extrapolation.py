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


# ---- every kind of task through the task sums -------------------------------------------------------------------
def _sympy_closed_form(family, outputs):
    """The closed form in (delta, lambda, T, T', tau) derived by sympy, lambdified here (the check of the sums)."""
    if outputs == "every_step":
        from lrnn_theory.derivations import every_step as ev

        return sp.lambdify((ev.delta, ev.lam, ev.T, ev.Tp, ev.tau), ev.derive_extrapolation(family)["energy"])
    from lrnn_theory.derivations import extrapolation as ex

    return sp.lambdify((ex.delta, ex.lam, ex.T, ex.Tp, ex.tau), ex.derive_extrapolation(family)["energy"])


@pytest.mark.parametrize("outputs, family, lam", [
    ("final", "exponential", 0.8), ("final", "exponential", 1.1), ("final", "mean", None), ("final", "sum", None),
    ("final", "constant", None), ("final", "inverse_exponential", 0.7), ("every_step", "mean", None),
    ("every_step", "constant", None), ("every_step", "inverse_exponential", 0.7), ("every_step", "sum", None)])
def test_task_sum_energy_is_the_sympy_closed_form_for_real_families(outputs, family, lam):
    T, T_test, delta, tau = 5, [1, 2, 3, 5, 8, 13], 0.9, 1.7
    got = closed_form_energy(family, T, T_test, delta, lam, tau, outputs)
    closed = _sympy_closed_form(family, outputs)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = [float(closed(delta, 1.0 if lam is None else lam, T, Tp, tau)) for Tp in T_test]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-14)


def _rotational_solution(family, T, delta, lam, delta_phase, lambda_phase):
    """The zero-loss solution written by hand: inverse exponential b = lambda, u = delta; exponential b = 1/lambda,
    u = delta lambda^T; constant / sum b = 1, u = delta; mean b = 1, u = delta / T (complex lambda, delta)."""
    d = {"sum": 1.0, "mean": 1.0 / T}.get(family, delta) * np.exp(1j * delta_phase)
    if lam is None:
        return d, 1.0
    lam_c = lam * np.exp(1j * lambda_phase)
    return (d, lam_c) if family == "inverse_exponential" else (d * lam_c**T, 1 / lam_c)


@pytest.mark.parametrize("outputs", ["final", "every_step"])
@pytest.mark.parametrize("family, lam", [("exponential", 0.8), ("inverse_exponential", 0.9), ("mean", None),
                                         ("constant", None)])
def test_rotational_family_extrapolation_against_explicit_sums(outputs, family, lam):
    """Complex families (phases on delta and lambda): the solution at T and its energy at T' against the explicit
    sum over the links of the test task (tests/reference.py), for final and every-step outputs."""
    from reference import explicit_energy_ub

    T, T_test, delta, tau, dphi = 4, [2, 3, 4, 6, 9], 0.8, 1.3, -0.2
    lphi = None if lam is None else 0.5  # only the lambda families have a phase of lambda
    if outputs == "every_step" and family == "exponential":  # s_(t,i) = delta lambda^i is not geometric by lag
        with pytest.raises(LrnnInputError, match="zero-loss"):
            family_extrapolation(family, T, T_test, delta, lam, tau, outputs, delta_phase=dphi, lambda_phase=lphi)
        return
    out = family_extrapolation(family, T, T_test, delta, lam, tau, outputs, delta_phase=dphi, lambda_phase=lphi)
    u, b = _rotational_solution(family, T, delta, lam, dphi, lphi or 0.0)
    assert out["u"] == pytest.approx(u, rel=1e-12) and out["b"] == pytest.approx(b, rel=1e-12)
    phases = {"delta_phase": dphi} if lam is None else {"delta_phase": dphi, "lambda_phase": lphi}
    expected = [explicit_energy_ub(family_task(family, Tp, delta, lam, outputs=outputs, **phases).singular_values,
                                   u, b, tau)[0] for Tp in T_test]
    np.testing.assert_allclose(out["closed_form"], expected, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(out["energy"], expected, rtol=1e-10, atol=1e-14)
    if family in ("exponential", "mean"):
        assert min(np.delete(expected, 2)) > 1e-4 and expected[2] < 1e-20   # extrapolates only at T' = T


@pytest.mark.parametrize("every_step", [False, True])
def test_solution_extrapolation_of_complex_modes_is_the_explicit_residual_sum(every_step):
    from reference import explicit_energy_ub, links

    rng = np.random.default_rng(9)
    T = 6
    s = rng.normal(size=(3, T, T) if every_step else (3, T)) + 1j * rng.normal(size=(3, T, T) if every_step else (3, T))
    if every_step:
        s = np.tril(s)
    b, u = rng.uniform(-1, 1, 3) + 1j * rng.uniform(-1, 1, 3), rng.normal(size=3) + 1j * rng.normal(size=3)
    residual, energy = solution_extrapolation(b, u, s, tau=0.7)
    k, S = links(s)
    np.testing.assert_allclose(links(residual)[1], S - u[:, None] * b[:, None] ** k, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(energy, explicit_energy_ub(s, u, b, 0.7), rtol=1e-12)
    if every_step:
        assert np.all(residual[:, np.triu_indices(T, 1)[0], np.triu_indices(T, 1)[1]] == 0)  # no later inputs

"""Result 3, effective regularisation (Lemma 3.2): the energy splits into a data term and a regulariser."""
import numpy as np
import pytest
import sympy as sp

from lrnn_theory import LrnnInputError
from lrnn_theory.derivations import mode_flow as mf
from lrnn_theory.derivations import regularisation as rg
from lrnn_theory.regularisation import energy_split, landscape, regulariser
from lrnn_theory.trajectory import mode_energy


# ---- energy split ------------------------------------------------------------------------------------------------
def test_split_sums_back_to_energy_symbolically():
    assert rg.split_residual() == 0                      # summands, symbolic T
    for T in (1, 3, 6):  # T = 1 (b never acts) and two lengths (each costs 0.15-0.2 s of sympy)
        assert rg.split_residual(T) == 0                 # written out, with the closed-form regulariser
    generic = rg.derive_energy_split()["regulariser_generic"]
    assert sp.simplify(generic - rg.paper_regulariser()) == 0
    # At b^2 = 1 the piecewise closed form gives T u^2 / (2 tau), the limit of the paper's expression.
    reg = rg.derive_energy_split()["regulariser"]
    assert sp.simplify(reg.subs(mf.b, 1) - mf.T * mf.a**2 * mf.c**2 / (2 * mf.tau)) == 0
    assert sp.simplify(sp.limit(rg.paper_regulariser().subs(mf.T, 4), mf.b, 1) - reg.subs({mf.b: 1, mf.T: 4})) == 0


def test_split_sums_back_to_energy_numerically():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((6, 5))
    a, b, c = rng.standard_normal((3, 6))
    b[:3] = [1.0, -1.0, 1.0 + 1e-9]
    data, reg = energy_split(s, a, b, c, tau=1.7)
    np.testing.assert_allclose(data + reg, mode_energy(s, a, b, c, 1.7), rtol=1e-9, atol=1e-12)
    assert np.all(reg >= 0)


def test_landscape_total_is_the_residual_energy():
    s = np.array([1.5, 0.0, 0.0, 1.0])
    us, bs = np.linspace(-1, 2, 31), np.linspace(-1.5, 1.5, 41)
    land = landscape(s, us, bs)
    U, Bg = np.meshgrid(us, bs)
    direct = mode_energy(s[None, :], U.reshape(-1, 1), Bg.reshape(-1, 1), np.ones((U.size, 1)), 1.0).reshape(U.shape)
    np.testing.assert_allclose(land["total"], direct, atol=1e-12)
    # The regulariser is task independent and vanishes on u = 0.
    assert np.allclose(landscape(2 * s, us, bs)["regulariser"], land["regulariser"])
    assert np.allclose(land["regulariser"][:, np.argmin(np.abs(us))], 0.0)
    with pytest.raises(LrnnInputError, match="singular_values"):
        landscape(np.ones((2, 3)), us, bs)


# ---- every kind of task: the split through the task sums -------------------------------------------------------
def _profile(kind, rng):
    T = 5
    every_step, rotational = "every-step" in kind, "complex" in kind
    shape = (3, T, T) if every_step else (3, T)
    s = rng.normal(size=shape) + (1j * rng.normal(size=shape) if rotational else 0)
    return np.tril(s) if every_step else s


@pytest.mark.parametrize("kind", ["real", "complex", "every-step", "complex every-step"])
def test_split_sums_to_the_explicit_energy_for_every_kind(kind):
    """data + regulariser = 1/(2 tau) sum_links |s - c b^k a|^2 and regulariser = |u|^2 sum_links |b|^(2k) / (2 tau)
    (tests/reference.py), with |b| = 1 among the states."""
    from reference import explicit_energy, explicit_sums

    rng = np.random.default_rng(2)
    s = _profile(kind, rng)
    z = (lambda: rng.uniform(-1, 1, 3) + 1j * rng.uniform(-1, 1, 3)) if "complex" in kind else \
        (lambda: rng.uniform(-1, 1, 3))
    a, b, c = z(), z(), z()
    b[0] = b[0] / abs(b[0])
    data, reg = energy_split(s, a, b, c, tau=0.8)
    np.testing.assert_allclose(data + reg, explicit_energy(s, a, b, c, 0.8), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(reg, np.abs(a * c) ** 2 * explicit_sums(s, b)[1] / 1.6, rtol=1e-13)
    assert np.all(reg >= 0)


@pytest.mark.parametrize("every_step", [False, True])
def test_regulariser_is_the_closed_form_of_the_paper(every_step):
    """The sums against the sympy closed forms: the paper's u^2 (1 - b^(2T)) / (1 - b^2) / (2 tau) (final output)
    and eq. (159) (every step), |u|^2 and |b|^2 for complex modes; their b^2 = 1 values at |b| = 1 (no 0/0)."""
    from lrnn_theory.derivations import every_step as ev

    T, tau = 6, 1.4
    if every_step:
        expr, at_one = ev.derive_energy_split()["paper"], ev.derive_energy_split()["regulariser_at_1"]
    else:
        expr = rg.paper_regulariser()
        at_one = rg.derive_energy_split()["regulariser"].subs(mf.b, 1)
    closed = sp.lambdify((mf.a, mf.b, mf.c, mf.T, mf.tau), expr)
    at_one = sp.lambdify((mf.a, mf.T, mf.tau), at_one.subs(mf.c, 1))
    rng = np.random.default_rng(5)
    u = rng.normal(size=6) + 1j * rng.normal(size=6)
    b = rng.uniform(0.2, 1.4, 6) * np.exp(1j * rng.uniform(0, 2 * np.pi, 6))
    got = regulariser(u, b, T, tau, every_step=every_step)
    np.testing.assert_allclose(got, closed(np.abs(u), np.abs(b), 1.0, T, tau), rtol=1e-11)
    np.testing.assert_allclose(regulariser(u.real, b.real, T, tau, every_step), closed(u.real, b.real, 1.0, T, tau),
                               rtol=1e-11)
    for unit in (1.0, -1.0, 1j, np.exp(0.3j)):
        assert regulariser(u[0], unit, T, tau, every_step) == pytest.approx(at_one(abs(u[0]), T, tau), rel=1e-13)
    # continuous through |b| = 1, where the closed form is 0/0 in floating point
    near = regulariser(0.7, np.array([1 - 1e-9, 1.0, 1 + 1e-9]), T, tau, every_step)
    assert np.ptp(near) < 1e-6 * near[1]


def test_landscape_of_complex_and_every_step_profiles_is_the_explicit_energy():
    from reference import explicit_energy_ub

    rng = np.random.default_rng(8)
    us, bs = np.linspace(-1, 2, 7) + 0.2j, np.linspace(-1.2, 1.2, 9) * np.exp(0.4j)
    for s in (rng.normal(size=4) + 1j * rng.normal(size=4), np.tril(rng.normal(size=(4, 4)))):
        land = landscape(s, us, bs, tau=0.5)
        U, Bg = np.meshgrid(us, bs)
        direct = explicit_energy_ub(np.broadcast_to(s, (U.size,) + s.shape), U.ravel(), Bg.ravel(), 0.5)
        np.testing.assert_allclose(land["total"], direct.reshape(U.shape), rtol=1e-12, atol=1e-12)

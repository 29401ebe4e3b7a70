"""Result 3, effective regularisation (Lemma 3.2): the energy splits into a data term and a regulariser."""
import numpy as np
import pytest
import sympy as sp

from lrnn_theory import LrnnInputError
from lrnn_theory.derivations import mode_flow as mf
from lrnn_theory.derivations import regularisation as rg
from lrnn_theory.regularisation import energy_split, landscape
from lrnn_theory.trajectory import mode_energy


# ---- energy split ------------------------------------------------------------------------------------------------
def test_split_sums_back_to_energy_symbolically():
    assert rg.split_residual() == 0                      # summands, symbolic T
    for T in (1, 2, 3, 6):
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

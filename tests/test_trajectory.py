"""Trajectory files and helpers, and the per-mode energy against the full-matrix loss."""
import numpy as np
import pytest
from reference import full_matrix_loss, random_orthogonal

from lrnn_theory import LrnnInputError, Task, Trajectory, integrate
from lrnn_theory.trajectory import mode_energy


def test_mode_energy_equals_full_matrix_loss_over_tau():
    rng = np.random.default_rng(5)
    K, T, tau = 3, 4, 2.5
    U, V, R = random_orthogonal(K, rng), random_orthogonal(K, rng), random_orthogonal(K, rng)
    s = rng.uniform(0, 2, (K, T))
    a, b, c = rng.uniform(-1, 1, K), rng.uniform(-1, 1, K), rng.uniform(-1, 1, K)
    sigmas = [U @ np.diag(s[:, i]) @ V.T for i in range(T)]
    loss = full_matrix_loss(R @ np.diag(a) @ V.T, R @ np.diag(b) @ R.T, U @ np.diag(c) @ R.T, sigmas)
    assert mode_energy(s, a, b, c, tau).sum() == pytest.approx(loss / tau, rel=1e-12)


def test_csv_and_npz_round_trip(tmp_path):
    traj = integrate(Task.exponential(delta=[1.0, 0.5], lam=0.8, T=4), 10.0, n_points=7)
    traj.to_csv(tmp_path / "t.csv")
    traj.to_npz(tmp_path / "t.npz")
    for again in (Trajectory.from_csv(tmp_path / "t.csv"), Trajectory.from_npz(tmp_path / "t.npz")):
        for key in ("t", "a", "b", "c", "u", "energy"):
            np.testing.assert_allclose(getattr(again, key), getattr(traj, key), rtol=1e-11)


def test_interpolate_is_linear_between_samples_and_checks_its_range():
    t = np.array([0.0, 1.0, 3.0])
    a = np.array([[0.0, 1.0], [2.0, 3.0], [6.0, 7.0]])
    traj = Trajectory(t=t, a=a, b=2 * a, c=-a, energy=a**2)
    mid = traj.interpolate([0.5, 2.0, 3.0])
    np.testing.assert_allclose(mid.a, [[1.0, 2.0], [4.0, 5.0], [6.0, 7.0]])
    np.testing.assert_allclose(mid.b, 2 * mid.a)
    np.testing.assert_allclose(mid.energy[1], [(4 + 36) / 2, (9 + 49) / 2])
    with pytest.raises(LrnnInputError, match="'t'"):
        traj.interpolate([4.0])

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
    # loose tolerances: the files are compared with the trajectory, not with the flow
    traj = integrate(Task.exponential(delta=[1.0, 0.5], lam=0.8, T=4), 10.0, n_points=7, rtol=1e-6, atol=1e-8)
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


def test_mode_energy_in_chunks_equals_the_direct_sum_and_bounds_its_memory():
    """Many states at once (in chunks no larger than the states, ``_chunk_elements``): the energy equals the direct
    sum over links of (s_i - u b^(T-i))^2 / (2 tau) with numpy's own powers, and the temporaries stay chunk-sized
    (issue 25: chunks of 2e7 elements peaked at 5x the solver's own memory)."""
    import tracemalloc

    from lrnn_theory import trajectory

    rng = np.random.default_rng(3)
    n, K, T, tau = 6000, 50, 20, 1.7                       # 6e6 elements: twenty chunks
    s = rng.uniform(0, 1, (K, T))
    a, b, c = rng.uniform(-1, 1, (n, K)), rng.uniform(-1.05, 1.05, (n, K)), rng.uniform(-1, 1, (n, K))
    tracemalloc.start()
    try:
        got = mode_energy(s, a, b, c, tau)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    chunk_bytes = 8 * trajectory._chunk_elements(n * K)
    assert peak < 4 * chunk_bytes + 8 * 4 * n * K        # a few chunk temporaries and the (n, K) arrays
    rows = slice(0, n, 97)                                 # the direct sum on a sample of the states
    direct = np.sum((s - (a * c)[rows, :, None] * b[rows, :, None] ** np.arange(T - 1, -1, -1.0)) ** 2,
                    axis=-1) / (2 * tau)
    np.testing.assert_allclose(got[rows], direct, rtol=1e-12, atol=1e-15)

"""Tasks estimated from data (Task.from_data, lrnn fit-task): recovery, diagnostic, bad data."""
import json

import numpy as np
import pytest

from lrnn_theory import Task
from lrnn_theory.cli import main
from lrnn_theory.errors import LrnnInputError
from lrnn_theory.task_estimation import estimate_task, input_whiteness, shared_singular_vectors
from lrnn_theory.validation.data import (fit_user_task, random_orthonormal, sample_targets, task_correlations,
                                         whitened_inputs)


def _teacher(rng, task, N=3):
    U = random_orthonormal(rng, N, task.K)
    V = random_orthonormal(rng, N, task.K)
    return task_correlations(task.singular_values, U, V), U, V


def test_recovers_teacher_profile_from_exactly_whitened_samples():
    rng = np.random.default_rng(3)
    s = np.array([[1.0, 0.7, 0.49, 0.343], [0.2, 0.4, 0.6, 0.8], [0.05, 0.05, 0.05, 0.05]])
    C, U, V = _teacher(rng, Task(s), N=3)
    X = whitened_inputs(rng, 40, 4, 3)
    est = estimate_task(X, sample_targets(X, C))
    np.testing.assert_allclose(est.task.singular_values, s, atol=1e-10)
    assert est.diagnostic["off_diagonal_fraction"] < 1e-20
    assert est.diagnostic["whitening_error"] < 1e-12
    # the bases are the teacher's up to sign
    np.testing.assert_allclose(np.abs(np.sum(est.U * U, axis=0)), 1.0, atol=1e-10)


def test_recovers_teacher_profile_to_sampling_error_from_gaussian_samples():
    """Inputs white only in expectation (x ~ N(0, I / P)): the estimate is off by O(1/sqrt(P))."""
    rng = np.random.default_rng(5)
    s = np.array([[1.0, 0.8, 0.6, 0.4], [0.3, 0.3, 0.3, 0.3]])
    C, _, _ = _teacher(rng, Task(s), N=2)
    errors = []
    for P in (400, 6400):
        X = rng.standard_normal((P, 4, 2)) / np.sqrt(P)
        est = estimate_task(X, sample_targets(X, C))
        errors.append(np.max(np.abs(est.task.singular_values - s)))
        assert errors[-1] < 6 / np.sqrt(P)  # sampling error of a sum of P products, a few standard deviations
        assert est.diagnostic["off_diagonal_fraction"] < 30 / P
    assert errors[1] < errors[0]  # shrinks with P


def test_large_off_diagonal_energy_without_shared_singular_vectors():
    rng = np.random.default_rng(7)
    C = rng.standard_normal((4, 3, 3))  # an unrelated matrix at every step
    X = whitened_inputs(rng, 24, 4, 3)
    est = estimate_task(X, sample_targets(X, C))
    assert est.diagnostic["off_diagonal_fraction"] > 0.2
    assert np.max(est.diagnostic["off_diagonal_fraction_per_step"]) > 0.3


def test_alternating_fit_beats_its_start_and_matches_svd_for_one_step():
    rng = np.random.default_rng(11)
    C = rng.standard_normal((5, 4, 3))
    U0, _, Vt0 = np.linalg.svd(np.tensordot(np.random.default_rng(0).uniform(0.5, 1.5, 5), C, axes=1),
                               full_matrices=False)
    start = np.sum((C - np.einsum("yk,nk,kx->nyx", U0, np.einsum("yk,nyx,kx->nk", U0, C, Vt0), Vt0)) ** 2)
    U, V, s, _, off, iterations = shared_singular_vectors(C)
    assert off * np.sum(C * C) < start - 1e-6 and iterations > 1
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-12)
    # a single matrix: the shared bases are its SVD, nothing off the diagonal
    _, _, s1, _, off1, _ = shared_singular_vectors(C[:1])
    np.testing.assert_allclose(s1[:, 0], np.linalg.svd(C[0], compute_uv=False), atol=1e-10)
    assert off1 < 1e-20


def test_least_squares_normalisation_recovers_an_exact_filter_from_raw_inputs():
    """Non-white, non-zero-mean inputs: the sum normalisation is off, the least-squares one gives the filter."""
    rng = np.random.default_rng(2)
    X = 0.5 + 0.1 * rng.standard_normal((500, 4, 2)) + 0.2 * rng.standard_normal((500, 1, 2))
    Y = X.mean(axis=1)
    raw = estimate_task(X, Y)
    filt = estimate_task(X, Y, normalisation="least_squares")
    np.testing.assert_allclose(filt.task.singular_values, 0.25, atol=1e-10)
    assert filt.diagnostic["off_diagonal_fraction"] < 1e-20
    assert np.max(np.abs(raw.task.singular_values - 0.25)) > 10  # scaled by P and the input power
    d = raw.diagnostic
    assert d["mean_fraction"] > 0.8 and d["cross_time_fraction"] > 0.5 and d["condition_number"] > 100
    # white inputs: both normalisations agree
    Xw = whitened_inputs(rng, 20, 4, 2)
    np.testing.assert_allclose(estimate_task(Xw, Xw.sum(1), normalisation="least_squares").task.singular_values,
                               estimate_task(Xw, Xw.sum(1)).task.singular_values, atol=1e-10)


def test_input_whiteness_measures():
    rng = np.random.default_rng(0)
    w = input_whiteness(whitened_inputs(rng, 30, 3, 2))
    assert w["whitening_error"] < 1e-12 and w["cross_time_fraction"] < 1e-20 and w["mean_fraction"] < 1
    assert abs(w["condition_number"] - 1) < 1e-9 and abs(w["mean_power"] - 1) < 1e-12
    # same value at every step: all energy across time is as large as within a step
    x = rng.standard_normal((100, 1, 2)) * np.ones((1, 3, 1))
    w = input_whiteness(x)
    assert abs(w["cross_time_fraction"] - 6 / 9) < 1e-12 and w["condition_number"] == float("inf")


@pytest.mark.parametrize("X, Y, match", [
    (np.zeros((30, 3, 2)), np.zeros((29, 2)), "same number of samples"),
    (np.full((30, 3, 2), np.nan), np.zeros((30, 2)), "finite"),
    (np.zeros((5, 3, 2)), np.zeros((5, 2)), "too few"),
    (np.zeros((30, 6)), np.zeros((30, 2)), "'X' must be a"),
    (np.zeros((30, 3, 2)), np.zeros((30, 4, 2)), "target at each of the T=3 steps"),
    (np.zeros((30, 3, 2)), np.zeros((30, 3, 2, 1)), "'Y' must be a"),
])
def test_bad_data_one_line_error(X, Y, match):
    with pytest.raises(LrnnInputError, match=match) as info:
        Task.from_data(X, Y)
    assert "\n" not in str(info.value)


def test_least_squares_refuses_singular_inputs():
    X = np.zeros((40, 3, 2))
    X[:, 1:] = np.random.default_rng(0).standard_normal((40, 2, 2))  # the first step is always zero
    with pytest.raises(LrnnInputError, match="linearly dependent"):
        Task.from_data(X, X.sum(1), normalisation="least_squares")


def test_fit_task_command(tmp_path, capsys):
    rng = np.random.default_rng(4)
    X = whitened_inputs(rng, 30, 3, 2)
    np.savez(tmp_path / "data.npz", X=X, Y=X.sum(axis=1))
    out = tmp_path / "task.json"
    assert main(["fit-task", str(tmp_path / "data.npz"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "off-diagonal energy" in text and "inputs vs white" in text
    task = Task.from_json(out)
    np.testing.assert_allclose(task.singular_values, 1.0, atol=1e-10)
    assert set(json.loads(out.read_text())) == {"singular_values", "init", "tau", "name"}
    np.savez(tmp_path / "bad.npz", X=X, Z=X)
    assert main(["fit-task", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "t2.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no array 'Y'" in err
    assert not (tmp_path / "t2.json").exists()


# ---- every-step targets Y (P, T, N_y) ---------------------------------------------------------------------------
def _every_step_teacher(rng, T=4, N_y=2, N_x=3):
    """Inverse-exponential by lag, two modes: s[k, t-1, i-1] = delta_k lam_k^(t-i) for i <= t."""
    task = Task.from_family("inverse_exponential", T=T, delta=[1.0, 0.5], lam=[0.7, 0.4], outputs="every_step")
    U, V = random_orthonormal(rng, N_y, 2), random_orthonormal(rng, N_x, 2)
    return task.singular_values, task_correlations(task.singular_values, U, V), U, V


@pytest.mark.parametrize("normalisation", ["sum", "least_squares"])
def test_every_step_teacher_recovered_from_exactly_whitened_samples(normalisation):
    rng = np.random.default_rng(21)
    s, C, U, V = _every_step_teacher(rng)
    X = whitened_inputs(rng, 36, 4, 3)
    est = estimate_task(X, sample_targets(X, C), normalisation=normalisation)
    assert est.task.outputs == "every_step" and est.task.singular_values.shape == (2, 4, 4)
    np.testing.assert_allclose(est.task.singular_values, s, atol=1e-12)
    assert np.all(est.task.singular_values[:, ~np.tril(np.ones((4, 4), bool))] == 0)
    assert est.diagnostic["off_diagonal_fraction"] < 1e-24
    assert est.diagnostic["off_diagonal_fraction_per_step"].shape == (4, 4)
    np.testing.assert_allclose(np.abs(np.sum(est.U * U, axis=0)), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(np.sum(est.V * V, axis=0)), 1.0, atol=1e-12)
    assert "every-step task" in est.summary() and "largest per output time t" in est.summary()


def test_every_step_teacher_recovered_to_sampling_error_from_gaussian_samples():
    rng = np.random.default_rng(22)
    s, C, _, _ = _every_step_teacher(rng)
    errors = []
    for P in (400, 6400):
        X = rng.standard_normal((P, 4, 3)) / np.sqrt(P)
        est = estimate_task(X, sample_targets(X, C))
        errors.append(np.max(np.abs(est.task.singular_values - s)))
        assert errors[-1] < 6 / np.sqrt(P)
        assert est.diagnostic["off_diagonal_fraction"] < 30 / P
    assert errors[1] < errors[0]


def test_every_step_least_squares_is_the_causal_filter_for_raw_inputs():
    """Inputs correlated across time, non-zero mean: least squares still gives the teacher's filter exactly, the sum
    normalisation does not; data without shared bases show a large off-diagonal energy."""
    rng = np.random.default_rng(23)
    s, C, _, _ = _every_step_teacher(rng)
    X = 0.3 + rng.standard_normal((300, 4, 3)) + rng.standard_normal((300, 1, 3))
    Y = sample_targets(X, C)
    np.testing.assert_allclose(estimate_task(X, Y, normalisation="least_squares").task.singular_values, s,
                               atol=1e-10)
    assert np.max(np.abs(estimate_task(X, Y).task.singular_values - s)) > 10
    unrelated = np.tril(np.ones((4, 4)))[:, :, None, None] * rng.standard_normal((4, 4, 2, 3))
    Xw = whitened_inputs(rng, 36, 4, 3)
    assert estimate_task(Xw, sample_targets(Xw, unrelated)).diagnostic["off_diagonal_fraction"] > 0.2


def test_every_step_estimate_agrees_with_the_harness_fit():
    rng = np.random.default_rng(24)
    _, C, _, _ = _every_step_teacher(rng)
    X = whitened_inputs(rng, 36, 4, 3)
    Y = sample_targets(X, C)
    C_h, _, _, s_h, residual = fit_user_task(X, Y, np.random.default_rng(0))
    est = estimate_task(X, Y)
    np.testing.assert_array_equal(est.correlations, C_h)
    order = np.argsort(-np.sum(s_h ** 2, axis=(1, 2)))
    np.testing.assert_allclose(np.abs(est.task.singular_values), np.abs(s_h[order]), atol=1e-12)
    assert residual < 1e-12


def test_fit_task_command_every_step(tmp_path, capsys):
    rng = np.random.default_rng(25)
    s, C, _, _ = _every_step_teacher(rng, T=3)
    X = whitened_inputs(rng, 27, 3, 3)
    np.savez(tmp_path / "data.npz", X=X, Y=sample_targets(X, C))
    out = tmp_path / "task.json"
    assert main(["fit-task", str(tmp_path / "data.npz"), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "every-step task" in text and "output time t" in text
    task = Task.from_json(out)
    assert task.every_step and json.loads(out.read_text())["outputs"] == "every_step"
    np.testing.assert_allclose(task.singular_values, s, atol=1e-10)
    np.savez(tmp_path / "bad.npz", X=X, Y=sample_targets(X, C)[:, :2])
    assert main(["fit-task", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "t2.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "T=3" in err and not (tmp_path / "t2.json").exists()


def test_docstring_examples():
    import doctest

    import lrnn_theory.task_estimation as module

    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

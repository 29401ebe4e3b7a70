"""The matrix of result x kind of task (issues 20 and 21): every result on real, complex (rotational), every-step and
complex every-step tasks, and on real, every-step and complex tasks whose inputs are correlated across time, each cell
checked against an independent computation of ``tests/reference.py`` (explicit sums over the input-output links,
finite differences of the explicit loss, own DOP853 integrations, scipy brute force, explicit gradient-descent loops,
the empirical NTK of the full aligned network) or asserting the one-line refusal of a result whose mathematics does
not exist for that kind.

The test ids read ``test_matrix[<result>-<kind>]``. The explicit loss of a mode is L = 1/2 sum_links |s - c b^k a|^2
(final output: input i reaches the output through b^(T-i); every step: input i reaches output t >= i through
b^(t-i)), E = L / tau, and the flow is d(theta)/dt = -dE/d(theta) over real and imaginary parts (for complex modes
the Wirtinger form dz/dt = -2 dE/dconj(z)). With inputs correlated across time (covariance lambda) the explicit loss
is L = 1/2 (W* - w)^H M (W* - w) over the links, M[(t, i), (t, j)] = lambda_ij and W* = M^+ sigma
(``reference.link_metric``), written from the expected squared error and checked against the sample loss of
exact-covariance inputs (``test_reference_correlated_loss_is_the_sample_loss``).
"""
import functools

import numpy as np
import pytest

from lrnn_theory import LrnnInputError, Task
from lrnn_theory.correlated import stationary_matrix
import reference
from reference import (aligned_network, dirac_critical_beta, explicit_energy, explicit_energy_ub,
                       explicit_gradient, explicit_loss_of_vector, explicit_rates, explicit_sums,
                       gradient_descent_explicit, hessian_fd, integrate_explicit, least_squares_u, link_metric, links,
                       mode_covariance, network_gradient, network_loss, network_targets, orthonormal_columns, pack,
                       unpack)

T = 4
TAU = 1.3
#: kind id in the test names -> (complex, outputs, Task.kind, inputs correlated across time)
KINDS = {
    "real": (False, "final", "real", False),
    "complex": (True, "final", "complex", False),
    "every-step": (False, "every_step", "every-step", False),
    "complex-every-step": (True, "every_step", "complex every-step", False),
    "real-correlated": (False, "final", "real correlated", True),
    "every-step-correlated": (False, "every_step", "every-step correlated", True),
    "complex-correlated": (True, "final", "complex correlated", True),
    "complex-every-step-correlated": (True, "every_step", "complex every-step correlated", True),
}
FAMILY = {"delta": [1.0, 0.6], "lam": [0.7, 1.2]}
LAMBDA_PHASE = [0.4, -0.9]
REAL_INIT = {"a": [0.2, 0.1], "b": [0.1, 0.2], "c": [0.1, 0.15]}
COMPLEX_INIT = {"a": [0.2 + 0.1j, 0.1 - 0.05j], "b": [0.1 + 0.05j, 0.2 - 0.1j], "c": [0.1 - 0.05j, 0.15 + 0.1j]}

# Custom (non-geometric) singular values: no zero-loss solution, interior minimisers.
FINAL_RE = np.array([[0.3, -0.2, 0.5, 1.0], [0.6, 0.5, 0.2, 0.4]])
FINAL_IM = np.array([[0.2, 0.4, -0.3, 0.2], [-0.1, 0.3, 0.2, 0.1]])
_rng = np.random.default_rng(20)
STEP_RE = np.tril(_rng.uniform(-0.3, 0.6, (2, T, T))) + 0.6 * np.eye(T)
STEP_IM = np.tril(_rng.uniform(-0.3, 0.3, (2, T, T)))
# Inputs correlated across time, one covariance per mode: mode 0 AR(1) with rho = 0.6, mode 1 a random
# (non-stationary) covariance.
_M = np.random.default_rng(21).standard_normal((T, T))
COVARIANCE = np.stack([stationary_matrix({"ar1": 0.6}, T), _M @ _M.T / T + 0.3 * np.eye(T)])
#: A stationary covariance (for extrapolation to other lengths).
STATIONARY = {"ar1": 0.5}


def brute_force_minimum(s, tau=1.0, **kw):
    """``reference.brute_force_minimum`` from 5 starts (b = -lim, -lim/2, 0, lim/2, lim) instead of 9: the same
    minima here (E to 1e-15, b to 3e-8), and the 4 starts left out cost L-BFGS-B up to 1.3 s at ftol 1e-15."""
    kw.setdefault("starts", 5)
    return reference.brute_force_minimum(s, tau, **kw)


def is_complex(kind):
    return KINDS[kind][0]


def is_correlated(kind):
    return KINDS[kind][3]


def covariance_of(kind):
    """The covariance of a kind's tasks (K, T, T), None for white inputs."""
    return COVARIANCE if is_correlated(kind) else None


def with_covariance(kind) -> dict:
    return {"input_covariance": COVARIANCE} if is_correlated(kind) else {}


def init_of(kind):
    return COMPLEX_INIT if is_complex(kind) else REAL_INIT


def family_task(kind, family="inverse_exponential", **kw):
    """The family task of a kind: s = delta lambda^(T-i) (every step: delta lambda^(t-i)). Zero-loss for white
    inputs; with correlated inputs these are the cross-covariances sigma, whose best filter is not geometric."""
    cplx, outputs, _, _ = KINDS[kind]
    extra = {"lambda_phase": LAMBDA_PHASE} if cplx else {}
    kw.setdefault("init", init_of(kind))
    return Task.from_family(family, T=T, **FAMILY, outputs=outputs, tau=TAU, **extra, **with_covariance(kind), **kw)


def zero_loss_task(kind, **kw):
    """A task with a zero-loss solution b = lambda e^(i phase), u = delta: the family task for white inputs; with
    correlated inputs the cross-covariances sigma = Lambda w of the family's geometric filter w (per output time
    t, sigma_t = Lambda_t w_t, for every-step outputs)."""
    if not is_correlated(kind):
        return family_task(kind, **kw)
    white = family_task(kind.replace("-correlated", ""))
    w = white.singular_values
    if w.ndim == 2:
        sigma = np.einsum("kij,kj->ki", COVARIANCE, w)
    else:
        sigma = np.zeros_like(w)
        for t in range(1, T + 1):
            sigma[:, t - 1, :t] = np.einsum("kij,kj->ki", COVARIANCE[:, :t, :t], w[:, t - 1, :t])
    kw.setdefault("init", init_of(kind))
    return Task(sigma, tau=TAU, outputs=white.outputs, input_covariance=COVARIANCE, **kw)


def custom_task(kind, init=None):
    cplx, outputs, _, _ = KINDS[kind]
    if outputs == "final":
        s = FINAL_RE + 1j * FINAL_IM if cplx else FINAL_RE
    else:
        s = STEP_RE + 1j * STEP_IM if cplx else STEP_RE
    return Task(s, init=init_of(kind) if init is None else init, tau=TAU, outputs=outputs, **with_covariance(kind))


def family_solution(kind):
    """b*, u* of ``zero_loss_task``: b = lambda e^(i phase), u = delta."""
    b = np.asarray(FAMILY["lam"], dtype=complex if is_complex(kind) else float)
    if is_complex(kind):
        b = b * np.exp(1j * np.asarray(LAMBDA_PHASE))
    return b, np.asarray(FAMILY["delta"], dtype=float)


def init_arrays(task):
    return task.init.a, task.init.b, task.init.c


#: The tasks of a kind by name (for white inputs the zero-loss task is the family task).
TASKS = {"zero_loss": zero_loss_task, "family": family_task, "custom": custom_task}


def _task_name(kind, name):
    return "family" if name == "zero_loss" and not is_correlated(kind) else name


def solved(kind, name):
    """``solve_task`` of a kind's task by name, computed once for every cell that checks it (the stability cell,
    today's outputs of the identity-covariance test, the near-identity test); pure, and a call that raises is not
    kept, so each cell passes or fails on its own assertions."""
    return _solved(kind, _task_name(kind, name))


@functools.lru_cache(maxsize=None)
def _solved(kind, name):
    from lrnn_theory.stability import solve_task

    return solve_task(TASKS[name](kind))


def end_points(kind, name):
    """``flow_endpoints`` of a kind's task by name, computed once for the fixed-point cell and today's outputs of the
    identity-covariance test (as ``solved``)."""
    return _end_points(kind, _task_name(kind, name))


@functools.lru_cache(maxsize=None)
def _end_points(kind, name):
    from lrnn_theory.fixed_points import flow_endpoints

    return flow_endpoints(TASKS[name](kind))


def assert_close(actual, expected, atol, rtol=0.0, what=""):
    actual, expected = np.asarray(actual), np.asarray(expected)
    err = np.max(np.abs(actual - expected) - rtol * np.abs(expected))
    assert err <= atol, f"{what}: got {actual}, expected {expected} (max excess error {err:.3g})"


def assert_refusal(call, kind, *words):
    """The documented refusal: LrnnInputError, one line, naming 'task' and the kind (and ``words``)."""
    with pytest.raises(LrnnInputError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message, message
    for word in ("task", KINDS[kind][2], *words):
        assert word in message, f"refusal should name {word!r}: {message}"


# ---- the results -------------------------------------------------------------------------------------------------
def check_task_sums(kind):
    """A, B, energy, u*(b), E*(b) of ``Task.sums`` vs the explicit sums over links and a least-squares u (weighted
    by the metric of the links for correlated inputs; norm = W*^H M W*, the explained norm)."""
    rng = np.random.default_rng(1)
    lam = covariance_of(kind)
    for task in (family_task(kind), custom_task(kind)):
        s = task.singular_values
        sums = task.sums()
        assert task.kind == KINDS[kind][2]
        grid = rng.uniform(-1.3, 1.3, (2, 5))
        if is_complex(kind):
            grid = grid + 1j * rng.uniform(-1.0, 1.0, (2, 5))
        A, B = sums.values(grid)
        A_ref, B_ref = explicit_sums(s, grid, lam)
        assert_close(A, A_ref, 1e-12, 1e-12, "A(b) on a grid")
        assert_close(B, B_ref, 1e-12, 1e-12, "B(b) on a grid")
        M, W = link_metric(s, lam)
        norm = np.real(np.einsum("kl,klm,km->k", np.conj(W), M, W))
        assert_close(sums.norm, norm, 1e-12, 1e-12, "norm")
        b = grid[:, 0]
        u = rng.uniform(-1, 1, 2) + (1j * rng.uniform(-1, 1, 2) if is_complex(kind) else 0)
        assert_close(sums.energy(u, b, TAU), explicit_energy_ub(s, u, b, TAU, lam), 1e-12, 1e-12, "energy(u, b)")
        u_best = least_squares_u(s, b, lam)
        assert_close(sums.optimal_u(b), u_best, 1e-12, 1e-10, "optimal_u")
        assert_close(sums.reduced_energy(b, TAU), explicit_energy_ub(s, u_best, b, TAU, lam), 1e-12, 1e-10,
                     "reduced_energy")


def check_integrate(kind):
    """The flow's rates = -dE/dtheta of the explicit energy, and integrate vs an own DOP853 integration."""
    from lrnn_theory import integrate
    from lrnn_theory.flow import compile_flow

    task = custom_task(kind)
    s = task.singular_values
    lam = covariance_of(kind)
    flow = compile_flow(task)
    rng = np.random.default_rng(2)
    a, b, c = (rng.uniform(-0.8, 0.8, 2) + (1j * rng.uniform(-0.8, 0.8, 2) if is_complex(kind) else 0)
               for _ in range(3))
    ra, rb, rc = explicit_rates(s, a, b, c, TAU, lam)
    if is_complex(kind):  # the flow's layout: [Re a, Im a, Re b, Im b, Re c, Im c] per mode
        y = np.column_stack([f(v) for v in (a, b, c) for f in (np.real, np.imag)]).ravel()
        expected = np.column_stack([f(v) for v in (ra, rb, rc) for f in (np.real, np.imag)]).ravel()
    else:
        y = np.column_stack([a, b, c]).ravel()
        expected = np.column_stack([ra, rb, rc]).ravel()
    assert_close(flow.rates(0.0, y), expected, 1e-12, 1e-10, "rates vs -dE/dtheta")

    # t_end = 1 (not 3): the package's RODAS4 at rtol 1e-10 costs 10x the own DOP853; b moves by > 1e-2 already
    t_eval = np.linspace(0.0, 1.0, 7)
    traj = integrate(task, 1.0, t_eval=t_eval, rtol=1e-10, atol=1e-12)
    a_ref, b_ref, c_ref = integrate_explicit(s, *init_arrays(task), TAU, t_eval, lam=lam)
    assert np.max(np.abs(b_ref[-1] - b_ref[0])) > 1e-2, "a real test: the modes move"
    for name, got, ref in (("a", traj.a, a_ref), ("b", traj.b, b_ref), ("c", traj.c, c_ref)):
        assert_close(got, ref, 1e-7, 0, f"integrate: {name}(t)")
    assert_close(traj.energy, explicit_energy(s, traj.a, traj.b, traj.c, TAU, lam), 1e-12, 1e-10,
                 "trajectory energy")


def check_stability(kind):
    """solve_task: the zero-loss solution where the best filter is geometric, the brute-force minimiser of the
    explicit energy elsewhere. Correlated inputs: a geometric sigma (the family) has no zero-loss solution, a
    geometric filter Lambda^-1 sigma has."""
    from lrnn_theory.stability import zero_loss_solution

    lam = covariance_of(kind)
    task = zero_loss_task(kind)
    sol = solved(kind, "zero_loss")
    b_star, u_star = family_solution(kind)
    assert np.all(sol.zero_loss)
    assert_close(sol.b, b_star, 1e-9, 1e-9, "zero-loss b")
    assert_close(sol.u, u_star, 1e-9, 1e-9, "zero-loss u")
    assert_close(sol.energy, 0.0, 1e-12, 0, "zero-loss energy")
    assert_close(explicit_energy_ub(task.singular_values, sol.u, sol.b, TAU, lam), 0.0, 1e-12, 0,
                 "explicit energy at the zero-loss solution")
    assert list(sol.stability) == ["stable", "unstable"]  # |b*| = 0.7, 1.2

    for name in ["custom"] + (["family"] if is_correlated(kind) else []):
        task = TASKS[name](kind)
        sol = solved(kind, name)
        u_ref, b_ref, E_ref = brute_force_minimum(task.singular_values, TAU, lam=lam)
        assert not np.any(sol.zero_loss) and not np.any(zero_loss_solution(task)[0])
        assert np.all(E_ref > 1e-4)  # a real test: no zero-loss solution
        assert_close(sol.energy, E_ref, 1e-9, 1e-7, "minimum energy")
        assert_close(sol.b, b_ref, 2e-5, 0, "minimiser b")
        assert_close(sol.u, u_ref, 2e-5, 0, "minimiser u")
        assert list(sol.stability) == ["stable" if abs(x) < 1 else "unstable" for x in b_ref]


def check_fixed_points(kind):
    """flow_endpoints vs the end of a long own integration of the explicit rates (u, b, |a|, |c| to 1e-8; a, c)."""
    lam = covariance_of(kind)
    for name in ["zero_loss", "custom"] + (["family"] if is_correlated(kind) else []):
        task = TASKS[name](kind)
        s = task.singular_values
        ends = end_points(kind, name)
        # LSODA (stiff near the end point): the same own explicit rates, settled to 1e-15, 9x cheaper than DOP853
        a, b, c = (x[-1] for x in integrate_explicit(s, *init_arrays(task), TAU, np.array([0.0, 400.0]),
                                                    rtol=1e-11, atol=1e-13, lam=lam, method="LSODA"))
        assert max(np.max(np.abs(r)) for r in explicit_rates(s, a, b, c, TAU, lam)) < 1e-8, "reference not converged"
        assert np.all(ends.valid), f"end points not valid: {ends.valid}"
        assert_close(ends.b, b, 1e-8, 0, "end point b")
        assert_close(ends.u, a * c, 1e-8, 0, "end point u")
        assert_close(np.abs(ends.a), np.abs(a), 1e-8, 0, "end point |a|")  # |a|^2 - |c|^2 is conserved
        assert_close(np.abs(ends.c), np.abs(c), 1e-8, 0, "end point |c|")
        # the phase of a moves along the path of a complex mode (measured 4.4e-6 off for the custom complex task)
        assert_close(ends.a, a, 1e-5, 0, "end point a")
        assert_close(ends.c, c, 1e-5, 0, "end point c")


def _first_crossing(t, progress, fraction):
    j = int(np.argmax(progress >= fraction))
    assert progress[j] >= fraction
    return t[j - 1] + (fraction - progress[j - 1]) / (progress[j] - progress[j - 1]) * (t[j] - t[j - 1])


def check_learning_order(kind):
    """predict_learning_order vs own integrations: time for u to reach 90% of its final value (the documented
    progress Re(u / u_final), u / u_final for real u), the frozen-b time to 90% of u*(b0) (Re(u / u*)),
    A(b0) = sum_links s conj(b0)^k and the rate 2|A(b0)|/tau. (|u| / |u_final| instead would move the times by up
    to 1.5e-3 relative here: the tolerance 1e-4 tells the two apart.)"""
    from lrnn_theory.learning_order import predict_learning_order

    lam = covariance_of(kind)
    task = zero_loss_task(kind)
    s = task.singular_values
    pred = predict_learning_order(task) if is_correlated(kind) else _white_learning_order(kind)
    a0, b0, c0 = init_arrays(task)
    A0, B0 = explicit_sums(s, b0, lam)
    assert_close(pred.discounted_sum, A0, 1e-12, 1e-12, "A(b0)")
    assert_close(pred.rate, 2 * np.abs(A0) / TAU if is_complex(kind) else 2 * A0 / TAU, 1e-12, 1e-12, "rate")
    # dt = 1e-3 up to t = 10 (every crossing here is before t = 7, asserted), coarse after: the final u needs no fine
    # grid (the output times do not change LSODA's steps; each fine one costs an interpolation)
    t = np.concatenate([np.linspace(0.0, 10.0, 10001), np.linspace(10.0, 200.0, 191)[1:]])
    fine = 10001
    # LSODA: stiff once u settles, where DOP853 crawls; crossing times within 6e-11 of DOP853's, 5x cheaper
    a, b, c = integrate_explicit(s, a0, b0, c0, TAU, t, rtol=1e-11, atol=1e-13, lam=lam, method="LSODA")
    u = a * c
    final = u[-1]
    progress = np.real(u / final)
    times = np.array([_first_crossing(t, progress[:, k], 0.9) for k in range(task.K)])
    assert np.all(times < t[fine - 1]), f"crossings {times} past the fine grid"
    assert_close(pred.final_u, final, 1e-6, 0, "final u")
    assert_close(pred.final_b, b[-1], 1e-6, 0, "final b")
    assert_close(pred.times, times, 0, 1e-4, "learning times (90% of final u)")
    assert list(pred.order) == list(np.argsort(times))
    # b frozen at b0: u -> u*(b0), the least-squares u at b0
    # on the fine grid to t = 10 (the frozen crossings are all before t = 7), LSODA as above
    af, bf, cf = integrate_explicit(s, a0, b0, c0, TAU, t[:fine], freeze_b=True, lam=lam, method="LSODA")
    uf = af * cf
    u_star = least_squares_u(s, b0, lam)
    frozen_progress = np.real(uf / u_star)
    t_frozen = np.array([_first_crossing(t[:fine], frozen_progress[:, k], 0.9) for k in range(task.K)])
    assert_close(pred.times_logistic, t_frozen, 0, 1e-4, "frozen-b learning times")


@functools.lru_cache(maxsize=None)
def _white_learning_order(kind):
    """predict_learning_order of the family task of a white kind (= its zero-loss task), shared by
    ``check_learning_order`` and today's outputs in ``test_identity_covariance_gives_todays_results``."""
    from lrnn_theory.learning_order import predict_learning_order

    return predict_learning_order(family_task(kind))


def check_extrapolation(kind):
    """solution_extrapolation vs explicit residuals; family_extrapolation vs the family's solution run at T'.
    Correlated inputs: residuals of the best filter and the metric energy; a stationary covariance at every T'
    (the solution at T the brute-force minimiser of the correlated energy); a matrix covariance refused in one line;
    an aligned network run at T' on exact-covariance probes."""
    from lrnn_theory.extrapolation import family_extrapolation, network_extrapolation_energy, solution_extrapolation

    cplx, outputs, _, correlated = KINDS[kind]
    lam = covariance_of(kind)
    task = custom_task(kind)
    rng = np.random.default_rng(3)
    b = rng.uniform(-0.9, 0.9, 2) + (1j * rng.uniform(-0.5, 0.5, 2) if cplx else 0)
    u = rng.uniform(-1, 1, 2) + (1j * rng.uniform(-1, 1, 2) if cplx else 0)
    residual, energy = solution_extrapolation(b, u, task.singular_values, TAU, **with_covariance(kind))
    k, _ = links(task.singular_values)
    _, W = link_metric(task.singular_values, lam)
    assert_close(links(residual)[1], W - u[:, None] * b[:, None] ** k, 1e-12, 1e-12, "residuals")
    assert_close(energy, explicit_energy_ub(task.singular_values, u, b, TAU, lam), 1e-12, 1e-12, "energy at T'")

    T_test = [2, 3, 4, 6, 7]
    phase = {"lambda_phase": 0.5} if cplx else {}
    if correlated:
        family, delta, lam_f = "inverse_exponential", 0.8, 0.7
        out = family_extrapolation(family, T, T_test, delta=delta, lam=lam_f, tau=TAU, outputs=outputs,
                                   input_covariance=STATIONARY, **phase)
        s_train = Task.from_family(family, T=T, delta=delta, lam=lam_f, outputs=outputs, **phase).singular_values
        u_ref, b_ref, E_ref = brute_force_minimum(s_train, TAU, lam=stationary_matrix(STATIONARY, T))
        assert E_ref[0] > 1e-4  # no zero-loss solution: Lambda^-1 sigma is not geometric
        assert_close(out["b"], b_ref[0], 2e-5, 0, "minimiser b at T")
        assert_close(out["u"], u_ref[0], 2e-5, 0, "minimiser u at T")
        b_star, u_star = out["b"], out["u"]
        lam_at = {Tp: stationary_matrix(STATIONARY, Tp) for Tp in T_test}
        with pytest.raises(LrnnInputError) as err:  # a matrix holds only its own T steps
            family_extrapolation(family, T, [2, 6], delta=delta, lam=lam_f, outputs=outputs,
                                 input_covariance=stationary_matrix(STATIONARY, T), **phase)
        assert "\n" not in str(err.value) and "stationary" in str(err.value)
    elif outputs == "final":  # exponential: b = 1/lambda, u = delta lambda^T, fails to extrapolate
        family, delta, lam_f = "exponential", 0.9, 0.8
        lam_c = lam_f * np.exp(1j * 0.5) if cplx else lam_f
        b_star, u_star = 1 / lam_c, delta * lam_c ** T
        out = family_extrapolation(family, T, T_test, delta=delta, lam=lam_f, tau=TAU, outputs=outputs, **phase)
        lam_at = {}
    elif not cplx:  # mean: constant delta = 1/T, b = 1, u = 1/T; the target at T' is 1/T'
        family, delta, lam_f = "mean", 1.0, None
        b_star, u_star = 1.0, 1.0 / T
        out = family_extrapolation(family, T, T_test, delta=delta, lam=lam_f, tau=TAU, outputs=outputs, **phase)
        lam_at = {}
    else:  # inverse exponential by lag: b = lambda e^(i phase), u = delta, extrapolates exactly
        family, delta, lam_f = "inverse_exponential", 0.8, 0.7
        b_star, u_star = lam_f * np.exp(1j * 0.5), delta
        out = family_extrapolation(family, T, T_test, delta=delta, lam=lam_f, tau=TAU, outputs=outputs, **phase)
        lam_at = {}
    assert_close(out["b"], b_star, 1e-9, 1e-9, "solution b at T")
    assert_close(out["u"], u_star, 1e-9, 1e-9, "solution u at T")
    expected, tests = [], []
    for Tp in T_test:
        if family == "mean":
            s_test = np.tril(np.full((1, Tp, Tp), 1.0 / Tp))
        else:
            kw = dict(delta=delta, lam=lam_f, outputs=outputs, **phase)
            s_test = Task.from_family(family, T=Tp, **kw).singular_values
        tests.append(s_test)
        expected.append(explicit_energy_ub(s_test, u_star, b_star, TAU, lam_at.get(Tp))[0])
    assert_close(out["energy"], expected, 1e-12, 1e-9, "extrapolation energies")
    assert_close(out["closed_form"], expected, 1e-12, 1e-9, "closed-form extrapolation energies")
    if family != "inverse_exponential" or correlated:
        assert max(expected) > 1e-3  # a real test: this solution does not extrapolate exactly
    if correlated and not cplx:  # the aligned network of the solution, on probes with the covariance at T'
        from lrnn_theory.validation.network import LRNN

        net = LRNN.aligned([u_star], [b_star], [1.0], np.eye(1), np.eye(1), np.eye(1))
        for Tp, s_test, E in zip(T_test, tests, expected):
            got = network_extrapolation_energy(net, s_test, np.eye(1), np.eye(1), TAU, lam_at[Tp])
            assert_close(got, E, 1e-12, 1e-9, f"network energy at T'={Tp}")


def check_regulariser(kind):
    """energy_split: data + regulariser = explicit energy, regulariser = |u|^2 B(b) / (2 tau) with the explicit
    B (sum_links |b|^(2k); correlated: sum_ll' M_ll' conj(b)^k b^k'); ``regulariser`` (closed form) vs that sum,
    including |b| at and near 1."""
    from lrnn_theory.regularisation import energy_split, regulariser

    cplx, outputs, _, correlated = KINDS[kind]
    lam = covariance_of(kind)
    task = custom_task(kind)
    s = task.singular_values
    rng = np.random.default_rng(4)
    a, b, c = (rng.uniform(-1, 1, 2) + (1j * rng.uniform(-0.7, 0.7, 2) if cplx else 0) for _ in range(3))
    data, reg = energy_split(s, a, b, c, TAU, **with_covariance(kind))
    A, B = explicit_sums(s, b, lam)
    u = a * c
    M, W = link_metric(s, lam)
    norm = np.real(np.einsum("kl,klm,km->k", np.conj(W), M, W))
    assert_close(reg, np.abs(u) ** 2 * B / (2 * TAU), 1e-12, 1e-11, "regulariser of energy_split")
    assert_close(data, (norm - 2 * np.real(np.conj(u) * A)) / (2 * TAU), 1e-12, 1e-11, "data term")
    assert_close(data + reg, explicit_energy(s, a, b, c, TAU, lam), 1e-12, 1e-11, "data + regulariser = energy")
    radii = np.array([0.3, 0.999, 1.0, 1.0 + 1e-9, 1.2])
    bs = radii * (np.exp(0.7j) if cplx else -1.0)
    us = np.full(radii.shape, 0.8 - 0.3j if cplx else 0.8)
    shared = COVARIANCE[1] if correlated else None
    got = regulariser(us, bs, T, TAU, every_step=outputs == "every_step",
                      **({"input_covariance": shared} if correlated else {}))
    ones = np.ones((radii.size,) + ((T,) if outputs == "final" else (T, T)))
    if outputs == "every_step":
        ones = np.tril(ones)
    expected = np.abs(us) ** 2 * explicit_sums(ones, bs, shared)[1] / (2 * TAU)
    assert_close(got, expected, 1e-10, 1e-9, "regulariser closed form")


def check_phase_transition(kind):
    """Real: phase_curve vs brute force, critical_beta vs an own bisection (T = 3: 1/sqrt 2). Complex: the Dirac task
    with phases has the transition of its moduli (T = 3: |b*|^2 = (2 beta^2 - 1)/(2 - beta^2) above 1/sqrt 2).
    Every-step kinds: the Dirac family has no every-step form (refused). Correlated inputs: phase_curve and
    critical_beta take T alone (white inputs by construction); the Dirac task with correlated inputs goes through
    solve_task, checked against the brute-force minimum of the correlated energy on both sides of the white
    transition, where the feedforward point b = 0 is no longer optimal (lambda couples the steps)."""
    from lrnn_theory.phase_transition import critical_beta, dirac_profile, phase_curve

    cplx, outputs, _, correlated = KINDS[kind]
    if outputs == "every_step":
        with pytest.raises(LrnnInputError) as err:
            Task.from_family("dirac", T=T, beta=1.2, kappa=1.0, outputs="every_step")
        assert "\n" not in str(err.value) and "dirac" in str(err.value) and "every-step" in str(err.value)
        return
    from lrnn_theory.stability import solve_task

    if correlated:
        lam = COVARIANCE[1]
        for beta in (0.6, 0.9, 1.2):
            s = np.zeros((1, T), dtype=complex if cplx else float)
            s[0, 0], s[0, -1] = beta * (np.exp(0.7j) if cplx else 1), (np.exp(-0.4j) if cplx else 1) / beta
            sol = solve_task(Task(s, tau=TAU, input_covariance=lam))
            u_ref, b_ref, E_ref = brute_force_minimum(s, TAU, lam=lam)
            assert_close(sol.energy, E_ref, 1e-9, 1e-7, f"correlated Dirac energy at beta={beta}")
            assert_close(sol.b, b_ref, 2e-5, 0, f"correlated Dirac b* at beta={beta}")
            assert abs(sol.b[0]) > 1e-3  # correlated steps: recurrence pays even below the white transition
        return
    if not cplx:
        betas = np.array([0.8, 1.2])
        curve = phase_curve(T, betas, b_max=3.0)
        u_ref, b_ref, E_ref = brute_force_minimum(dirac_profile(betas, T), tau=0.5, b_max=3.0)  # E = sum r^2
        assert_close(curve["energy"], E_ref, 1e-9, 1e-8, "phase curve energy")
        assert_close(np.abs(curve["b"]), np.abs(b_ref), 1e-4, 0, "phase curve |b|")
        assert abs(critical_beta(3) - 1 / np.sqrt(2)) < 1e-6  # derived: the continuous transition of T = 3
        assert abs(critical_beta(4, b_max=3.0) - dirac_critical_beta(4, 3.0)) < 1e-6  # T = 4: 1 for b_max >= 1
        return
    for beta in (0.6, 0.9):
        s = np.zeros((1, 3), dtype=complex)
        s[0, 0], s[0, -1] = beta * np.exp(0.7j), np.exp(-0.4j) / beta
        sol = solve_task(Task(s, tau=TAU))
        expected_b = 0.0 if beta < 1 / np.sqrt(2) else np.sqrt((2 * beta**2 - 1) / (2 - beta**2))
        assert_close(np.abs(sol.b), expected_b, 1e-5, 0, f"|b*| at beta={beta}")
        real_curve = phase_curve(3, [beta])
        assert_close(sol.energy, real_curve["energy"] / (2 * TAU), 1e-9, 1e-8, "energy = that of the moduli")
        _, _, E_ref = brute_force_minimum(s, TAU)
        assert_close(sol.energy, E_ref, 1e-9, 1e-8, "energy vs brute force")


def check_frozen(kind):
    """frozen_b_solution vs an own integration with the rate of b masked (real: unbalanced a, c, one u < 0; complex:
    |a| = |c| with different phases, and unbalanced). b(t) with u frozen (integrate_recurrent_taylor, App. D) vs an
    own integration with the rates of a and c masked; refused for complex tasks (b moves in the plane)."""
    from lrnn_theory.frozen import frozen_b_solution, integrate_recurrent_taylor

    lam = covariance_of(kind)
    if is_complex(kind):
        inits = [{"a": [0.15 + 0.1j, 0.05 - 0.1j], "b": [0.3 + 0.2j, -0.4 + 0.1j], "c": [0.1 - 0.15j, 0.1 + 0.05j]},
                 {"a": [0.15 + 0.1j, 0.2 - 0.1j], "b": [0.3 + 0.2j, -0.4 + 0.1j], "c": [0.3 - 0.15j, 0.05 + 0.05j]}]
    else:
        inits = [{"a": [0.3, 0.1], "b": [0.4, -0.3], "c": [0.1, -0.25]}]
    t = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    for init in inits:
        task = custom_task(kind, init=init)
        u = frozen_b_solution(task, t)
        a, b, c = integrate_explicit(task.singular_values, *init_arrays(task), TAU, t, freeze_b=True, lam=lam)
        assert_close(u, a * c, 1e-8, 1e-8, f"u(t) with b frozen, init {init}")

    if is_complex(kind):
        task = custom_task(kind)
        assert_refusal(lambda: integrate_recurrent_taylor(task, [0.0, 0.5]), kind)
        return
    task = custom_task(kind, init={"a": [0.8, 0.6], "b": [0.4, -0.3], "c": [0.9, -0.7]})
    t = np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    taylor = integrate_recurrent_taylor(task, t, window=0.02, order=5)
    _, b, _ = integrate_explicit(task.singular_values, *init_arrays(task), TAU, t, freeze_ac=True, lam=lam)
    assert np.max(np.abs(b[-1] - b[0])) > 0.05, b  # b moves
    assert_close(taylor.b, b, 1e-7, 0, "b(t) with u frozen (windowed Taylor series)")


def check_discrete_gd(kind):
    """integrate(method=DiscreteGD(lr, 'sum_half')) vs an own gradient-descent loop on the explicit loss."""
    from lrnn_theory import integrate
    from lrnn_theory.finite_lr import DiscreteGD

    lam = covariance_of(kind)
    task = custom_task(kind)
    lr, steps = 0.05, 40
    h = lr * TAU
    traj = integrate(task, steps * h, t_eval=[0.0, steps * h], method=DiscreteGD(lr=lr, loss="sum_half"))
    a, b, c = gradient_descent_explicit(task.singular_values, *init_arrays(task), lr, steps, lam=lam)
    assert_close(traj.t[-1], steps * h, 1e-12, 1e-12, "time of the last step")
    for name, got, ref in (("a", traj.a[-1], a), ("b", traj.b[-1], b), ("c", traj.c[-1], c)):
        assert_close(got, ref, 1e-12, 1e-10, f"{name} after {steps} steps")

    # loss="mean" (plain MSE over P samples x N_y outputs [x T steps]) on the full aligned network, N_y = N real
    # output units (2 per complex mode), P = T N_x probe sequences (white or with the covariance, as a sum):
    # full-matrix gradient descent W <- W - lr * 2 / (P N_y [T]) * dL/dW, L = 1/2 sum_links ||Sigma - W_y W_h^k W_x||^2
    # (correlated inputs: L = 1/2 sum_ll' tr(E_l C_ll' E_l'^T) with the teacher's maps)
    cplx, outputs, _, _ = KINDS[kind]
    rng = np.random.default_rng(7)
    N = 2 * task.K if cplx else task.K
    U, V, R = orthonormal_columns(N, N, rng), orthonormal_columns(N, N, rng), orthonormal_columns(N + 1, N, rng)
    k, sigmas, *metric = network_targets(task.singular_values, U, V, cplx, lam)
    metric = metric[0] if metric else None
    W = list(aligned_network(*init_arrays(task), U, V, R, cplx))
    P, lr, steps = T * N, 0.8, 25
    scale = 2.0 / (P * N * (T if outputs == "every_step" else 1))
    for _ in range(steps):
        W = [w - lr * scale * g for w, g in zip(W, network_gradient(*W, k, sigmas, metric))]
    gd = DiscreteGD(lr=lr, loss="mean", n_samples=P)
    h = gd.time_step(task)
    assert_close(h, lr * scale * TAU, 1e-15, 1e-12, "theory time of one mean-convention step")
    traj = integrate(task, steps * h, t_eval=[0.0, steps * h], method=gd)
    modes = aligned_network(traj.a[-1], traj.b[-1], traj.c[-1], U, V, R, cplx)
    for name, got, ref in zip(("W_x", "W_h", "W_y"), modes, W):
        assert_close(got, ref, 1e-12, 1e-10, f"{name} after {steps} full-matrix steps (loss='mean')")


def _one_step_errors(task, lr, lam=None):
    from lrnn_theory import integrate

    h = lr * TAU
    a, b, c = gradient_descent_explicit(task.singular_values, *init_arrays(task), lr, 1, lam=lam)
    out = []
    for correction in (lr, None):
        traj = integrate(task, h, t_eval=[0.0, h], lr_correction=correction, method="DOP853", rtol=1e-13,
                         atol=1e-15)
        out.append(max(np.max(np.abs(traj.a[-1] - a)), np.max(np.abs(traj.b[-1] - b)),
                       np.max(np.abs(traj.c[-1] - c))))
    return out  # modified flow, plain flow


def check_modified_flow(kind):
    """integrate(lr_correction=lr) over one step h = lr tau matches one exact gradient step to O(h^3) (the plain
    flow only to O(h^2))."""
    if is_complex(kind):
        init = {"a": [0.6 + 0.2j, 0.5 - 0.3j], "b": [0.4 + 0.3j, -0.3 + 0.2j], "c": [0.5 - 0.1j, 0.7 + 0.2j]}
    else:
        init = {"a": [0.6, 0.5], "b": [0.4, -0.3], "c": [0.5, 0.7]}
    task = custom_task(kind, init=init)
    lam = covariance_of(kind)
    mod1, plain1 = _one_step_errors(task, 0.02, lam)
    mod2, plain2 = _one_step_errors(task, 0.01, lam)
    assert 3.0 < plain1 / plain2 < 5.0, (plain1, plain2)  # the plain flow: O(h^2)
    assert mod1 / mod2 > 6.5, f"modified flow errors {mod1:.3g}, {mod2:.3g}: not O(h^3)"
    assert mod2 < 0.2 * plain2, (mod2, plain2)


def _check_bound_at(task, bound, a, b, c, lam, where):
    """lambda_max of the finite-difference Hessian of the explicit loss at (a, b, c) per mode, and gradient descent
    from next to that point: stays put just below 2 / lambda_max, leaves just above."""
    s = task.singular_values
    cplx = np.iscomplexobj(b)
    eigen = [np.linalg.eigh(hessian_fd(s, a, b, c, k, lam=lam)) for k in range(task.K)]
    lam_max = np.array([values[-1] for values, _ in eigen])
    assert_close(bound["lambda_max"], lam_max, 0, 1e-6, f"lambda_max of the Hessian ({where})")
    assert_close(bound["lr_max"], 2 / lam_max, 0, 1e-6, f"lr_max = 2 / lambda_max ({where})")
    # each mode kicked by 1e-7 along its top eigenvector, then run at 0.97 and 1.03 times its bound: all these runs
    # at once, as the modes of one task (modes never interact)
    runs = [(k, factor, grows) for k in range(task.K) for factor, grows in ((0.97, False), (1.03, True))]
    here = [pack(a[k:k + 1], b[k:k + 1], c[k:k + 1], cplx) for k, _, _ in runs]
    starts = [unpack(x + 1e-7 * eigen[k][1][:, -1], 1, cplx) for x, (k, _, _) in zip(here, runs)]
    modes = [k for k, _, _ in runs]
    run_lam = None if lam is None else np.stack([mode_covariance(lam, k) for k in modes])
    # 200 steps: above the bound the kick grows by |1 - 2.06| per step, 1e-7 -> ~1e-2 >> 1e-5
    ends = gradient_descent_explicit(s[modes], *(np.concatenate(part) for part in zip(*starts)),
                                     [factor * 2 / lam_max[k] for k, factor, _ in runs], 200, lam=run_lam)
    for j, ((k, factor, grows), x) in enumerate(zip(runs, here)):
        gap = np.max(np.abs(pack(*(end[j:j + 1] for end in ends), cplx) - x))
        assert (gap > 1e-5) == grows, f"{where}, mode {k}, lr = {factor} x bound: distance {gap:.3g}"


def check_stable_bound(kind):
    """stable_lr_bound: 2 / lambda_max of a finite-difference Hessian of L = 1/2 sum |r|^2 (sum_half) over the
    real parameters of each mode at the zero-loss solution with the init's balance |a|^2 - |c|^2; and gradient
    descent from next to that solution stays put just below the bound and leaves just above it. Correlated inputs
    also at a minimiser with non-zero loss (the family's geometric sigma): there the gradient of the explicit loss
    vanishes and the same two checks hold."""
    from lrnn_theory.finite_lr import stable_lr_bound

    lam = covariance_of(kind)
    task = zero_loss_task(kind)
    bound = stable_lr_bound(task)
    b_star, u_star = family_solution(kind)
    a0, _, c0 = init_arrays(task)
    D = np.abs(a0) ** 2 - np.abs(c0) ** 2
    a = np.sqrt((D + np.sqrt(D**2 + 4 * np.abs(u_star) ** 2)) / 2).astype(b_star.dtype)
    c = u_star / a
    _check_bound_at(task, bound, a, b_star, c, lam, "zero-loss solution")
    if not is_correlated(kind):
        return
    task = family_task(kind)
    bound = stable_lr_bound(task)
    assert not np.any(bound["zero_loss"])
    u, b = bound["u"], bound["b"]
    a = np.sqrt((D + np.sqrt(D**2 + 4 * np.abs(u) ** 2)) / 2) * np.exp(1j * np.angle(u) if is_complex(kind) else 0)
    a = a if is_complex(kind) else np.real(a) * np.sign(u)
    c = u / a
    grads = explicit_gradient(task.singular_values, a, b, c, lam)
    # the minimiser of the reduced energy is found to ~1e-8 in b (E* is flat there: rounding of E* ~ 1e-16)
    assert max(np.max(np.abs(g)) for g in grads) < 1e-6, "not a minimiser of the explicit loss"
    _check_bound_at(task, bound, a, b, c, lam, "minimiser with non-zero loss")


def check_ntk(kind):
    """mode_ntk vs empirical_ntk of the full aligned network (the real block form for complex modes), in the
    output-mode basis, with N_x > N and N_h > N. Correlated inputs: the kernel is the same function of the inputs;
    over probes with the covariance (``probe_inputs``: summed second moments lambda_tt' I) mode_ntk still equals the
    empirical kernel, and the kernel distance over them equals that over any sample set with exactly these second
    moments."""
    from lrnn_theory.ntk import empirical_ntk, kernel_distance, mode_ntk, probe_inputs

    cplx, outputs, _, correlated = KINDS[kind]
    rng = np.random.default_rng(5)
    K = 2
    a, b, c = (np.array([0.7, -0.4]), np.array([0.6, -0.5]), np.array([0.5, 0.9]))
    if cplx:
        a, b, c = a + 1j * np.array([0.3, 0.2]), b + 1j * np.array([0.2, -0.3]), c + 1j * np.array([-0.4, 0.1])
    N = 2 * K if cplx else K
    U, V, R = orthonormal_columns(N, N, rng), orthonormal_columns(N + 1, N, rng), orthonormal_columns(N + 2, N, rng)
    P = 3
    X = rng.standard_normal((P, T, N + 1))
    if correlated:
        X = probe_inputs(T, N + 1, COVARIANCE[1])
        P = X.shape[0]
        assert_close(np.einsum("pti,psj->tsij", X, X), np.einsum("ts,ij->tsij", COVARIANCE[1], np.eye(N + 1)),
                     1e-12, 0, "second moments of the probes")
    W = aligned_network(a, b, c, U, V, R, cplx)
    kern = empirical_ntk(*W, X, outputs=outputs)
    S = T if outputs == "every_step" else 1
    rotate = np.kron(np.eye(P * S), U)
    expected = rotate.T @ kern @ rotate
    got = mode_ntk(a, b, c, X, V, outputs=outputs)
    assert np.shape(got) == expected.shape, f"shape {np.shape(got)} vs {expected.shape}"
    assert_close(got, expected, 1e-10, 1e-10, "NTK from the modes")
    # N_y > N: the W_y part also moves output directions no mode reaches; with U the kernel is in output coordinates
    U_tall = orthonormal_columns(N + 2, N, rng)
    kern = empirical_ntk(*aligned_network(a, b, c, U_tall, V, R, cplx), X, outputs=outputs)
    got = mode_ntk(a, b, c, X, V, outputs=outputs, U=U_tall)
    assert_close(got, kern, 1e-10, 1e-10, "NTK from the modes, N_y > N, in output coordinates")
    if correlated:  # random samples coloured to exactly these second moments: the same kernel distance
        Z = rng.standard_normal((3 * P, P))
        e, Q = np.linalg.eigh(Z.T @ Z)
        Z = Z @ (Q / np.sqrt(e)) @ Q.T                                 # Z^T Z = I
        samples = np.einsum("qp,pti->qti", Z, X)
        a1, b1, c1 = 1.3 * a, 0.8 * b, 1.1 * c
        d_probe = kernel_distance(mode_ntk(a, b, c, X, V, outputs=outputs), mode_ntk(a1, b1, c1, X, V, outputs=outputs))
        d_samples = kernel_distance(mode_ntk(a, b, c, samples, V, outputs=outputs),
                                    mode_ntk(a1, b1, c1, samples, V, outputs=outputs))
        assert d_probe > 1e-3 and abs(d_probe - d_samples) < 1e-12, (d_probe, d_samples)


def check_energy(kind):
    """The energy of a trajectory (``trajectory.mode_energy``, ``CompiledFlow.energy``) vs the explicit energy at
    random states, and next to the zero-loss solution (|residual| ~ 1e-7), where the residual form keeps its digits
    and the expanded (norm - 2 Re(conj(u) A) + |u|^2 B) loses them; the identity covariance is today's white energy
    bit for bit."""
    from lrnn_theory.flow import compile_flow
    from lrnn_theory.trajectory import mode_energy

    lam = covariance_of(kind)
    cplx = is_complex(kind)
    rng = np.random.default_rng(9)
    task = custom_task(kind)
    s = task.singular_values
    a, b, c = (rng.uniform(-0.9, 0.9, (5, 2)) + (1j * rng.uniform(-0.9, 0.9, (5, 2)) if cplx else 0)
               for _ in range(3))
    got = mode_energy(s, a, b, c, TAU, task.input_covariance)
    assert_close(got, explicit_energy(s, a, b, c, TAU, lam), 1e-12, 1e-12, "energy at random states")
    flow = compile_flow(task)
    y = np.stack([flow.layout.pack(a[j], b[j], c[j]) for j in range(5)])
    assert_close(flow.energy(y), got, 1e-15, 1e-13, "CompiledFlow.energy")
    white = mode_energy(s, a, b, c, TAU)
    assert np.array_equal(mode_energy(s, a, b, c, TAU, np.eye(T)), white)  # the identity: today's energy, bit for bit
    if lam is not None:  # a singular covariance (rank T - 1 per mode): the eigen-factor path, pseudo-inverse filter
        e, Q = np.linalg.eigh(lam)
        singular = (Q * np.where(np.arange(T) == 0, 0.0, e)[:, None, :]) @ np.swapaxes(Q, -1, -2)
        assert_close(mode_energy(s, a, b, c, TAU, singular), explicit_energy(s, a, b, c, TAU, singular), 1e-12, 1e-10,
                     "energy with a singular covariance")

    task = zero_loss_task(kind)
    s = task.singular_values
    b_star, u_star = family_solution(kind)
    u = u_star * (1 + 1e-7 * np.array([1.0, -2.0]))
    got = mode_energy(s, u, b_star, np.ones(2), TAU, task.input_covariance)
    expected = explicit_energy_ub(s, u, b_star, TAU, lam)
    assert np.all(expected > 1e-17) and np.all(expected < 1e-12)
    assert_close(got, expected, 0, 1e-6, "energy next to zero loss (residual form)")
    expanded = task.sums().energy(u, b_star, TAU)
    assert np.max(np.abs(expanded - expected) / expected) > 1e-5  # a real test: the expanded form loses digits


def check_derive(kind):
    """``lrnn derive TASK`` prints this task's A and B: the printed polynomials equal the explicit sums over links
    (B with odd powers of b for correlated inputs, B(b, conj b) for complex correlated ones), and a correlated task's
    report names the covariance used."""
    import sympy as sp

    from lrnn_theory.cli.reports import REPORTS

    lam = covariance_of(kind)
    task = custom_task(kind)
    text = REPORTS["flow"](task, "text")
    lines = {}
    for line in text.splitlines():  # the first mode's sums come first
        if " = " in line:
            lines.setdefault(line.split(" = ")[0], line.split(" = ", 1)[1])
    cplx = is_complex(kind)
    b0, b1 = (0.37 - 0.21j, -0.52 + 0.3j) if cplx else (0.37, -0.52)
    A_ref, B_ref = explicit_sums(task.singular_values[:1], np.array([[b0, b1]]), None if lam is None else lam[:1])
    A_key = "A(bbar)" if cplx else "A(b)"
    A_expr = sp.sympify(lines[A_key])
    for j, value in enumerate((b0, b1)):
        subs = {sp.Symbol("bbar"): np.conj(value), sp.Symbol("b"): value, sp.Symbol("x"): abs(value) ** 2}
        assert_close(complex(A_expr.subs(subs)), A_ref[0, j], 1e-12, 1e-12, "printed A")
        B_key = next(key for key in ("B(b)", "B(b, bbar)", "beta(x)") if key in lines)
        assert_close(complex(sp.sympify(lines[B_key]).subs(subs)), B_ref[0, j], 1e-12, 1e-12, f"printed {B_key}")
    if is_correlated(kind):
        assert "Inputs correlated across time" in text and "mode 0: lambda = [" in text
        assert ("B(b, bbar)" in lines) if cplx else any(f"b**{p}" in lines["B(b)"] for p in (1, 3, 5))


RESULTS = {
    "task_sums": check_task_sums,
    "integrate": check_integrate,
    "stability": check_stability,
    "fixed_points": check_fixed_points,
    "learning_order": check_learning_order,
    "extrapolation": check_extrapolation,
    "regulariser": check_regulariser,
    "phase_transition": check_phase_transition,
    "frozen": check_frozen,
    "discrete_gd": check_discrete_gd,
    "modified_flow": check_modified_flow,
    "stable_bound": check_stable_bound,
    "ntk": check_ntk,
    "energy": check_energy,
    "derive": check_derive,
}


@pytest.mark.parametrize("result,kind", [(r, k) for r in RESULTS for k in KINDS])
def test_matrix(result, kind):
    RESULTS[result](kind)


# ---- white inputs through the correlated interface ---------------------------------------------------------------
WHITE_KINDS = [k for k in KINDS if not is_correlated(k)]
#: The identity covariance in every form a task takes it: shared, per mode, stationary by lag and AR(1) with rho = 0.
IDENTITIES = {"matrix": np.eye(T), "per-mode": np.stack([np.eye(T)] * 2), "lag": {"lag": [1.0]}, "ar1": {"ar1": 0.0}}


def _white_outputs(kind, cov):
    """Every result's numbers for the white tasks of a kind, built with ``input_covariance=cov`` (None: today's)."""
    from lrnn_theory import integrate
    from lrnn_theory.cli.reports import REPORTS
    from lrnn_theory.extrapolation import family_extrapolation, solution_extrapolation
    from lrnn_theory.finite_lr import DiscreteGD, stable_lr_bound
    from lrnn_theory.fixed_points import flow_endpoints
    from lrnn_theory.frozen import frozen_b_solution
    from lrnn_theory.learning_order import predict_learning_order
    from lrnn_theory.ntk import probe_inputs
    from lrnn_theory.regularisation import energy_split, regulariser
    from lrnn_theory.stability import solve_task
    from lrnn_theory.trajectory import mode_energy

    cplx, outputs, _, _ = KINDS[kind]
    option = {} if cov is None else {"input_covariance": cov}
    family = Task.from_family("inverse_exponential", T=T, **FAMILY, outputs=outputs, tau=TAU, init=init_of(kind),
                              **({"lambda_phase": LAMBDA_PHASE} if cplx else {}), **option)
    custom = Task(custom_task(kind).singular_values, init=init_of(kind), tau=TAU, outputs=outputs, **option)
    out = {}
    grid = np.array([[0.3, -0.7], [1.1, 0.4]]) * (np.exp(0.3j) if cplx else 1)
    for name, task in (("family", family), ("custom", custom)):
        sums = task.sums()
        out[f"{name} sums"] = (*sums.values(grid), sums.norm, sums.energy([0.4, -0.2], grid[:, 0], TAU))
        traj = integrate(task, 1.0, n_points=4)  # short runs: equality bit for bit needs no long ones
        out[f"{name} integrate"] = (traj.a, traj.b, traj.c, traj.energy)
        # today's (white) results as the stability and fixed-point cells computed them
        sol = solve_task(task) if cov is not None else solved(kind, name)
        out[f"{name} stability"] = (sol.b, sol.u, sol.energy, sol.zero_loss)
        ends = flow_endpoints(task) if cov is not None else end_points(kind, name)
        out[f"{name} fixed points"] = (ends.a, ends.b, ends.c)
        out[f"{name} frozen"] = (frozen_b_solution(task, [0.0, 1.0, 4.0]),)
        gd = integrate(task, 1.3, n_points=3, method=DiscreteGD(lr=0.05))
        out[f"{name} discrete"] = (gd.a, gd.b, gd.c, gd.energy)
        modified = integrate(task, 0.3, n_points=3, lr_correction=0.05)
        out[f"{name} modified"] = (modified.a, modified.b, modified.energy)
        bound = stable_lr_bound(task)
        out[f"{name} bound"] = (bound["lambda_max"], bound["lr_max"])
        out[f"{name} split"] = energy_split(task.singular_values, *init_arrays(task), TAU, **option)
        out[f"{name} energy"] = (mode_energy(task.singular_values, *init_arrays(task), TAU, task.input_covariance),)
        out[f"{name} derive"] = (REPORTS["flow"](task, "text"),)
    order = _white_learning_order(kind) if cov is None else predict_learning_order(family)
    out["learning order"] = (order.times, order.times_logistic, order.final_u, order.rate)
    matrix = cov if cov is None or isinstance(cov, dict) else np.eye(T)
    out["extrapolation"] = (solution_extrapolation([0.5, 0.3], [1.0, 0.7], custom.singular_values, TAU, **option)[1],)
    out["family extrapolation"] = (family_extrapolation("inverse_exponential", T, [2, 6], delta=0.8, lam=0.7, tau=TAU,
                                                        outputs=outputs, **({} if not isinstance(cov, dict) else
                                                                            {"input_covariance": cov}))["energy"],)
    out["regulariser"] = (regulariser([0.8, 0.5], [0.9, 1.0], T, TAU, every_step=outputs == "every_step",
                                      **({} if matrix is None else {"input_covariance": matrix})),)
    out["probes"] = (probe_inputs(T, 3, None if cov is None else np.eye(T)),)
    return out


@functools.lru_cache(maxsize=None)
def _todays_outputs(kind):
    return _white_outputs(kind, None)


@pytest.mark.parametrize("kind,identity", [("real", form) for form in IDENTITIES] +
                         [(kind, "per-mode") for kind in WHITE_KINDS if kind != "real"])
def test_identity_covariance_gives_todays_results(kind, identity):
    """With lambda = I (each form on real tasks, one matrix per mode on the other kinds) every result equals today's
    white result: bit for bit (so within 1e-12)."""
    today = _todays_outputs(kind)
    white = _white_outputs(kind, IDENTITIES[identity])
    assert today.keys() == white.keys()
    for key in today:
        for got, ref in zip(white[key], today[key]):
            if isinstance(ref, str):
                assert got == ref, key
            else:
                assert np.array_equal(np.asarray(got), np.asarray(ref), equal_nan=True), f"{key}: {got} vs {ref}"


@pytest.mark.parametrize("kind", WHITE_KINDS)
def test_near_identity_covariance_runs_the_correlated_path_to_todays_results(kind):
    """lambda = I + 1e-15 (off the diagonal) goes through every correlated code path (full gram matrix, best filter,
    square-root energy) and gives today's numbers to 1e-12 (the minimisers of non-geometric tasks to the precision
    of their search, 1e-7)."""
    from lrnn_theory import integrate
    from lrnn_theory.finite_lr import DiscreteGD, stable_lr_bound
    from lrnn_theory.flow import compile_flow
    from lrnn_theory.stability import solve_task

    near = np.eye(T) + 1e-15 * (np.ones((T, T)) - np.eye(T))
    for name in ("family", "custom"):
        task = TASKS[name](kind)
        other = Task(task.singular_values, init=init_of(kind), tau=TAU, outputs=task.outputs, input_covariance=near)
        assert other.correlated and not other.sums().diagonal
        flow, other_flow = compile_flow(task), compile_flow(other)
        y = flow.initial_state() * 3.0
        assert_close(other_flow.rates(0.0, y), flow.rates(0.0, y), 1e-12, 0, "rates")
        assert_close(other_flow.energy(y), flow.energy(y), 1e-12, 0, "energy")
        gd, other_gd = (integrate(t, 1.3, n_points=3, method=DiscreteGD(lr=0.05)) for t in (task, other))
        assert_close(other_gd.b, gd.b, 1e-12, 0, "discrete map")
        sol, other_sol = solved(kind, name), solve_task(other)
        assert np.array_equal(sol.zero_loss, other_sol.zero_loss)
        assert_close(other_sol.energy, sol.energy, 1e-12, 0, "minimum energy")
        assert_close(other_sol.b, sol.b, 1e-7, 0, "minimiser b")
        assert_close(stable_lr_bound(other)["lambda_max"], stable_lr_bound(task)["lambda_max"], 1e-6, 1e-6,
                     "lambda_max")


# ---- the references themselves -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
def test_reference_gradient_is_the_finite_difference_gradient(kind):
    """The explicit gradient (the Wirtinger factor 2 included) equals central differences of the explicit loss."""
    task = custom_task(kind)
    cplx = is_complex(kind)
    lam = covariance_of(kind)
    rng = np.random.default_rng(6)
    a, b, c = (rng.uniform(-0.8, 0.8, 2) + (1j * rng.uniform(-0.8, 0.8, 2) if cplx else 0) for _ in range(3))
    L = explicit_loss_of_vector(task.singular_values, cplx, tau=1.0, lam=lam)
    y = pack(a, b, c, cplx)
    fd = np.array([(L(y + e) - L(y - e)) / 2e-6 for e in 1e-6 * np.eye(y.size)])
    assert_close(pack(*explicit_gradient(task.singular_values, a, b, c, lam), cplx), fd, 1e-8, 1e-7, "gradient")


@pytest.mark.parametrize("kind", list(KINDS))
def test_reference_network_gradient_is_the_finite_difference_gradient(kind):
    """The full-matrix gradient of the (block) network equals central differences of its explicit loss."""
    task = custom_task(kind)
    cplx = is_complex(kind)
    rng = np.random.default_rng(8)
    N = 2 * task.K if cplx else task.K
    U, V = orthonormal_columns(N, N, rng), orthonormal_columns(N, N, rng)
    k, sigmas, *metric = network_targets(task.singular_values, U, V, cplx, covariance_of(kind))
    metric = metric[0] if metric else None
    W = [0.4 * rng.standard_normal(shape) for shape in ((N + 1, N), (N + 1, N + 1), (N, N + 1))]
    grads = network_gradient(*W, k, sigmas, metric)
    for j in range(3):
        fd = np.zeros_like(W[j])
        for idx in np.ndindex(W[j].shape):
            plus, minus = [w.copy() for w in W], [w.copy() for w in W]
            plus[j][idx] += 1e-6
            minus[j][idx] -= 1e-6
            fd[idx] = (network_loss(*plus, k, sigmas, metric) - network_loss(*minus, k, sigmas, metric)) / 2e-6
        assert_close(grads[j], fd, 1e-7, 1e-6, f"network gradient {j}")


@pytest.mark.parametrize("kind", [k for k in KINDS if is_correlated(k)])
def test_reference_correlated_loss_is_the_sample_loss(kind):
    """The correlated reference loss is the expected squared error: sequences with exactly the covariance (summed
    second moments V diag(lambda_ij) V^T per unit), targets of the linear teacher W*, whose cross-covariances with
    the inputs are the task's U H(sigma) V^T; then 1/2 sum_p ||y_p - y_hat_p||^2 of any network equals
    ``network_loss(metric)``, and for the aligned network it is the explicit per-mode loss (twice it for the 2x2 block
    of a complex mode)."""
    task = custom_task(kind)
    cplx, outputs, _, _ = KINDS[kind]
    rng = np.random.default_rng(10)
    N = 2 * task.K if cplx else task.K
    U, V, R = orthonormal_columns(N, N, rng), orthonormal_columns(N, N, rng), orthonormal_columns(N + 1, N, rng)
    units = np.repeat(COVARIANCE, 2 if cplx else 1, axis=0)                # lambda of every real unit
    e, Q = np.linalg.eigh(units)
    root = (Q * np.sqrt(e)[:, None, :]) @ np.swapaxes(Q, -1, -2)           # symmetric square roots
    X = np.zeros((T, N, T, N))
    X[:, np.arange(N), :, np.arange(N)] = root
    X = X.reshape(T * N, T, N) @ V.T                                       # sum_p x_(p,i) x_(p,j)^T = V diag V^T
    k, teacher, metric = network_targets(task.singular_values, U, V, cplx, COVARIANCE)
    _, sigmas = network_targets(task.singular_values, U, V, cplx)
    every = outputs == "every_step"
    # the teacher's maps per (output, input step): final output link j is step j + 1; every step links (t, i), i <= t
    t_idx, i_idx = np.tril_indices(T) if every else (np.full(T, T - 1), np.arange(T))
    Y = np.zeros((X.shape[0], T if every else 1, N))
    for W_link, t, i in zip(teacher, t_idx, i_idx):
        Y[:, t if every else 0] += X[:, i] @ W_link.T
    for W_link, S, t, i in zip(teacher, sigmas, t_idx, i_idx):                # the task's cross-covariances
        assert_close(np.einsum("py,px->yx", Y[:, t if every else 0], X[:, i]), S, 1e-12, 0, "cross-covariance")
    W = [0.4 * rng.standard_normal(shape) for shape in ((N + 1, N), (N + 1, N + 1), (N, N + 1))]
    a, b, c = (rng.uniform(-0.8, 0.8, 2) + (1j * rng.uniform(-0.8, 0.8, 2) if cplx else 0) for _ in range(3))
    for weights in (W, list(aligned_network(a, b, c, U, V, R, cplx))):
        W_x, W_h, W_y = weights
        H = np.zeros((X.shape[0], N + 1))
        out = []
        for step in range(T):
            H = H @ W_h.T + X[:, step] @ W_x.T
            out.append(H @ W_y.T)
        Y_hat = np.stack(out, axis=1) if every else out[-1][:, None]
        sample = 0.5 * np.sum((Y - Y_hat) ** 2)
        assert_close(sample, network_loss(*weights, k, teacher, metric), 1e-12, 1e-12, "sample loss")
    explicit = np.sum(explicit_energy(task.singular_values, a, b, c, 1.0, COVARIANCE))
    assert_close(sample, (2 if cplx else 1) * explicit, 1e-12, 1e-12, "aligned network: the explicit loss")

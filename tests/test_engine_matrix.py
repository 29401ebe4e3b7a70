"""The matrix of result x kind of task (issue 20): every result on real, complex (rotational), every-step and complex
every-step tasks, each cell checked against an independent computation of ``tests/reference.py`` (explicit sums over
the input-output links, finite differences of the explicit loss, own DOP853 integrations, scipy brute force, the
empirical NTK of the full aligned network) or asserting the one-line refusal of a result whose mathematics does
not exist for that kind.

The test ids read ``test_matrix[<result>-<kind>]``. The explicit loss of a mode is L = 1/2 sum_links |s - c b^k a|^2
(final output: input i reaches the output through b^(T-i); every step: input i reaches output t >= i through
b^(t-i)), E = L / tau, and the flow is d(theta)/dt = -dE/d(theta) over real and imaginary parts (for complex modes
the Wirtinger form dz/dt = -2 dE/dconj(z)).
"""
import numpy as np
import pytest

from lrnn_theory import LrnnInputError, Task
from reference import (aligned_network, brute_force_minimum, dirac_critical_beta, explicit_energy, explicit_energy_ub,
                       explicit_gradient, explicit_loss_of_vector, explicit_rates, explicit_sums,
                       gradient_descent_explicit, hessian_fd, integrate_explicit, least_squares_u, links,
                       network_gradient, network_loss, network_targets, orthonormal_columns, pack, unpack)

T = 4
TAU = 1.3
#: kind id in the test names -> (complex, outputs, Task.kind)
KINDS = {
    "real": (False, "final", "real"),
    "complex": (True, "final", "complex"),
    "every-step": (False, "every_step", "every-step"),
    "complex-every-step": (True, "every_step", "complex every-step"),
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


def is_complex(kind):
    return KINDS[kind][0]


def init_of(kind):
    return COMPLEX_INIT if is_complex(kind) else REAL_INIT


def family_task(kind, family="inverse_exponential", **kw):
    """The zero-loss family task of a kind: s = delta lambda^(T-i) (every step: delta lambda^(t-i))."""
    cplx, outputs, _ = KINDS[kind]
    extra = {"lambda_phase": LAMBDA_PHASE} if cplx else {}
    kw.setdefault("init", init_of(kind))
    return Task.from_family(family, T=T, **FAMILY, outputs=outputs, tau=TAU, **extra, **kw)


def custom_task(kind, init=None):
    cplx, outputs, _ = KINDS[kind]
    if outputs == "final":
        s = FINAL_RE + 1j * FINAL_IM if cplx else FINAL_RE
    else:
        s = STEP_RE + 1j * STEP_IM if cplx else STEP_RE
    return Task(s, init=init_of(kind) if init is None else init, tau=TAU, outputs=outputs)


def family_solution(kind):
    """b*, u* of ``family_task``: b = lambda e^(i phase), u = delta."""
    b = np.asarray(FAMILY["lam"], dtype=complex if is_complex(kind) else float)
    if is_complex(kind):
        b = b * np.exp(1j * np.asarray(LAMBDA_PHASE))
    return b, np.asarray(FAMILY["delta"], dtype=float)


def init_arrays(task):
    return task.init.a, task.init.b, task.init.c


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
    """A, B, energy, u*(b), E*(b) of ``Task.sums`` vs the explicit sums over links and a least-squares u."""
    rng = np.random.default_rng(1)
    for task in (family_task(kind), custom_task(kind)):
        s = task.singular_values
        sums = task.sums()
        assert task.kind == KINDS[kind][2]
        grid = rng.uniform(-1.3, 1.3, (2, 5))
        if is_complex(kind):
            grid = grid + 1j * rng.uniform(-1.0, 1.0, (2, 5))
        A, B = sums.values(grid)
        A_ref, B_ref = explicit_sums(s, grid)
        assert_close(A, A_ref, 1e-12, 1e-12, "A(b) on a grid")
        assert_close(B, B_ref, 1e-12, 1e-12, "B(b) on a grid")
        assert_close(sums.norm, np.sum(np.abs(links(s)[1]) ** 2, axis=1), 1e-12, 1e-12, "norm")
        b = grid[:, 0]
        u = rng.uniform(-1, 1, 2) + (1j * rng.uniform(-1, 1, 2) if is_complex(kind) else 0)
        assert_close(sums.energy(u, b, TAU), explicit_energy_ub(s, u, b, TAU), 1e-12, 1e-12, "energy(u, b)")
        u_best = least_squares_u(s, b)
        assert_close(sums.optimal_u(b), u_best, 1e-12, 1e-10, "optimal_u")
        assert_close(sums.reduced_energy(b, TAU), explicit_energy_ub(s, u_best, b, TAU), 1e-12, 1e-10,
                     "reduced_energy")


def check_integrate(kind):
    """The flow's rates = -dE/dtheta of the explicit energy, and integrate vs an own DOP853 integration."""
    from lrnn_theory import integrate
    from lrnn_theory.flow import compile_flow

    task = custom_task(kind)
    s = task.singular_values
    flow = compile_flow(task)
    rng = np.random.default_rng(2)
    a, b, c = (rng.uniform(-0.8, 0.8, 2) + (1j * rng.uniform(-0.8, 0.8, 2) if is_complex(kind) else 0)
               for _ in range(3))
    ra, rb, rc = explicit_rates(s, a, b, c, TAU)
    if is_complex(kind):  # the flow's layout: [Re a, Im a, Re b, Im b, Re c, Im c] per mode
        y = np.column_stack([f(v) for v in (a, b, c) for f in (np.real, np.imag)]).ravel()
        expected = np.column_stack([f(v) for v in (ra, rb, rc) for f in (np.real, np.imag)]).ravel()
    else:
        y = np.column_stack([a, b, c]).ravel()
        expected = np.column_stack([ra, rb, rc]).ravel()
    assert_close(flow.rates(0.0, y), expected, 1e-12, 1e-10, "rates vs -dE/dtheta")

    t_eval = np.linspace(0.0, 3.0, 7)
    traj = integrate(task, 3.0, t_eval=t_eval, rtol=1e-10, atol=1e-12)
    a_ref, b_ref, c_ref = integrate_explicit(s, *init_arrays(task), TAU, t_eval)
    for name, got, ref in (("a", traj.a, a_ref), ("b", traj.b, b_ref), ("c", traj.c, c_ref)):
        assert_close(got, ref, 1e-7, 0, f"integrate: {name}(t)")
    assert_close(traj.energy, explicit_energy(s, traj.a, traj.b, traj.c, TAU), 1e-12, 1e-10, "trajectory energy")


def check_stability(kind):
    """solve_task: the zero-loss solution of the family, the brute-force minimiser of the custom task."""
    from lrnn_theory.stability import solve_task

    sol = solve_task(family_task(kind))
    b_star, u_star = family_solution(kind)
    assert np.all(sol.zero_loss)
    assert_close(sol.b, b_star, 1e-9, 1e-9, "zero-loss b")
    assert_close(sol.u, u_star, 1e-9, 1e-9, "zero-loss u")
    assert_close(sol.energy, 0.0, 1e-12, 0, "zero-loss energy")
    assert list(sol.stability) == ["stable", "unstable"]  # |b*| = 0.7, 1.2

    task = custom_task(kind)
    sol = solve_task(task)
    u_ref, b_ref, E_ref = brute_force_minimum(task.singular_values, TAU)
    assert not np.any(sol.zero_loss)
    assert_close(sol.energy, E_ref, 1e-9, 1e-7, "minimum energy")
    assert_close(sol.b, b_ref, 2e-5, 0, "minimiser b")
    assert_close(sol.u, u_ref, 2e-5, 0, "minimiser u")
    assert list(sol.stability) == ["stable" if abs(x) < 1 else "unstable" for x in b_ref]


def check_fixed_points(kind):
    """flow_endpoints vs the end of a long own integration of the explicit rates (u, b, |a|, |c| to 1e-8; a, c)."""
    from lrnn_theory.fixed_points import flow_endpoints

    for task in (family_task(kind), custom_task(kind)):
        s = task.singular_values
        ends = flow_endpoints(task)
        a, b, c = (x[-1] for x in integrate_explicit(s, *init_arrays(task), TAU, np.array([0.0, 400.0]),
                                                    rtol=1e-11, atol=1e-13))
        assert max(np.max(np.abs(r)) for r in explicit_rates(s, a, b, c, TAU)) < 1e-8, "reference not converged"
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

    task = family_task(kind)
    s = task.singular_values
    pred = predict_learning_order(task)
    a0, b0, c0 = init_arrays(task)
    A0, B0 = explicit_sums(s, b0)
    assert_close(pred.discounted_sum, A0, 1e-12, 1e-12, "A(b0)")
    assert_close(pred.rate, 2 * np.abs(A0) / TAU if is_complex(kind) else 2 * A0 / TAU, 1e-12, 1e-12, "rate")
    t = np.linspace(0.0, 200.0, 200001)
    a, b, c = integrate_explicit(s, a0, b0, c0, TAU, t, rtol=1e-11, atol=1e-13)
    u = a * c
    final = u[-1]
    progress = np.real(u / final)
    times = np.array([_first_crossing(t, progress[:, k], 0.9) for k in range(task.K)])
    assert_close(pred.final_u, final, 1e-6, 0, "final u")
    assert_close(pred.final_b, b[-1], 1e-6, 0, "final b")
    assert_close(pred.times, times, 0, 1e-4, "learning times (90% of final u)")
    assert list(pred.order) == list(np.argsort(times))
    # b frozen at b0: u -> u*(b0), the least-squares u at b0
    af, bf, cf = integrate_explicit(s, a0, b0, c0, TAU, t[:60001], freeze_b=True)
    uf = af * cf
    u_star = least_squares_u(s, b0)
    frozen_progress = np.real(uf / u_star)
    t_frozen = np.array([_first_crossing(t[:60001], frozen_progress[:, k], 0.9) for k in range(task.K)])
    assert_close(pred.times_logistic, t_frozen, 0, 1e-4, "frozen-b learning times")


def check_extrapolation(kind):
    """solution_extrapolation vs explicit residuals; family_extrapolation vs the family's solution run at T'."""
    from lrnn_theory.extrapolation import family_extrapolation, solution_extrapolation

    cplx, outputs, _ = KINDS[kind]
    task = custom_task(kind)
    rng = np.random.default_rng(3)
    b = rng.uniform(-0.9, 0.9, 2) + (1j * rng.uniform(-0.5, 0.5, 2) if cplx else 0)
    u = rng.uniform(-1, 1, 2) + (1j * rng.uniform(-1, 1, 2) if cplx else 0)
    residual, energy = solution_extrapolation(b, u, task.singular_values, TAU)
    k, S = links(task.singular_values)
    assert_close(links(residual)[1], S - u[:, None] * b[:, None] ** k, 1e-12, 1e-12, "residuals")
    assert_close(energy, explicit_energy_ub(task.singular_values, u, b, TAU), 1e-12, 1e-12, "energy at T'")

    T_test = [2, 3, 4, 6, 7]
    phase = {"lambda_phase": 0.5} if cplx else {}
    if outputs == "final":  # exponential: b = 1/lambda, u = delta lambda^T, fails to extrapolate
        family, delta, lam = "exponential", 0.9, 0.8
        lam_c = lam * np.exp(1j * 0.5) if cplx else lam
        b_star, u_star = 1 / lam_c, delta * lam_c ** T
    elif not cplx:  # mean: constant delta = 1/T, b = 1, u = 1/T; the target at T' is 1/T'
        family, delta, lam = "mean", 1.0, None
        b_star, u_star = 1.0, 1.0 / T
    else:  # inverse exponential by lag: b = lambda e^(i phase), u = delta, extrapolates exactly
        family, delta, lam = "inverse_exponential", 0.8, 0.7
        b_star, u_star = lam * np.exp(1j * 0.5), delta
    out = family_extrapolation(family, T, T_test, delta=delta, lam=lam, tau=TAU, outputs=outputs, **phase)
    assert_close(out["b"], b_star, 1e-9, 1e-9, "solution b at T")
    assert_close(out["u"], u_star, 1e-9, 1e-9, "solution u at T")
    expected = []
    for Tp in T_test:
        if family == "mean":
            s_test = np.tril(np.full((1, Tp, Tp), 1.0 / Tp))
        else:
            kw = dict(delta=delta, lam=lam, outputs=outputs, **phase)
            s_test = Task.from_family(family, T=Tp, **kw).singular_values
        expected.append(explicit_energy_ub(s_test, u_star, b_star, TAU)[0])
    assert_close(out["energy"], expected, 1e-12, 1e-9, "extrapolation energies")
    assert_close(out["closed_form"], expected, 1e-12, 1e-9, "closed-form extrapolation energies")
    if family != "inverse_exponential":
        assert max(expected) > 1e-3  # a real test: this family does not extrapolate


def check_regulariser(kind):
    """energy_split: data + regulariser = explicit energy, regulariser = |u|^2 sum_links |b|^(2k) / (2 tau);
    ``regulariser`` (closed form) vs that sum, including |b| at and near 1."""
    from lrnn_theory.regularisation import energy_split, regulariser

    cplx, outputs, _ = KINDS[kind]
    task = custom_task(kind)
    s = task.singular_values
    rng = np.random.default_rng(4)
    a, b, c = (rng.uniform(-1, 1, 2) + (1j * rng.uniform(-0.7, 0.7, 2) if cplx else 0) for _ in range(3))
    data, reg = energy_split(s, a, b, c, TAU)
    A, B = explicit_sums(s, b)
    u = a * c
    assert_close(reg, np.abs(u) ** 2 * B / (2 * TAU), 1e-12, 1e-11, "regulariser of energy_split")
    assert_close(data, (np.sum(np.abs(links(s)[1]) ** 2, axis=1) - 2 * np.real(np.conj(u) * A)) / (2 * TAU),
                 1e-12, 1e-11, "data term")
    assert_close(data + reg, explicit_energy(s, a, b, c, TAU), 1e-12, 1e-11, "data + regulariser = energy")
    radii = np.array([0.3, 0.999, 1.0, 1.0 + 1e-9, 1.2])
    bs = radii * (np.exp(0.7j) if cplx else -1.0)
    us = np.full(radii.shape, 0.8 - 0.3j if cplx else 0.8)
    got = regulariser(us, bs, T, TAU, every_step=outputs == "every_step")
    ones = np.ones((radii.size,) + ((T,) if outputs == "final" else (T, T)))
    if outputs == "every_step":
        ones = np.tril(ones)
    expected = np.abs(us) ** 2 * explicit_sums(ones, bs)[1] / (2 * TAU)
    assert_close(got, expected, 1e-10, 1e-9, "regulariser closed form")


def check_phase_transition(kind):
    """Real: phase_curve vs brute force, critical_beta vs an own bisection (T = 3: 1/sqrt 2). Complex: the Dirac task
    with phases has the transition of its moduli (T = 3: |b*|^2 = (2 beta^2 - 1)/(2 - beta^2) above 1/sqrt 2).
    Every-step kinds: the Dirac family has no every-step form (refused)."""
    from lrnn_theory.phase_transition import critical_beta, dirac_profile, phase_curve

    cplx, outputs, _ = KINDS[kind]
    if outputs == "every_step":
        with pytest.raises(LrnnInputError) as err:
            Task.from_family("dirac", T=T, beta=1.2, kappa=1.0, outputs="every_step")
        assert "\n" not in str(err.value) and "dirac" in str(err.value) and "every-step" in str(err.value)
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
    from lrnn_theory.stability import solve_task

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

    if is_complex(kind):
        inits = [{"a": [0.15 + 0.1j, 0.05 - 0.1j], "b": [0.3 + 0.2j, -0.4 + 0.1j], "c": [0.1 - 0.15j, 0.1 + 0.05j]},
                 {"a": [0.15 + 0.1j, 0.2 - 0.1j], "b": [0.3 + 0.2j, -0.4 + 0.1j], "c": [0.3 - 0.15j, 0.05 + 0.05j]}]
    else:
        inits = [{"a": [0.3, 0.1], "b": [0.4, -0.3], "c": [0.1, -0.25]}]
    t = np.array([0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0])
    for init in inits:
        task = custom_task(kind, init=init)
        u = frozen_b_solution(task, t)
        a, b, c = integrate_explicit(task.singular_values, *init_arrays(task), TAU, t, freeze_b=True)
        assert_close(u, a * c, 1e-8, 1e-8, f"u(t) with b frozen, init {init}")

    if is_complex(kind):
        task = custom_task(kind)
        assert_refusal(lambda: integrate_recurrent_taylor(task, [0.0, 0.5]), kind)
        return
    task = custom_task(kind, init={"a": [0.8, 0.6], "b": [0.4, -0.3], "c": [0.9, -0.7]})
    t = np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    taylor = integrate_recurrent_taylor(task, t, window=0.02, order=5)
    _, b, _ = integrate_explicit(task.singular_values, *init_arrays(task), TAU, t, freeze_ac=True)
    assert np.max(np.abs(b[-1] - b[0])) > 0.05, b  # b moves
    assert_close(taylor.b, b, 1e-7, 0, "b(t) with u frozen (windowed Taylor series)")


def check_discrete_gd(kind):
    """integrate(method=DiscreteGD(lr, 'sum_half')) vs an own gradient-descent loop on the explicit loss."""
    from lrnn_theory import integrate
    from lrnn_theory.finite_lr import DiscreteGD

    task = custom_task(kind)
    lr, steps = 0.05, 40
    h = lr * TAU
    traj = integrate(task, steps * h, t_eval=[0.0, steps * h], method=DiscreteGD(lr=lr, loss="sum_half"))
    a, b, c = gradient_descent_explicit(task.singular_values, *init_arrays(task), lr, steps)
    assert_close(traj.t[-1], steps * h, 1e-12, 1e-12, "time of the last step")
    for name, got, ref in (("a", traj.a[-1], a), ("b", traj.b[-1], b), ("c", traj.c[-1], c)):
        assert_close(got, ref, 1e-12, 1e-10, f"{name} after {steps} steps")

    # loss="mean" (plain MSE over P samples x N_y outputs [x T steps]) on the full aligned network, N_y = N real
    # output units (2 per complex mode), P = T N_x one-hot probe sequences (white as a sum): full-matrix gradient
    # descent W <- W - lr * 2 / (P N_y [T]) * dL/dW, L = 1/2 sum_links ||Sigma - W_y W_h^k W_x||^2
    cplx, outputs, _ = KINDS[kind]
    rng = np.random.default_rng(7)
    N = 2 * task.K if cplx else task.K
    U, V, R = orthonormal_columns(N, N, rng), orthonormal_columns(N, N, rng), orthonormal_columns(N + 1, N, rng)
    k, sigmas = network_targets(task.singular_values, U, V, cplx)
    W = list(aligned_network(*init_arrays(task), U, V, R, cplx))
    P, lr, steps = T * N, 0.8, 25
    scale = 2.0 / (P * N * (T if outputs == "every_step" else 1))
    for _ in range(steps):
        W = [w - lr * scale * g for w, g in zip(W, network_gradient(*W, k, sigmas))]
    gd = DiscreteGD(lr=lr, loss="mean", n_samples=P)
    h = gd.time_step(task)
    assert_close(h, lr * scale * TAU, 1e-15, 1e-12, "theory time of one mean-convention step")
    traj = integrate(task, steps * h, t_eval=[0.0, steps * h], method=gd)
    modes = aligned_network(traj.a[-1], traj.b[-1], traj.c[-1], U, V, R, cplx)
    for name, got, ref in zip(("W_x", "W_h", "W_y"), modes, W):
        assert_close(got, ref, 1e-12, 1e-10, f"{name} after {steps} full-matrix steps (loss='mean')")


def _one_step_errors(task, lr):
    from lrnn_theory import integrate

    h = lr * TAU
    a, b, c = gradient_descent_explicit(task.singular_values, *init_arrays(task), lr, 1)
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
    mod1, plain1 = _one_step_errors(task, 0.02)
    mod2, plain2 = _one_step_errors(task, 0.01)
    assert 3.0 < plain1 / plain2 < 5.0, (plain1, plain2)  # the plain flow: O(h^2)
    assert mod1 / mod2 > 6.5, f"modified flow errors {mod1:.3g}, {mod2:.3g}: not O(h^3)"
    assert mod2 < 0.2 * plain2, (mod2, plain2)


def check_stable_bound(kind):
    """stable_lr_bound: 2 / lambda_max of a finite-difference Hessian of L = 1/2 sum |r|^2 (sum_half) over the
    real parameters of each mode at the zero-loss solution with the init's balance |a|^2 - |c|^2; and gradient
    descent from next to that solution stays put just below the bound and leaves just above it."""
    from lrnn_theory.finite_lr import stable_lr_bound

    task = family_task(kind)
    s = task.singular_values
    bound = stable_lr_bound(task)
    b_star, u_star = family_solution(kind)
    a0, _, c0 = init_arrays(task)
    D = np.abs(a0) ** 2 - np.abs(c0) ** 2
    a = np.sqrt((D + np.sqrt(D**2 + 4 * np.abs(u_star) ** 2)) / 2).astype(b_star.dtype)
    c = u_star / a
    lam_max = np.array([np.linalg.eigvalsh(hessian_fd(s, a, b_star, c, k))[-1] for k in range(task.K)])
    assert_close(bound["lambda_max"], lam_max, 0, 1e-6, "lambda_max of the Hessian")
    assert_close(bound["lr_max"], 2 / lam_max, 0, 1e-6, "lr_max = 2 / lambda_max")
    cplx = is_complex(kind)
    for k in range(task.K):
        H = hessian_fd(s, a, b_star, c, k)
        top = np.linalg.eigh(H)[1][:, -1]
        mode_s = s[k:k + 1]
        start = pack(a[k:k + 1], b_star[k:k + 1], c[k:k + 1], cplx) + 1e-7 * top
        for factor, grows in ((0.97, False), (1.03, True)):
            end = unpack(start, 1, cplx)
            end = gradient_descent_explicit(mode_s, *end, factor * 2 / lam_max[k], 400)
            gap = np.max(np.abs(pack(*end, cplx) - pack(a[k:k + 1], b_star[k:k + 1], c[k:k + 1], cplx)))
            assert (gap > 1e-5) == grows, f"mode {k}, lr = {factor} x bound: distance {gap:.3g}"


def check_ntk(kind):
    """mode_ntk vs empirical_ntk of the full aligned network (the real block form for complex modes), in the
    output-mode basis, with N_x > N and N_h > N."""
    from lrnn_theory.ntk import empirical_ntk, mode_ntk

    cplx, outputs, _ = KINDS[kind]
    rng = np.random.default_rng(5)
    K = 2
    a, b, c = (np.array([0.7, -0.4]), np.array([0.6, -0.5]), np.array([0.5, 0.9]))
    if cplx:
        a, b, c = a + 1j * np.array([0.3, 0.2]), b + 1j * np.array([0.2, -0.3]), c + 1j * np.array([-0.4, 0.1])
    N = 2 * K if cplx else K
    U, V, R = orthonormal_columns(N, N, rng), orthonormal_columns(N + 1, N, rng), orthonormal_columns(N + 2, N, rng)
    P = 3
    X = rng.standard_normal((P, T, N + 1))
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
}


@pytest.mark.parametrize("result,kind", [(r, k) for r in RESULTS for k in KINDS])
def test_matrix(result, kind):
    RESULTS[result](kind)


# ---- the references themselves -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
def test_reference_gradient_is_the_finite_difference_gradient(kind):
    """The explicit gradient (the Wirtinger factor 2 included) equals central differences of the explicit loss."""
    task = custom_task(kind)
    cplx = is_complex(kind)
    rng = np.random.default_rng(6)
    a, b, c = (rng.uniform(-0.8, 0.8, 2) + (1j * rng.uniform(-0.8, 0.8, 2) if cplx else 0) for _ in range(3))
    L = explicit_loss_of_vector(task.singular_values, cplx, tau=1.0)
    y = pack(a, b, c, cplx)
    fd = np.array([(L(y + e) - L(y - e)) / 2e-6 for e in 1e-6 * np.eye(y.size)])
    assert_close(pack(*explicit_gradient(task.singular_values, a, b, c), cplx), fd, 1e-8, 1e-7, "gradient")


@pytest.mark.parametrize("kind", list(KINDS))
def test_reference_network_gradient_is_the_finite_difference_gradient(kind):
    """The full-matrix gradient of the (block) network equals central differences of its explicit loss."""
    task = custom_task(kind)
    cplx = is_complex(kind)
    rng = np.random.default_rng(8)
    N = 2 * task.K if cplx else task.K
    U, V = orthonormal_columns(N, N, rng), orthonormal_columns(N, N, rng)
    k, sigmas = network_targets(task.singular_values, U, V, cplx)
    W = [0.4 * rng.standard_normal(shape) for shape in ((N + 1, N), (N + 1, N + 1), (N, N + 1))]
    grads = network_gradient(*W, k, sigmas)
    for j in range(3):
        fd = np.zeros_like(W[j])
        for idx in np.ndindex(W[j].shape):
            plus, minus = [w.copy() for w in W], [w.copy() for w in W]
            plus[j][idx] += 1e-6
            minus[j][idx] -= 1e-6
            fd[idx] = (network_loss(*plus, k, sigmas) - network_loss(*minus, k, sigmas)) / 2e-6
        assert_close(grads[j], fd, 1e-7, 1e-6, f"network gradient {j}")

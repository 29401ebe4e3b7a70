"""``lrnn simulate`` and ``lrnn validate``: train a real LRNN on a task file and hold it against the theory.

``lrnn simulate TASK.json --lr ETA --steps S --out sim.csv`` writes the read-off modes with the same columns as
``lrnn integrate`` (``t,mode,a,b,c,u,energy``, t in the theory's units). ``lrnn validate TASK.json --lr ETA --steps S``
also integrates the mode ODEs from the network's initial modes to the same times, prints the largest absolute
difference of a, b, c and u, optionally draws theory (dashed) over simulation (solid), and exits with code 1 when a
difference exceeds ``--tol``.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory import resources
from lrnn_theory.cli import EXIT_TOLERANCE, add_resource_arguments, check_out_path, write_outputs
from lrnn_theory.errors import LrnnInputError, bad
from lrnn_theory.tasks import Task

from .harness import DATA, INITS, LOSSES
from .network import WEIGHT_NAMES

DEFAULT_TOL = 0.05
QUANTITIES = ("a", "b", "c", "u")


def _add_training_arguments(p):
    p.add_argument("task", metavar="TASK.json", help="task file (see the README for the JSON schema)")
    p.add_argument("--hidden", type=int, help="hidden width N_h >= K (default: K, the number of modes)")
    p.add_argument("--lr", type=float, required=True, help="learning rate of gradient descent")
    p.add_argument("--steps", type=int, required=True, help="number of gradient steps")
    p.add_argument("--init", choices=INITS, default="aligned",
                   help="aligned with the task's singular vectors (a, b, c from the task's init; default) or small "
                        "random N(0, init_scale^2 / fan_in)")
    p.add_argument("--init-scale", type=float,
                   help="aligned: every mode set to this value >= 0; random: scale sigma of N(0, sigma^2 / fan_in) "
                        "(default 0.1)")
    p.add_argument("--data", choices=DATA[:2], default="population",
                   help="population correlations (default) or exactly whitened samples")
    p.add_argument("--n-samples", type=int, help="number of samples P >= T * K (default T * K; population data stand for P "
                                                  "exactly whitened samples, which sets P in the mean losses)")
    p.add_argument("--seed", type=int, default=0, help="seed of the singular vectors, samples and init (default 0)")
    p.add_argument("--loss", choices=LOSSES, default="sum_half",
                   help="loss convention (default sum_half, the theory's); the time per step follows from it")
    p.add_argument("--freeze", nargs="+", choices=WEIGHT_NAMES, default=(), metavar="W",
                   help="weights not trained: any of W_x W_h W_y")
    p.add_argument("--record-every", type=int,
                   help="record the modes every this many steps (default: steps / 1000, at least 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_resource_arguments(p)


def register(subparsers) -> None:
    """Add ``simulate`` and ``validate`` to the ``lrnn`` command line."""
    p = subparsers.add_parser("simulate", help="train a linear RNN on a task by gradient descent; write its modes")
    _add_training_arguments(p)
    p.add_argument("--out", required=True, help="output file, .csv (columns t,mode,a,b,c,u,energy) or .npz")
    p.set_defaults(func=cmd_simulate)

    p = subparsers.add_parser("validate", help="train a linear RNN and compare its modes with the integrated theory")
    _add_training_arguments(p)
    p.add_argument("--tol", type=float, default=DEFAULT_TOL,
                   help=f"largest allowed absolute difference of a, b, c, u (default {DEFAULT_TOL}); exit code 1 "
                        f"above it")
    p.add_argument("--plot", help="draw theory (dashed) over simulation (solid) to this PNG")
    p.add_argument("--out", help="also write the simulated modes to this .csv or .npz")
    p.set_defaults(func=cmd_validate)


def _train(args):
    from .harness import train_lrnn

    task = Task.from_json(args.task)
    if args.steps < 1:  # the API allows 0 steps (just the initial read-out); a run to compare needs at least one
        raise bad("steps", args.steps, "be >= 1")
    record_every = args.record_every if args.record_every is not None else max(1, args.steps // 1000)
    hidden = args.hidden if args.hidden is not None else task.K
    samples = args.n_samples if args.n_samples is not None else task.T * task.K
    resources.guard(resources.train_estimate(task.K, task.T, max(hidden, 1), max(samples, 1), args.steps,
                                             args.data, records=args.steps // max(record_every, 1) + 2),
                    f"training ({args.data} data)")
    result = train_lrnn(task, hidden=args.hidden, lr=args.lr, steps=args.steps, init=args.init,
                        init_scale=args.init_scale, data=args.data, n_samples=args.n_samples, seed=args.seed,
                        loss=args.loss, freeze=tuple(args.freeze), record_every=record_every,
                        progress=False if args.no_progress else None)
    return task, result


def _summary(task, result) -> str:
    info = result.info
    outputs = ", outputs at every step" if getattr(task, "every_step", False) else ""
    return (f"trained N_h={info['hidden']} on {task.K} mode(s), T={task.T}{outputs}, {info['steps']} steps of "
            f"lr={info['lr']:g} "
            f"({info['data']} data, {info['init']} init, loss {info['loss']}): dt per step {info['dt_per_step']:.6g}, "
            f"t_final={info['t_final']:.6g}, final loss {result.losses[-1]:.6g}")


def cmd_simulate(args) -> int:
    out = check_out_path(args.out)
    task, result = _train(args)
    result.trajectory.save(out)
    print(f"{_summary(task, result)}; wrote {out}")
    return 0


def theory_for(task, simulation, freeze=(), lr_correction=None):
    """Integrate the mode ODEs from the simulation's initial read-off modes to the simulation's recorded times.

    Parameters
    ----------
    task : Task
    simulation : Trajectory
        The harness's read-off modes (its first row is the starting point, its times are the output times).
    freeze : iterable of {"W_x", "W_h", "W_y"}
        Weights the training did not update: the matching modes (a, b, c) keep their initial values, and the
        others follow the mode ODEs with them held fixed.
    lr_correction : float or DiscreteGD, optional
        Integrate the modified flow of this learning rate instead (``lrnn_theory.finite_lr``; not with ``freeze``).

    Returns
    -------
    Trajectory
    """
    from scipy.integrate import solve_ivp

    from lrnn_theory.errors import DivergenceError
    from lrnn_theory.flow import compile_flow, integrate
    from lrnn_theory.trajectory import Trajectory, mode_energy

    start = task.with_init(a=simulation.a[0], b=simulation.b[0], c=simulation.c[0])
    t = np.asarray(simulation.t, dtype=float)
    if not freeze:
        return integrate(start, float(t[-1]), t_eval=t, rtol=1e-10, atol=1e-12, lr_correction=lr_correction)
    if lr_correction is not None:
        raise bad("lr_correction", lr_correction, "be None when weights are frozen")
    # State layout [a0, b0, c0, a1, ...] (complex: real and imaginary part of each): W_x moves a, W_h b, W_y c.
    flow = compile_flow(start)
    moving = np.tile(np.repeat([name not in freeze for name in WEIGHT_NAMES], flow.block_size // 3),
                     task.K).astype(float)
    sol = solve_ivp(lambda s, y: moving * flow.rates(s, y), (0.0, float(t[-1])), flow.initial_state(), t_eval=t,
                    method="DOP853", rtol=1e-10, atol=1e-12)
    if sol.status < 0 or not np.all(np.isfinite(sol.y)):
        raise DivergenceError(f"the theory with {', '.join(freeze)} frozen could not be integrated to "
                              f"t={t[-1]:g}: {sol.message}", time=float(sol.t[-1]))
    a, b, c = flow.modes(sol.y.T)
    return Trajectory(t=sol.t, a=a, b=b, c=c, energy=mode_energy(task.singular_values, a, b, c, task.tau),
                      info={"source": "theory", "frozen": list(freeze), "method": "DOP853"})


def max_differences(simulation, theory) -> dict:
    """Largest |simulation - theory| of a, b, c, u over all recorded times and modes."""
    return {q: float(np.max(np.abs(getattr(simulation, q) - getattr(theory, q)))) for q in QUANTITIES}


def corrected_flow_line(task, result, plain_diffs, freeze=()) -> str:
    """The plain flow's and the lr-corrected flow's largest differences to the simulation, side by side."""
    from lrnn_theory.finite_lr import DiscreteGD

    if freeze:
        return "lr-corrected flow: not available with frozen weights"
    if task.is_complex:
        return "lr-corrected flow: not available for complex tasks (its correction is not derived yet)"
    info = result.info
    descent = DiscreteGD(info["lr"], info["loss"], info["n_samples"])
    corrected = theory_for(task, result.trajectory, lr_correction=descent)
    diffs = max_differences(result.trajectory, corrected)
    rows = ", ".join(f"{q}={plain_diffs[q]:.3g}|{diffs[q]:.3g}" for q in QUANTITIES)
    return (f"plain flow | lr-corrected flow (E + (h/4)||grad E||^2, h={info['dt_per_step']:.4g}): {rows}; "
            f"largest {max(plain_diffs.values()):.3g} | {max(diffs.values()):.3g}")


def cmd_validate(args) -> int:
    from lrnn_theory.plotting import plot_trajectories

    out = check_out_path(args.out) if args.out else None
    plot = check_out_path(args.plot, (".png", ".pdf", ".svg"), "plot") if args.plot else None
    if not (args.tol > 0 and np.isfinite(args.tol)):
        raise LrnnInputError(f"parameter 'tol' must be a finite number > 0, got {args.tol}")
    task, result = _train(args)
    simulation = result.trajectory
    theory = theory_for(task, simulation, tuple(args.freeze))
    diffs = max_differences(simulation, theory)
    print(_summary(task, result))
    print("largest |simulation - theory|: " + ", ".join(f"{q}={d:.3g}" for q, d in diffs.items())
          + f" (tolerance {args.tol:g})")
    print(corrected_flow_line(task, result, diffs, tuple(args.freeze)))
    if result.info["init"] != "aligned":
        print("note: the network did not start aligned with the task's singular vectors (Assumption 3); the theory "
              "starts from its read-off modes, and differences during the alignment phase are expected")
    written = write_outputs(out, simulation, plot, lambda: plot_trajectories(
        {"simulation": simulation, "theory": theory},
        title=f"{task.name}: simulation (solid) vs theory (dashed), lr={args.lr:g}"))
    if written:
        print(f"wrote {written}")
    worst = max(diffs, key=diffs.get)
    if diffs[worst] > args.tol:
        print(f"FAILED: {worst} differs by {diffs[worst]:.3g} > tolerance {args.tol:g}")
        return EXIT_TOLERANCE
    print("OK: within tolerance")
    return 0

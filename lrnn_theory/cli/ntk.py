"""``lrnn ntk TASK.json --lr ETA --steps S --out ntk.csv``: train a linear RNN and write the distance of its NTK from
the initial kernel over training; for an aligned start, the modes' prediction beside it.

The theory (sympy, scipy) is imported inside ``run``: ``lrnn ntk --help`` and usage errors stay free of them.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.errors import bad
from lrnn_theory.io import atomic_write, check_out_path
from lrnn_theory.ntk import kernel_distance, predicted_distance_curve
from lrnn_theory.tasks import Task
from lrnn_theory.validation.harness import DATA, INITS, LOSSES, train_lrnn


def add_arguments(parser):
    parser.add_argument("task", metavar="TASK.json", help="task file (see the README for the JSON schema)")
    parser.add_argument("--hidden", type=int, help="hidden width N_h >= K (default: K)")
    parser.add_argument("--init", choices=INITS, default="aligned", help="aligned (default) or small random init")
    parser.add_argument("--init-scale", type=float,
                        help="aligned: every mode a = b = c set to this value; random: sigma of N(0, sigma^2 / "
                             "fan_in) (default: the task's init, or 0.1 for random)")
    parser.add_argument("--lr", type=float, required=True, help="learning rate of gradient descent")
    parser.add_argument("--steps", type=int, required=True, help="number of gradient steps")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the singular vectors, samples and init (default 0)")
    parser.add_argument("--data", choices=DATA[:2], default="population",
                        help="population (kernel over the T*K whitened one-hot probes; default) or whitened samples")
    parser.add_argument("--n-samples", type=int, help="number of samples P >= T * K (samples data)")
    parser.add_argument("--loss", choices=LOSSES, default="sum_half", help="loss convention (default sum_half)")
    parser.add_argument("--outputs", choices=("final", "every_step"), default="final",
                        help="the NTK of the final output (default) or of the outputs at every step")
    parser.add_argument("--record-every", type=int,
                        help="take the NTK every this many steps (default: steps / 200)")
    parser.add_argument("--out", required=True, help="output CSV, columns step,t,distance")


def run(args) -> int:
    from lrnn_theory.flow import integrate

    out = check_out_path(args.out, (".csv",))
    task = Task.from_json(args.task)
    if args.steps < 1:
        raise bad("steps", args.steps, "be >= 1")
    record_every = args.record_every if args.record_every is not None else max(1, args.steps // 200)
    result = train_lrnn(task, hidden=args.hidden, lr=args.lr, steps=args.steps, init=args.init,
                        init_scale=args.init_scale, data=args.data, n_samples=args.n_samples, seed=args.seed,
                        loss=args.loss, record_every=record_every, ntk_steps="records", ntk_outputs=args.outputs)
    ntk = result.ntk
    distance = kernel_distance(ntk["kernels"][0], ntk["kernels"])
    lines = ["step,t,distance"] + [f"{s},{t!r},{d!r}" for s, t, d in zip(ntk["steps"].tolist(), ntk["t"].tolist(),
                                                                        distance.tolist())]
    with atomic_write(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    info = result.info
    print(f"trained N_h={info['hidden']} ({info['init']} init) on {task.K} mode(s), T={task.T}, {args.steps} steps "
          f"of lr={args.lr:g} (t_final={info['t_final']:.6g}, final loss {result.losses[-1]:.6g}); NTK over "
          f"{ntk['inputs'].shape[0]} input sequences ({args.outputs} output)")
    line = f"final kernel distance {distance[-1]:.6g}"
    if info["init"] == "aligned":  # the modes' theory is that of an aligned network
        tr = result.trajectory
        theory = integrate(task.with_init(a=tr.a[0], b=tr.b[0], c=tr.c[0]), float(ntk["t"][-1]), t_eval=ntk["t"],
                           rtol=1e-10, atol=1e-12)
        predicted = predicted_distance_curve(theory, ntk["inputs"], result.basis["V"], info["block_sizes"],
                                             outputs=args.outputs)
        line += (f"; mode theory (integrated modes, no training) predicts {predicted[-1]:.6g}, largest difference "
                 f"over training {np.max(np.abs(predicted - distance)):.3g}")
    print(f"{line}; wrote {out}")
    return 0

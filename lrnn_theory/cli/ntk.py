"""``lrnn ntk TASK.json --lr ETA --steps S --out ntk.csv``: train a linear RNN and write the distance of its NTK from
the initial kernel over training; for an aligned start, the modes' prediction beside it.

``--data DATA.npz`` trains on user data instead (``cli.training``): the kernel is taken over the first
``DATA_NTK_SEQUENCES`` sequences of the data, the modes' prediction integrates the task fitted from the same data
(in the scale of the loss, ``mean`` by default) on its clock, and the time mapping and the verdict of the fit are
printed. ``--plot`` draws the predicted distance (dashed) over the network's (solid).

The theory (sympy, scipy) is imported inside ``run``: ``lrnn ntk --help`` and usage errors stay free of them.
"""
from __future__ import annotations

import numpy as np

from lrnn_theory.io import check_out_path, render_figure, write_files_whole
from lrnn_theory.ntk import kernel_distance, predicted_distance_curve
from lrnn_theory.validation.harness import INITS

from .outputs import check_finite_results
from .training import (add_data_argument, add_loss_argument, add_task_argument, data_file, load_data,
                       train_from_args)

#: Sequences of user data the kernel is taken over (the kernel has (sequences x N_y)^2 entries per record).
DATA_NTK_SEQUENCES = 32


def add_arguments(parser):
    add_task_argument(parser)
    parser.add_argument("--hidden", type=int, help="hidden width N_h >= K (default: K)")
    parser.add_argument("--init", choices=INITS, default="aligned", help="aligned (default) or small random init")
    parser.add_argument("--init-scale", type=float,
                        help="aligned: every mode a = b = c set to this value; random: sigma of N(0, sigma^2 / "
                             "fan_in) (default: the task's init, or 0.1 for random)")
    parser.add_argument("--lr", type=float, required=True, help="learning rate of gradient descent")
    parser.add_argument("--steps", type=int, required=True, help="number of gradient steps")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the singular vectors, samples and init (default 0)")
    add_data_argument(parser, "population (kernel over the T*K whitened one-hot probes; default) or whitened "
                              "samples")
    parser.add_argument("--n-samples", type=int, help="number of samples P >= T * K (samples data)")
    add_loss_argument(parser)
    parser.add_argument("--outputs", choices=("final", "every_step"), default="final",
                        help="the NTK of the final output (default) or of the outputs at every step")
    parser.add_argument("--record-every", type=int,
                        help="take the NTK every this many steps (default: steps / 200)")
    parser.add_argument("--out", required=True, help="output CSV, columns step,t,distance")
    parser.add_argument("--plot", help="also draw the predicted distance (dashed) over the network's (solid)")


def distance_figure(t, distance, predicted, title):
    from lrnn_theory.plotting import _pyplot, plain_text, tight_layout

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot(t, distance, "-", lw=2.2, alpha=0.55, label="network")
    if predicted is not None:
        ax.plot(t, predicted, "--", lw=1.6, label="theory (modes)")
    ax.set_xlabel("time t (tau da/dt = -tau dE/da)")
    ax.set_ylabel("kernel distance from the initial NTK")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(plain_text(title), fontsize=9)
    tight_layout(fig)  # the same layout, each axis's ticks measured once
    return fig


def run(args) -> int:
    from lrnn_theory.flow import integrate

    out = check_out_path(args.out, (".csv",))
    plot = check_out_path(args.plot, (".png", ".pdf", ".svg"), "plot") if args.plot else None
    args.record_every = args.record_every if args.record_every is not None else max(1, args.steps // 200)
    path = data_file(args)
    arrays = load_data(path) if path is not None else None
    recording = {"ntk_steps": "records", "ntk_outputs": args.outputs}
    if arrays is not None:
        recording["ntk_inputs"] = arrays[0][:DATA_NTK_SEQUENCES]
    trained = train_from_args(args, arrays=arrays, **recording)
    task, result, ntk = trained.task, trained.result, trained.result.ntk
    distance = kernel_distance(ntk["kernels"][0], ntk["kernels"])
    t = ntk["t"] * trained.time_factor
    info = result.info
    source = f"data {path}, P={info['n_samples']}" if path else f"{info['data']} data"
    print(f"trained N_h={info['hidden']} ({info['init']} init) on {task.K} mode(s), T={task.T}, {args.steps} steps "
          f"of lr={args.lr:g} ({source}, loss {trained.loss}; t_final={float(t[-1]):.6g}, final loss "
          f"{result.losses[-1]:.6g}); NTK over {ntk['inputs'].shape[0]} input sequences ({args.outputs} output)")
    for line in trained.data_lines():
        print(line)
    line = f"final kernel distance {distance[-1]:.6g}"
    predicted = None
    if info["init"] == "aligned":  # the modes' theory is that of an aligned network
        tr = trained.trajectory
        theory = integrate(task.with_init(a=tr.a[0], b=tr.b[0], c=tr.c[0]), float(t[-1]), t_eval=t,
                           rtol=1e-10, atol=1e-12)
        predicted = predicted_distance_curve(theory, ntk["inputs"], result.basis["V"], info["block_sizes"],
                                             outputs=args.outputs, U=result.basis["U"] if path else None)
        line += (f"; mode theory (integrated modes, no training) predicts {predicted[-1]:.6g}, largest difference "
                 f"over training {np.max(np.abs(predicted - distance)):.3g}")
    check_finite_results({"t": t, "distance": distance, "predicted": predicted}, "the kernel distances")
    lines = ["step,t,distance"] + [f"{s},{x!r},{d!r}" for s, x, d in zip(ntk["steps"].tolist(), t.tolist(),
                                                                        distance.tolist())]
    files = [(out, ("\n".join(lines) + "\n").encode(), "out")]
    if plot is not None:
        import matplotlib.pyplot as plt  # only when a figure is drawn

        fig = distance_figure(t, distance, predicted, f"NTK distance: network (solid) vs theory (dashed), "
                                                      f"lr={args.lr:g}, loss {trained.loss}")
        files.append((plot, render_figure(fig, plot.suffix.lstrip(".").lower()), "plot"))
        plt.close(fig)
    write_files_whole(files)
    print(f"{line}; wrote {' and '.join(str(f[0]) for f in files)}")
    return 0

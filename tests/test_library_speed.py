"""The faster library paths of issue 25 give what the slower ones gave: PNGs byte for byte, population losses and
gradients of the explicit sums, singular values of an SVD."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lrnn_theory import Task, integrate  # noqa: E402
from lrnn_theory.io import render_figure  # noqa: E402
from lrnn_theory.plotting import plot_trajectories  # noqa: E402
from lrnn_theory.validation import LRNN, train_lrnn  # noqa: E402
from lrnn_theory.validation.figures import FIGURES, load_figure  # noqa: E402
from lrnn_theory.validation.network import EveryStepPopulationLoss, PopulationLoss, population_loss  # noqa: E402

TASK = Task.from_family("inverse_exponential", T=4, delta=[1.0, 0.6], lam=[0.5, 0.8],
                        init={"a": 0.2, "b": 0.3, "c": 0.2})


def _tight_png(fig) -> bytes:
    """matplotlib's own cropped PNG (two layout passes): the reference render_figure must equal."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return buf.getvalue()


def _figures():
    trajectory = integrate(TASK, 5.0, n_points=30)
    yield "plot_trajectories", plot_trajectories({"theory": trajectory, "simulation": trajectory}, title="$x$ run")
    fig, ax = plt.subplots(figsize=(5, 3))  # no tight_layout: legend and labels hang outside the axes
    ax.plot([0, 1], [1, 0], label="a line")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylabel("a long label that sticks out")
    yield "no layout", fig
    fig = plt.figure(figsize=(4, 3), layout="constrained")  # a live layout engine: the two-pass path
    fig.add_subplot().set_title("constrained")
    yield "constrained", fig


@pytest.mark.parametrize("case", ["plot_trajectories", "no layout", "constrained"])
def test_render_figure_is_the_tight_savefig_png_byte_for_byte(case):
    fig = dict(_figures())[case]
    engine, dpi = fig.get_layout_engine(), fig.dpi
    try:
        png = render_figure(fig)
        assert fig.get_layout_engine() is engine and fig.dpi == dpi  # the figure is left as it was
        assert png == _tight_png(fig)
    finally:
        plt.close("all")


def test_render_figure_other_formats_are_still_cropped():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    try:
        svg = render_figure(fig, "svg").decode()
        width = float(svg.split('width="', 1)[1].split("pt", 1)[0])
        assert svg.lstrip().startswith("<?xml") and width < 4 * 72  # cropped: narrower than the 4-inch figure
    finally:
        plt.close(fig)


def _explicit_loss(net, C):
    """1/2 sum over (output time, input step) of ||C - W_y W_h^lag W_x||^2 (zero map for inputs after the output)."""
    W_x, W_h, W_y = net.weights
    if C.ndim == 3:
        T = C.shape[0]
        return 0.5 * sum(np.sum((C[i] - W_y @ np.linalg.matrix_power(W_h, T - 1 - i) @ W_x) ** 2) for i in range(T))
    T = C.shape[0]
    total = 0.0
    for t in range(T):
        for i in range(T):
            model = W_y @ np.linalg.matrix_power(W_h, t - i) @ W_x if i <= t else 0.0
            total += 0.5 * np.sum((C[t, i] - model) ** 2)
    return total


def _finite_difference_gradient(net, C, eps=1e-6):
    grads = []
    for j, W in enumerate(net.weights):
        g = np.zeros_like(W)
        for idx in np.ndindex(W.shape):
            ws = [w.copy() for w in net.weights]
            ws[j][idx] += eps
            up = _explicit_loss(LRNN(*ws), C)
            ws[j][idx] -= 2 * eps
            g[idx] = (up - _explicit_loss(LRNN(*ws), C)) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize("every_step", [False, True])
def test_one_population_loss_serves_many_networks(every_step):
    """The object computes what depends on C once; on every network it gets the explicit loss and its gradient."""
    rng = np.random.default_rng(3)
    T, N_x, N_h, N_y = 4, 2, 3, 2
    C = rng.normal(size=(T, T, N_y, N_x) if every_step else (T, N_y, N_x))
    loss_of = population_loss(C)
    assert type(loss_of) is (EveryStepPopulationLoss if every_step else PopulationLoss)
    for _ in range(2):  # the same object on two networks: nothing of the first call leaks into the second
        net = LRNN(0.5 * rng.normal(size=(N_h, N_x)), 0.4 * rng.normal(size=(N_h, N_h)),
                   0.5 * rng.normal(size=(N_y, N_h)))
        loss, grads = loss_of(net)
        assert loss == pytest.approx(_explicit_loss(net, C), rel=1e-12)
        for g, reference in zip(grads, _finite_difference_gradient(net, C)):
            np.testing.assert_allclose(g, reference, rtol=1e-6, atol=1e-8)
        assert net.loss_and_grad_correlations(C)[0] == loss


@pytest.mark.parametrize("task, hidden", [
    (TASK, 4),  # W_h has N_h - K = 2 zero singular values
    (Task.from_family("inverse_exponential", T=4, delta=[1.0, 0.6], lam=[0.5, 0.8], delta_phase=[0.4, 0.0],
                      init={"a": 0.2, "b": 0.3, "c": 0.2}), 5),  # a complex mode: |a| twice, one real unit, 2 zeros
])
def test_aligned_singular_values_are_those_of_the_trained_weights(task, hidden):
    result = train_lrnn(task, lr=0.05, steps=60, hidden=hidden, record_every=20)
    assert result.info["singular_value_readout"] == "aligned read-out"
    for name, W in zip(("W_x", "W_h", "W_y"), result.network.weights):
        np.testing.assert_allclose(result.singular_values[name][-1], np.linalg.svd(W, compute_uv=False),
                                   atol=1e-12)


def test_load_figure_finds_a_figure_and_loads_every_module_for_an_unknown_one():
    registry = load_figure("figA1")
    assert "figA1" in registry and callable(FIGURES["figA1"])
    assert set(load_figure("no such figure")) >= {"fig2", "figA1", "fig5", "figM"}  # unknown: every module loaded

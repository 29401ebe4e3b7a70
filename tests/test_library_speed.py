"""The faster library paths of issue 25 give what the slower ones gave: matplotlib's own PNGs, population losses and
gradients of the explicit sums, singular values of an SVD."""
import contextlib
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib._mathtext  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from PIL import Image  # noqa: E402

from lrnn_theory import Task, integrate  # noqa: E402
from lrnn_theory import io as lrnn_io  # noqa: E402
from lrnn_theory.io import PNG_COMPRESS_LEVEL, render_figure  # noqa: E402
from lrnn_theory.plotting import plot_trajectories, tight_layout  # noqa: E402
from lrnn_theory.validation import LRNN, train_lrnn  # noqa: E402
from lrnn_theory.validation.figures import FIGURES, load_figure  # noqa: E402
from lrnn_theory.validation.network import EveryStepPopulationLoss, PopulationLoss, population_loss  # noqa: E402

TASK = Task.from_family("inverse_exponential", T=4, delta=[1.0, 0.6], lam=[0.5, 0.8],
                        init={"a": 0.2, "b": 0.3, "c": 0.2})


def _png(fig, **crop) -> bytes:
    """matplotlib's own PNG at 120 dpi: the whole canvas, or cropped (``bbox_inches="tight"``: two layout passes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, **crop)
    return buf.getvalue()


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def _tight_png(fig) -> bytes:
    """matplotlib's tight crop at 120 dpi, for its pixels: zlib level 1 (the level changes the bytes, not the
    pixels; 6 costs more)."""
    return _png(fig, bbox_inches="tight", pil_kwargs={"compress_level": 1})


def _canvas_pixels(fig) -> np.ndarray:
    """matplotlib's drawing of the whole canvas of a figure made at 120 dpi: the pixels ``_png(fig)`` holds, without
    its PNG encoding and decoding."""
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba())  # a copy: a later drawing reuses the buffer


def _plot_trajectories():
    trajectory = integrate(TASK, 5.0, n_points=30)
    return plot_trajectories({"theory": trajectory, "simulation": trajectory}, title="$x$ run")


def _no_layout():
    fig, ax = plt.subplots(figsize=(5, 3))  # no tight_layout: legend and labels hang outside the axes and the figure
    ax.plot([0, 1], [1, 0], label="a line")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_ylabel("a long label that sticks out")
    return fig


def _constrained():
    fig = plt.figure(figsize=(4, 3), layout="constrained")  # a live layout engine: matplotlib's two-pass path
    fig.add_subplot().set_title("constrained")
    return fig


def _window_in(full: np.ndarray, part: np.ndarray) -> tuple:
    """Every (row, column) at which ``part`` is ``full``'s pixels exactly."""
    (h, w), busiest = part.shape[:2], int(np.argmax(np.sum(np.any(part != part[0, 0], axis=2), axis=1)))
    return [(r, c) for r in range(full.shape[0] - h + 1) for c in range(full.shape[1] - w + 1)
            if np.array_equal(full[r + busiest, c:c + w], part[busiest])  # the most drawn row first: cheap
            and np.array_equal(full[r:r + h, c:c + w], part)]


#: Pixels of white drawn around a canvas by ``_assert_cut_from``: more than savefig.pad_inches (0.1 inch) at 120 dpi.
AROUND = 13


def _assert_cut_from(image: np.ndarray, full: np.ndarray, tight: np.ndarray) -> tuple:
    """``image`` is ``full`` (matplotlib's drawing of the whole white canvas) cut to a window that holds every drawn
    pixel, white where the window passes the canvas's edge, and at most 2 pixels taller and wider than matplotlib's
    tight crop ``tight``. Returns the window's corner in ``full`` widened by ``AROUND`` white pixels."""
    around = np.pad(full, ((AROUND, AROUND), (AROUND, AROUND), (0, 0)), constant_values=255)
    (row, col), = _window_in(around, image)
    drawn = np.argwhere(np.any(around != 255, axis=2))  # every pixel that is not the background
    assert drawn.size and (drawn.min(axis=0) >= (row, col)).all()
    assert (drawn.max(axis=0) < (row + image.shape[0], col + image.shape[1])).all()
    assert 0 <= image.shape[0] - tight.shape[0] <= 2 and 0 <= image.shape[1] - tight.shape[1] <= 2
    return row, col


def test_render_figure_cuts_whole_pixels_of_the_drawing_around_all_of_the_content():
    """Content inside the canvas: the PNG is matplotlib's own drawing of the whole figure, cut to a window that holds
    everything drawn (no label clipped) and is at most a pixel wider on each side than matplotlib's tight crop."""
    fig = _plot_trajectories()
    engine, dpi = fig.get_layout_engine(), fig.dpi
    try:
        png = render_figure(fig)
        assert fig.get_layout_engine() is engine and fig.dpi == dpi == 120  # the figure is left as it was
        tight = _tight_png(fig)
        assert Image.open(io.BytesIO(png)).info["dpi"] == Image.open(io.BytesIO(tight)).info["dpi"]  # 120
        image, full = _pixels(png), _canvas_pixels(fig)
        row, col = _assert_cut_from(image, full, _pixels(tight))
        assert AROUND <= row and row + image.shape[0] <= AROUND + full.shape[0]  # the window lies in the canvas
        assert AROUND <= col and col + image.shape[1] <= AROUND + full.shape[1]
    finally:
        plt.close("all")


@pytest.mark.parametrize("make", [_no_layout, _constrained], ids=["no layout", "constrained"])
def test_render_figure_beyond_the_canvas_is_the_tight_savefig_png_byte_for_byte(make):
    fig = make()
    engine, dpi = fig.get_layout_engine(), fig.dpi
    try:
        png = render_figure(fig)
        assert fig.get_layout_engine() is engine and fig.dpi == dpi
        assert png == _png(fig, bbox_inches="tight", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    finally:
        plt.close("all")


def _secondary_axis_then_log_scale():
    fig, ax = plt.subplots(dpi=120)
    ax.plot([0.1, 1, 10], [1, 2, 3])
    ax.secondary_xaxis("top", functions=(lambda s: 2 * s, lambda t: t / 2))
    ax.set_xscale("log")  # the secondary axis takes the log scale only when it is drawn
    return fig


def _math_title():
    fig, ax = plt.subplots(dpi=120)
    ax.set_title(r"$\mathrm{a}\,x^{2} + \beta$")
    return fig


def test_a_figure_with_a_border_is_the_tight_savefig_png_byte_for_byte():
    """savefig draws a figure's border around the cropped box; continuing the canvas's edge pixels would smear it
    into a band, so such a figure takes savefig."""
    fig, ax = plt.subplots(figsize=(4, 3), facecolor="0.9", edgecolor="red", linewidth=3)
    ax.plot([0, 1], [0, 1])
    fig.suptitle("a title near the top", y=0.995)
    fig.tight_layout()
    try:
        assert render_figure(fig) == _png(fig, bbox_inches="tight", pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
    finally:
        plt.close(fig)


@pytest.mark.parametrize("make, settings", [(_secondary_axis_then_log_scale, {}),
                                            (_math_title, {"mathtext.default": "regular"})])
def test_what_render_figure_keeps_between_measurements_never_changes_the_drawing(make, settings, monkeypatch):
    """The ticks kept per state of an axis (a secondary axis whose scale changes at draw time) and the math-text
    parser kept across figures (under other mathtext settings) draw what matplotlib draws without them, byte for
    byte."""
    try:
        render_figure(_math_title())  # a parse under the default settings, kept
        with matplotlib.rc_context(settings):
            kept = render_figure(make())
            monkeypatch.setattr(lrnn_io, "measuring_once", lambda fig: contextlib.nullcontext())
            monkeypatch.setattr(lrnn_io, "_MATH_PARSERS", {})
            assert kept == render_figure(make())
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


def _log_and_secondary_axes():
    """Two panels sharing y: a log axis of math tick labels ($10^{-4}$), a secondary axis made before its parent's
    limits grew (it sets its own when measured or drawn), a legend and a title."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(6, 3), sharey=True, dpi=120)
    left.semilogy([1, 2, 3], [1e-6, 1e-2, 1.0], label="a line")
    left.secondary_xaxis("top", functions=(lambda s: 2 * s, lambda t: t / 2)).set_xlabel("time t = 2 s")
    left.plot([0, 8], [1e-3, 1e-1], label="limits grow")
    left.legend(fontsize=7)
    right.plot([0, 1], [1e-4, 1e-1])
    fig.suptitle("measured once")
    return fig


def test_layout_and_rendering_compute_each_axis_ticks_once_and_parse_math_text_once(monkeypatch):
    """lrnn's tight_layout and render_figure give matplotlib's layout and its drawing's pixels, while computing
    an axis's ticks once per state of the axis (matplotlib: again for every box it measures) and parsing a math tick
    label once per process (matplotlib: once per figure)."""
    computed, parsed = [], []
    compute_ticks, parse = Axis._update_ticks, matplotlib._mathtext.Parser.parse
    monkeypatch.setattr(Axis, "_update_ticks", lambda axis: computed.append(axis) or compute_ticks(axis))
    monkeypatch.setattr(matplotlib._mathtext.Parser, "parse", lambda *args: parsed.append(args[1]) or parse(*args))
    try:
        theirs, ours = _log_and_secondary_axes(), _log_and_secondary_axes()
        theirs.tight_layout()
        computed_by_matplotlib = len(computed)
        computed.clear()
        tight_layout(ours)
        assert [ax.get_position().bounds for ax in ours.axes] == [ax.get_position().bounds for ax in theirs.axes]
        assert 0 < len(set(computed)) == len(computed) < computed_by_matplotlib  # each axis once: nothing moves
        computed.clear()
        image = _pixels(render_figure(ours))
        assert 0 < len(set(computed)) == len(computed)  # the box and the drawing share the ticks
        theirs.canvas.draw()
        full = np.array(theirs.canvas.buffer_rgba())  # a copy: savefig below draws on the same buffer
        row, _ = _assert_cut_from(image, full, _pixels(_png(theirs, bbox_inches="tight")))
        assert row < AROUND  # the title's padding passes the canvas's top edge: white continues it
        assert any("10^{-4}" in text for text in parsed)
        parsed.clear()
        again = _log_and_secondary_axes()
        tight_layout(again)
        assert _pixels(render_figure(again)).shape == image.shape and parsed == []  # another figure, no new parse
    finally:
        plt.close("all")


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

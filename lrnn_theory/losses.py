"""Loss conventions of gradient descent on a linear RNN, and the theory time one step of each advances.

Gradient descent ``W <- W - lr * grad(loss)`` is the Euler discretisation of ``tau dW/dt = -grad(L)`` with
``L = 1/2 sum_p ||y_p - y_hat_p||^2`` (the theory's loss, inputs whitened as a sum). A loss convention that is
``loss = scale * L`` therefore advances theory time by ``dt = lr * tau * scale`` per step (``time_per_step``):

=============  ==========================================  ===================
``loss``       definition                                  ``scale``
=============  ==========================================  ===================
``sum_half``   ``1/2 sum_p ||r_p||^2`` (the theory's)      ``1``
``sum``        ``sum_p ||r_p||^2``                          ``2``
``mean_half``  ``1/(P N_y) sum_p 1/2 ||r_p||^2``           ``1 / (P N_y)``
``mean``       ``1/(P N_y) sum_p ||r_p||^2`` (plain MSE)   ``2 / (P N_y)``
=============  ==========================================  ===================

``mean_half`` gives the paper's ``tau = P N_y / eta`` (S1 App. P.2), ``mean`` gives ``tau = P N_y / (2 eta)``
(``tau_per_step``: the tau for which one step is one unit of theory time). With every-step outputs (App. M) the
mean conventions average over all ``P T N_y`` output entries.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .errors import bad

LOSSES = ("sum_half", "sum", "mean_half", "mean")


def check_loss(loss) -> str:
    """``loss`` if it is one of ``LOSSES``, else LrnnInputError naming parameter 'loss'."""
    if loss not in LOSSES:
        raise bad("loss", loss, f"be one of {', '.join(LOSSES)}")
    return loss


def loss_scale(loss: str, P: int, N_y: int, outputs_per_sample: int = 1) -> float:
    """Factor between a loss convention and the theory's ``1/2 sum_p ||r_p||^2`` (module docstring).

    Parameters
    ----------
    loss : {"sum_half", "sum", "mean_half", "mean"}
    P, N_y : int
        Number of samples and output dimensions.
    outputs_per_sample : int
        Outputs per sequence: 1 (final output) or T (every-step outputs, whose mean conventions average over all
        P T N_y output entries, as a plain MSE over every output would).

    Returns
    -------
    float
        ``loss = scale * L``; the theory time per step is ``lr * tau * scale``.

    Examples
    --------
    >>> loss_scale("mean_half", P=8, N_y=2)
    0.0625
    """
    n = P * N_y * outputs_per_sample
    return {"sum_half": 1.0, "sum": 2.0, "mean_half": 1.0 / n, "mean": 2.0 / n}[check_loss(loss)]


def output_loss(loss: str) -> Callable:
    """``residual -> (loss, dloss/dy_hat)`` of a convention, written out from its definition.

    Parameters
    ----------
    loss : {"sum_half", "sum", "mean_half", "mean"}

    Returns
    -------
    callable
        For residuals ``r = y_hat - y`` of any shape (the mean conventions average over all its entries).

    Examples
    --------
    >>> value, grad = output_loss("mean")(np.array([[1.0, -1.0]]))
    >>> value, grad.tolist()
    (1.0, [[1.0, -1.0]])
    """
    loss = check_loss(loss)
    if loss == "sum_half":
        return lambda r: (0.5 * float(np.sum(r * r)), r)
    if loss == "sum":
        return lambda r: (float(np.sum(r * r)), 2.0 * r)
    if loss == "mean_half":
        return lambda r: (0.5 * float(np.mean(r * r)), r / r.size)
    return lambda r: (float(np.mean(r * r)), 2.0 * r / r.size)


def time_per_step(lr: float, tau: float, scale: float) -> float:
    """Theory time ``dt = lr * tau * scale`` that one gradient step on ``loss = scale * L`` advances."""
    return lr * tau * scale


def tau_per_step(lr: float, loss: str, P: int, N_y: int, outputs_per_sample: int = 1) -> float:
    """The tau at which one gradient step of rate ``lr`` is one unit of theory time: ``1 / (lr * scale)``.

    Examples
    --------
    >>> tau_per_step(0.1, "mean_half", P=8, N_y=2)   # the paper's tau = P N_y / eta
    160.0
    """
    return 1.0 / (lr * loss_scale(loss, P, N_y, outputs_per_sample))

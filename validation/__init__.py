"""Validation harness: train real linear RNNs in numpy and hold the theory against them.

``train_lrnn`` / ``simulate`` train an ``LRNN`` by full-batch gradient descent (exact BPTT gradients) on a task's
population correlations, on exactly whitened samples, or on user data, and return the read-off modes a, b, c on
the theory's time axis (see ``lrnn_theory.validation.harness`` for the stages (set-up, loop, recorders), the time
mapping, the initialisation scale and the read-out, and ``lrnn_theory.losses`` for the loss conventions).
"""
from .harness import (AlignedInit, NTKRecording, PopulationData, RandomInit, Recording, SampleData, Stopping,
                      TrainingResult, TrainingSetup, UserData, gradient_descent, read_modes, rotational_setup, set_up,
                      simulate, train_lrnn)
from .network import LRNN

__all__ = ["AlignedInit", "LRNN", "NTKRecording", "PopulationData", "RandomInit", "Recording", "SampleData",
           "Stopping", "TrainingResult", "TrainingSetup", "UserData", "gradient_descent", "read_modes",
           "rotational_setup", "set_up", "simulate", "train_lrnn"]

"""The commands of ``lrnn``: name -> the module that implements it, and its one-line help.

A command is a module of ``lrnn_theory.cli`` with ``add_arguments(parser)`` and ``run(args) -> exit code``. The
registry holds only names and help texts (standard library only): ``lrnn --help`` lists every command without
importing any command module, and a command's module is imported only when that command is parsed or run.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One ``lrnn`` command: its module (in ``lrnn_theory.cli``) and the help line of ``lrnn --help``."""

    module: str
    help: str

    def load(self):
        """The command's module (imported on first use)."""
        return importlib.import_module(f"{__package__}.{self.module}")


#: Command name -> Command, in the order of ``lrnn --help``.
COMMANDS = {
    "demo": Command("demo", "print the derived equations of a default task, integrate them, write a PNG"),
    "derive": Command("derive", "print closed-form energy, ODEs, Jacobian, conserved quantity, solutions"),
    "integrate": Command("integrate", "integrate the mode ODEs of a task file"),
    "sweep": Command("sweep", "end points of the mode flow of several task files, or of one with a field varied "
                              "(CSV, and a PNG)"),
    "reproduce": Command("reproduce", "reproduce a figure of the paper (PNG + JSON of its key numbers)"),
    "simulate": Command("simulate", "train a linear RNN on a task by gradient descent; write its modes"),
    "validate": Command("validate", "train a linear RNN and compare its modes with the integrated theory"),
    "fit-task": Command("fit_task", "estimate a task (cross- and input covariances per mode) from sequences and "
                                    "targets in an NPZ; say whether the theory applies"),
    "ntk": Command("ntk", "train a linear RNN and write the distance of its NTK from the initial kernel over "
                          "training"),
    "claims": Command("claims", "check the paper's claims one by one: paper's value, ours, pass/fail"),
}

"""lrnn-theory: closed-form learning dynamics of linear recurrent neural networks.

Derive (``lrnn_theory.derivations``), integrate (``lrnn_theory.integrate``) and validate against trained networks
(``lrnn_theory.validation``) the gradient-flow ODEs of the connectivity modes a (input), b (recurrent) and c
(output) of Proca, Dominé, Shanahan & Mediano, *Learning dynamics in linear recurrent neural networks* (ICML 2025).

The public names are importable from here (``from lrnn_theory import Task, integrate, solve_task, train_lrnn``):

- tasks and the flow: ``Task``, ``InitialModes``, ``estimate_task``, ``integrate``, ``compile_flow``,
  ``CompiledFlow``, ``Trajectory``, ``mode_energy``, ``solve_blocks``, ``sweep`` (with ``TaskGrid``,
  ``IntegrationOptions``, ``ExecutionOptions``, ``vary_task``), ``derive_mode_flow`` (symbolic);
- results: ``solve_task``, ``zero_loss_solution``, ``flow_endpoints``, ``predict_learning_order``,
  ``time_to_fraction``, ``family_extrapolation``, ``energy_split``, ``critical_beta``, ``phase_curve``,
  ``compile_io_solution``, ``frozen_b_solution``, ``DiscreteGD``, ``compile_modified_flow``, ``stable_lr_bound``,
  ``empirical_ntk``, ``mode_ntk``, ``kernel_distance``, ``predicted_distance_curve``,
  ``whitened_probe_inputs``, ``kernel_inputs``, ``polar_time_scales``, ``sensory_trials``, ``sensory_targets``,
  ``expected_extrapolation_loss``;
- trained networks and the paper's checks: ``train_lrnn`` and its stages (``set_up``, ``TrainingSetup``,
  ``PopulationData``, ``SampleData``, ``UserData``, ``AlignedInit``, ``RandomInit``, ``Recording``,
  ``NTKRecording``), ``TrainingResult``, ``simulate``, ``LRNN``, ``check_claim``, ``reproduce_all``, ``fit_figA3``;
- errors: ``LrnnError``, ``LrnnInputError``, ``DivergenceError``, ``IntegrationError``.
"""
import importlib

__version__ = "0.5.4"

# Every name loads on first use (module __getattr__): ``import lrnn_theory`` imports nothing else, importing a
# derivation module compiles nothing, and the ``lrnn`` command answers --help without numpy's dependants. Names of
# the validation layer (train_lrnn, ...) are served here too: an attribute lookup at use, not an import of the
# numeric core, which never imports validation (tests/test_layers.py).
_LAZY = {
    # tasks and the flow
    "Task": "tasks", "InitialModes": "tasks", "estimate_task": "task_estimation",
    "integrate": "flow", "compile_flow": "flow", "CompiledFlow": "flow",
    "Trajectory": "trajectory", "mode_energy": "trajectory", "solve_blocks": "solvers", "sweep": "sweeps",
    "TaskGrid": "sweeps", "IntegrationOptions": "sweeps", "ExecutionOptions": "sweeps", "vary_task": "sweeps",
    "derive_mode_flow": "derivations.mode_flow",
    # results
    "solve_task": "stability", "zero_loss_solution": "stability",
    "flow_endpoints": "fixed_points",
    "predict_learning_order": "learning_order", "time_to_fraction": "learning_order",
    "family_extrapolation": "extrapolation",
    "energy_split": "regularisation",
    "critical_beta": "phase_transition", "phase_curve": "phase_transition",
    "compile_io_solution": "frozen", "frozen_b_solution": "frozen",
    "DiscreteGD": "finite_lr", "compile_modified_flow": "finite_lr", "stable_lr_bound": "finite_lr",
    "empirical_ntk": "ntk", "mode_ntk": "ntk", "kernel_distance": "ntk",
    "predicted_distance_curve": "ntk", "whitened_probe_inputs": "ntk", "kernel_inputs": "ntk",
    "polar_time_scales": "learning_order",
    "sensory_trials": "sensory", "sensory_targets": "sensory", "expected_extrapolation_loss": "sensory",
    # trained networks and the paper's checks (validation layer)
    "train_lrnn": "validation.harness", "simulate": "validation.harness", "LRNN": "validation.network",
    "TrainingResult": "validation.harness", "set_up": "validation.harness", "TrainingSetup": "validation.harness",
    "PopulationData": "validation.harness", "SampleData": "validation.harness", "UserData": "validation.harness",
    "AlignedInit": "validation.harness", "RandomInit": "validation.harness", "Recording": "validation.harness",
    "NTKRecording": "validation.harness",
    "check_claim": "validation.claims", "reproduce_all": "validation.reproduce_all",
    "fit_figA3": "validation.figures.phase_transition",
    # errors
    "LrnnError": "errors", "LrnnInputError": "errors", "DivergenceError": "errors", "IntegrationError": "errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        value = importlib.import_module(".api_checks", __name__).guarded(name, value)  # arguments checked by kind
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'lrnn_theory' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

"""The runnable examples in the docstrings of the public modules."""
import doctest
import importlib

import pytest

MODULES = ["lrnn_theory.tasks", "lrnn_theory.flow", "lrnn_theory.derivations.mode_flow", "lrnn_theory.fixed_points",
           "lrnn_theory.derivations.complex", "lrnn_theory.block_form", "lrnn_theory.network",
           "lrnn_theory.validation.network",
           "lrnn_theory.ntk", "lrnn_theory.validation.ntk", "lrnn_theory.validation.figures", "lrnn_theory.resources"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

"""The Python examples in the README run as written."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


#: Examples that take a minute or more (the sweep of the results 2-3 section): run with ``-m slow``.
SLOW = {i for i, block in enumerate(BLOCKS) if "sweep(" in block}


@pytest.mark.parametrize("index", [pytest.param(i, marks=pytest.mark.slow) if i in SLOW else i
                                   for i in range(len(BLOCKS))])
def test_readme_example_runs(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md example {index}", "exec"), {})

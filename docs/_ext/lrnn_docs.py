"""Sphinx extension of the lrnn-theory docs: docstrings in plain-text mathematics, and the ``lrnn`` reference.

* ``plain_text_math`` (on ``autodoc-process-docstring``, before numpydoc): the docstrings write mathematics as plain
  text, for readers of the source and of ``help()``: ``|b|`` for a modulus, ``w_-`` for an index, formulas as
  indented blocks. In reStructuredText ``|b|`` is a substitution, ``w_`` a link target and an indented block a
  quotation (an error when its lines are indented unevenly). So each indented block that follows a paragraph becomes
  a literal block (shown as written, not highlighted), and ``|`` and a word's trailing ``_`` are escaped outside literals; the
  docstrings stay as they are.
* ``.. lrnn-command:: NAME``: the usage and every option of ``lrnn NAME``, read from the command's own parser
  (``lrnn_theory.cli.registry.COMMANDS``), so the reference cannot drift from the code.
"""
from __future__ import annotations

import argparse
import re

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList

_LITERAL_SPAN = re.compile(r"``.+?``|(?<![`\\])`[^`]+`", re.S)
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)_(?=$|[\s\-.,:;!?\\/'\")\]}>])", re.M)
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)]|#\.)\s+")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _content_indent(line: str) -> int:
    """Where a line's text starts: after a list marker for a list item."""
    item = _LIST_ITEM.match(line)
    return item.end() if item else _indent(line)


def _escape(text: str) -> str:
    out, last = [], 0
    for span in _LITERAL_SPAN.finditer(text):
        out.append(_escape_plain(text[last:span.start()]))
        out.append(span.group())
        last = span.end()
    out.append(_escape_plain(text[last:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return _TRAILING_UNDERSCORE.sub(r"\\_", text.replace("|", r"\|"))


def plain_text_math(lines: list) -> list:
    """The docstring ``lines`` with plain-text formula blocks as literal blocks and | and trailing _ escaped."""
    out, prose = [], []
    previous = ""  # the last non-blank line before the current block
    i = 0

    def flush():
        if prose:
            out.extend(_escape("\n".join(prose)).split("\n"))
            prose.clear()

    while i < len(lines):
        line = lines[i]
        starts_block = (line.strip() and i > 0 and not lines[i - 1].strip() and previous
                        and _indent(line) > _content_indent(previous))
        if line.lstrip().startswith(">>>") or starts_block:
            flush()
            marked = previous.rstrip().endswith("::") or previous.lstrip().startswith("..")
            doctest = line.lstrip().startswith(">>>")
            if starts_block and not marked and not doctest:
                out.extend([" " * _indent(previous) + ".. code-block:: text", ""])
            base = _content_indent(previous) if starts_block else _indent(line)
            while i < len(lines) and (not lines[i].strip() and not doctest or
                                      lines[i].strip() and (_indent(lines[i]) > base or doctest)):
                if doctest and not lines[i].strip():
                    break
                out.append(lines[i])
                if lines[i].strip():
                    previous = lines[i]
                i += 1
            while out and not out[-1].strip() and i < len(lines):  # blank lines closing the block
                out.pop()
                prose.append("")
            previous = "" if doctest else previous
            if not doctest:
                previous = " " * base + "x"  # what follows the block is prose at the block's base indentation
            continue
        prose.append(line)
        if line.strip():
            previous = line
        i += 1
    flush()
    return out


def process_docstring(app, what, name, obj, options, lines):
    lines[:] = plain_text_math(lines)



# ---- the command reference ------------------------------------------------------------------------------------------
#: The table cell of an option without a help text.
NO_HELP = "\u2014"


def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of ``lrnn NAME``, built as the command line builds it."""
    from lrnn_theory.cli.registry import COMMANDS

    parser = argparse.ArgumentParser(prog=f"lrnn {name}", add_help=True)
    COMMANDS[name].load().add_arguments(parser)
    return parser


def _cell(text: str) -> str:
    return _escape(" ".join(text.split())).replace("*", "\\*")


def command_rst(name: str) -> list:
    """reStructuredText lines: the usage of ``lrnn NAME`` and one table of options per argument group."""
    parser = command_parser(name)
    formatter = parser._get_formatter()
    usage = parser.format_usage().rstrip().splitlines()
    usage = [usage[0].replace("usage: ", "", 1)] + [line[len("usage: "):] for line in usage[1:]]
    lines = [".. code-block:: text", ""] + ["   " + line for line in usage] + [""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        title = {"positional arguments": "arguments", "options": "options"}.get(group.title, group.title)
        lines += [f".. rubric:: {_cell(title)}", "", ".. list-table::", "   :widths: 30 70", ""]
        for action in actions:
            if action.option_strings:
                default_metavar = (action.dest.upper() if action.choices is not None and action.metavar is None
                                   else formatter._get_default_metavar_for_optional(action))
                metavar = "" if action.nargs == 0 else " " + formatter._format_args(
                    argparse.Action(action.option_strings, action.dest, nargs=action.nargs,
                                    metavar=action.metavar), default_metavar)
                shown = ", ".join(f"``{opt}{metavar}``" for opt in action.option_strings)
            else:
                shown = f"``{formatter._get_default_metavar_for_positional(action) if action.metavar is None else action.metavar}``"
            help_text = formatter._expand_help(action) if action.help else ""
            if action.required and action.option_strings:
                help_text = "required; " + help_text
            cell = _cell(help_text)
            if action.choices is not None:
                choices = "one of " + ", ".join(f"``{c}``" for c in action.choices)
                cell = f"{cell} ({choices})" if cell else choices
            lines += [f"   * - {shown}", "     - " + (cell or NO_HELP)]
        lines.append("")
    return lines


class CommandDirective(Directive):
    """``.. lrnn-command:: NAME``: the usage and options of ``lrnn NAME``."""

    required_arguments = 1

    def run(self):
        container = nodes.container()
        self.state.nested_parse(StringList(command_rst(self.arguments[0]), source=f"lrnn {self.arguments[0]}"),
                                self.content_offset, container)
        return container.children


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring, priority=100)  # before numpydoc (500)
    app.add_directive("lrnn-command", CommandDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

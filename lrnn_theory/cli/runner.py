"""Parse ``lrnn`` arguments, run the command, and turn every failure into one line and an exit code.

Every bad input ends with a one-line ``lrnn: error: ...`` naming the parameter and its value, exit code 2, and no
traceback; diverging dynamics end the same way (exit code 3) with the time and the mode, as does a solver that cannot
make progress.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

from lrnn_theory import interrupts, resources
from lrnn_theory import io as lrnn_io
from lrnn_theory.errors import DivergenceError, IntegrationError, LrnnError

from .exit_codes import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERNAL, EXIT_IO_ERROR
from .registry import COMMANDS

DESCRIPTION = "Learning dynamics of linear recurrent neural networks: derive, integrate and validate the " \
              "connectivity-mode ODEs."


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors are one line and exit with code 2 (its default code, kept explicit)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {interrupts.one_line(message)}\n")


def command_named_in(argv) -> str | None:
    """The command that ``argv`` runs: its first word that is not an option (``lrnn`` itself has only --help)."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv=None) -> argparse.ArgumentParser:
    """The ``lrnn`` parser. Every command is listed; the command named in ``argv`` gets its arguments (only its
    module is imported, which keeps ``lrnn --help`` fast), or every command does when ``argv`` is None."""
    chosen = None if argv is None else command_named_in(argv)
    parser = ArgumentParser(prog="lrnn", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for name, command in COMMANDS.items():
        command_parser = sub.add_parser(name, help=command.help)
        if argv is None or name == chosen:
            module = command.load()
            module.add_arguments(command_parser)
            command_parser.set_defaults(run=module.run)
    return parser


#: Arguments that name files a command reads: name -> (what it is, None for a file or the glob of the files read
#: from a directory). ``data`` also takes the words of ``cli.training.DATA_NAMES``.
INPUT_ARGUMENTS = {"task": ("task file", None), "tasks": ("task file", None), "data": ("data file", None),
                   "figures": ("figure file", "*.json")}
#: Arguments that name files a command writes (a directory output, ``--out DIR``, never equals an input file).
OUTPUT_ARGUMENTS = ("out", "plot", "json")
_DATA_WORDS = ("population", "samples")


def _paths(value):
    values = value if isinstance(value, (list, tuple)) else [value]
    return [v for v in values if isinstance(v, (str, os.PathLike)) and str(v) not in _DATA_WORDS]


def check_paths_apart(args) -> None:
    """Every output path against every input path (and every other output) of the parsed arguments, before any
    work: one line naming the parameter instead of an overwritten input (``lrnn_io.check_outputs_apart``)."""
    inputs = [(path, label, pattern) for name, (label, pattern) in INPUT_ARGUMENTS.items()
              for path in _paths(getattr(args, name, None))]
    outputs = [(path, name) for name in OUTPUT_ARGUMENTS for path in _paths(getattr(args, name, None))]
    lrnn_io.check_outputs_apart(outputs, inputs)
    for k, (path, name) in enumerate(outputs):
        lrnn_io.check_outputs_apart([(path, name)], [(other, f"output '{other_name}'", None)
                                                     for other, other_name in outputs[:k]])


def quiet_matplotlib_config() -> None:
    """Point matplotlib at a private temporary config directory when the home one cannot be written (an
    unwritable HOME), instead of letting it warn on every plotting command."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    home_dir = Path(base) / "matplotlib"
    try:
        home_dir.mkdir(parents=True, exist_ok=True)  # what matplotlib itself does on import
        if home_dir.is_dir() and os.access(home_dir, os.W_OK):
            return
    except OSError:
        pass
    private = Path(tempfile.gettempdir()) / f"lrnn-matplotlib-{os.getuid() if hasattr(os, 'getuid') else 0}"
    try:
        private.mkdir(mode=0o700, exist_ok=True)
        info = private.lstat()
        if private.is_symlink() or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            private = Path(tempfile.mkdtemp(prefix="lrnn-matplotlib-"))
    except OSError:
        return
    os.environ["MPLCONFIGDIR"] = str(private)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Print library warnings (numpy, scipy) as one line each, without source context."""
    text = " ".join(str(message).split())
    interrupts.say("warning", f"{category.__name__}: {text}")


def main(argv=None) -> int:
    """Run the ``lrnn`` command line; returns the exit code (0 done, 1 over tolerance, 2 bad input, 3 diverged or
    not integrable, 74 standard output closed or full, 130/143 interrupted, 70 internal error). Every failure is one line on stderr."""
    argv = sys.argv[1:] if argv is None else [str(word) for word in argv]
    written_before = len(lrnn_io.WRITTEN)
    quiet_matplotlib_config()
    with interrupts.signals_as_exceptions(), interrupts.checked_streams() as stdout_open:
        try:
            try:
                if not stdout_open:
                    raise interrupts.StreamError("cannot write to standard output (it is closed); nothing was done")
                args = build_parser(argv).parse_args(argv)
                check_paths_apart(args)
                resources.configure(getattr(args, "max_memory", None), getattr(args, "max_time", None))
                with warnings.catch_warnings():
                    warnings.showwarning = _one_line_warning
                    code = args.run(args)
                sys.stdout.flush()  # a closed pipe shows up here, inside the handlers below
                return code
            finally:
                resources.configure(None)
        except DivergenceError as exc:
            interrupts.say("diverged", exc)
            return EXIT_DIVERGED
        except IntegrationError as exc:
            interrupts.say("integration failed", exc)
            return EXIT_DIVERGED
        except LrnnError as exc:
            interrupts.say("error", exc)
            return EXIT_BAD_INPUT
        except (KeyboardInterrupt, interrupts.Terminated) as exc:
            lrnn_io.remove_temporaries()
            message, code = interrupts.interrupted_message(exc, lrnn_io.WRITTEN[written_before:])
            interrupts.say("", message)
            return code
        except interrupts.StreamError as exc:
            lrnn_io.remove_temporaries()
            interrupts.silence_stdout()
            written = lrnn_io.WRITTEN[written_before:]
            interrupts.say("error", f"{exc}" + (f"; after writing {', '.join(written)}" if written else ""))
            return EXIT_IO_ERROR
        except BrokenPipeError:
            interrupts.silence_stdout()
            return interrupts.EXIT_BROKEN_PIPE
        except MemoryError:
            lrnn_io.remove_temporaries()
            interrupts.say("error", "out of memory; use smaller sizes (the resource guard's estimate was too low)")
            return EXIT_BAD_INPUT
        except Exception as exc:  # a bug: still one line, the traceback on request
            lrnn_io.remove_temporaries()
            if os.environ.get("LRNN_TRACEBACK"):
                raise
            interrupts.say("internal error", f"{type(exc).__name__}: {exc} (set LRNN_TRACEBACK=1 to see where)")
            return EXIT_INTERNAL

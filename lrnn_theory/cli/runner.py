"""Parse ``lrnn`` arguments, run the command, and turn every failure into one line and an exit code.

Every bad input ends with a one-line ``lrnn: error: ...`` naming the parameter and its value, exit code 2, and no
traceback; diverging dynamics end the same way (exit code 3) with the time and the mode, as does a solver that cannot
make progress.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

from lrnn_theory import interrupts, resources
from lrnn_theory import io as lrnn_io
from lrnn_theory.errors import DivergenceError, IntegrationError, LrnnError

from .exit_codes import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERNAL
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


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Print library warnings (numpy, scipy) as one line each, without source context."""
    text = " ".join(str(message).split())
    interrupts.say("warning", f"{category.__name__}: {text}")


def main(argv=None) -> int:
    """Run the ``lrnn`` command line; returns the exit code (0 done, 1 over tolerance, 2 bad input, 3 diverged or
    not integrable, 130/143 interrupted, 70 internal error). Every failure is one line on stderr."""
    argv = sys.argv[1:] if argv is None else [str(word) for word in argv]
    written_before = len(lrnn_io.WRITTEN)
    with interrupts.signals_as_exceptions():
        try:
            try:
                args = build_parser(argv).parse_args(argv)
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

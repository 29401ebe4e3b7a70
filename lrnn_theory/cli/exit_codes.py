"""Exit codes of the ``lrnn`` command line (standard library only: read by the runner and by the commands)."""

EXIT_OK = 0
EXIT_TOLERANCE = 1  # a comparison (validate, claims, reproduce all) found a difference over its tolerance
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
EXIT_IO_ERROR = 74  # EX_IOERR: standard output closed or full
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug, not the user's input

"""Errors the CLI turns into one line on stderr, and the exit statuses every command shares."""

EXIT_OK = 0
# verify found a wrong result, compare a regression, no worker could start, a job failed twice
EXIT_FAILURE = 1
EXIT_USAGE = 2  # bad arguments or unusable input files: one line on stderr, nothing written
EXIT_NOTHING_RAN = 3  # run: every row skipped; verify: nothing verified (nothing runs here)


class UsageError(Exception):
    """Bad input from the user: arguments, files, or a request this machine cannot serve.
    `prog` is the command it concerns ("hyena-bench run"), for the message's prefix."""

    def __init__(self, message: str, prog: str = "hyena-bench") -> None:
        super().__init__(message)
        self.prog = prog

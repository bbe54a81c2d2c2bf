"""Errors the CLI turns into one line on stderr and exit status 2 (never a traceback)."""


class UsageError(Exception):
    """Bad input from the user: arguments, files, or a request this machine cannot serve."""

"""`python -m bench` is the `hyena-bench` command."""

import sys

from bench.cli import main

if __name__ == "__main__":  # the guard keeps spawned worker processes from re-running the CLI
    sys.exit(main())

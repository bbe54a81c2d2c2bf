"""A plugin that calls sys.exit when it is imported (issue 17: it took down `list` and `run`)."""

import sys

sys.exit(3)

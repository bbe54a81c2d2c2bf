"""tools/mutation.py (nox -s mutation) names real modules and real test files, and covers every
module issue 19 lists: a renamed file must not silently drop out of the mutation score."""

from __future__ import annotations

import importlib.util

from tests.conftest import REPO

LISTED = {
    "operators.attention",
    "operators.hyena",
    "operators.longconv.fft",
    "operators.longconv.naive",
    "operators.reference",
    "bench.timing",
    "bench.stats",
    "bench.compare",
    "bench.comparison",
    "bench.store",
    "bench.runner",
    "reports.tables",
    "reports.stats",
    "reports.claims",
    "reports.selection",
}


def load_tool():
    spec = importlib.util.spec_from_file_location("mutation_tool", REPO / "tools" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_listed_module_has_existing_tests():
    tool = load_tool()
    assert set(tool.TARGETS) == LISTED
    for module, tests in tool.TARGETS.items():
        assert (REPO / tool.module_path(module)).is_file(), module
        assert tests, module
        for test in tests:
            assert (REPO / test).is_file(), (module, test)

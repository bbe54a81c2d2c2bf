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


SOURCE = """def f(x):
    return x + 1  # one more


class C:
    @property
    def g(self):
        y = 2
        return y
"""

# `mutmut show` output: hunk lines counted from each function's first line, a method dedented,
# comments dropped; a "# " inside a diff line is no mutant header.
SHOWN = """# m.x_f__mutmut_1: survived
--- m.py
+++ m.py
@@ -1,2 +1,2 @@
 def f(x):
-    return x + 1
+    return x - 1
# m.xǁCǁg__mutmut_2: survived
--- m.py
+++ m.py
@@ -3,2 +3,2 @@
     y = 2
-    return y
+    return 3  # not a header
"""


def test_recheck_applies_each_survivor_where_mutmut_found_it():
    tool = load_tool()
    found = tool.split_diffs(SHOWN)
    assert [name for name, _ in found] == ["m.x_f__mutmut_1", "m.xǁCǁg__mutmut_2"]
    first = tool.apply_mutant(*found[0], SOURCE)
    assert first.splitlines()[1] == "    return x - 1"
    second = tool.apply_mutant(*found[1], SOURCE)
    assert second.splitlines()[8] == "        return 3  # not a header"
    assert second.splitlines()[:8] == SOURCE.splitlines()[:8]
    assert tool.apply_mutant(found[0][0], found[0][1], SOURCE.replace("x + 1", "x * 1")) is None


def test_recheck_places_a_hunk_counted_from_a_comment_above_the_def():
    """mutmut counts a function's lines from a section comment and blank lines just above its
    `def` (reports.tables' `summarise`): the hunk still lands on the line it changes."""
    tool = load_tool()
    source = "x = 0\n\n# --- numbers ---\n\n\ndef h(a):\n    b = a * 2\n    return b\n"
    shown = "@@ -5,2 +5,2 @@\n     b = a * 2\n-    return b\n+    return None\n"
    mutated = tool.apply_mutant("m.x_h__mutmut_1", shown, source)
    assert mutated == source.replace("    return b", "    return None")
    assert tool.apply_mutant("m.x_h__mutmut_1", shown.replace("a * 2", "a * 3"), source) is None

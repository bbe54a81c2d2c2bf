"""docs/ARCHITECTURE.md names every module of the three packages (the row table is checked in
tests/bench/test_record.py), so a new module cannot go undocumented."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "ARCHITECTURE.md").read_text()
MODULES = sorted(
    p.relative_to(REPO)
    for package in ("operators", "bench", "reports")
    for p in (REPO / package).glob("*.py")
    if p.name not in ("__init__.py", "__main__.py")
)


@pytest.mark.parametrize("module", MODULES, ids=str)
def test_every_module_is_in_the_architecture_doc(module):
    assert module.name in DOC, f"describe {module} in docs/ARCHITECTURE.md"


def test_the_readme_links_the_doc_and_nothing_outside_the_repository():
    readme = (REPO / "README.md").read_text()
    assert "docs/ARCHITECTURE.md" in readme
    assert "../" not in readme

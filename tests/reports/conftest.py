"""Fixtures for the report tests; the data themselves live in reports_testdata.py."""

from pathlib import Path

import pytest

from tests.reports.reports_testdata import paper_rows, write_run


@pytest.fixture
def paper_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run", paper_rows())

"""Fixtures for the operator tests."""

from __future__ import annotations

import pytest

from operators import registry


@pytest.fixture
def fresh_table(monkeypatch):
    """An empty plugin table for the test: the family modules register their implementations
    when they are imported, once per process; a test that calls their registration functions
    again (to check what they register) registers into this table, not the real one."""
    registry.load_plugins()  # the real table is complete before it is set aside
    monkeypatch.setattr(registry, "_TABLE", {})
    return registry._TABLE

"""Shared fixtures for the workflow rule tests."""

from __future__ import annotations

import pytest

from lapor_es.workflow import WorkingCalendar


@pytest.fixture(scope="session")
def cal() -> WorkingCalendar:
    """The default calendar: public holidays plus cuti bersama."""
    return WorkingCalendar()

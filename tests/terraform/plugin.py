"""Loaded with ``-p`` (pyproject.toml) before pytest-terraform configures itself, so that a machine with
no terraform binary runs the suite and skips only this tier."""

from __future__ import annotations

import pytest

from tests.terraform.support import relax_pytest_terraform


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    relax_pytest_terraform(config)

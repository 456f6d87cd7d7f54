"""The terraform tier: skipped (with the reason) where no terraform binary or provider can be had."""

from __future__ import annotations

import pytest

from tests.terraform.support import relax_pytest_terraform


def pytest_configure(config: pytest.Config) -> None:
    # Only effective when this directory is named on the command line (`pytest tests/terraform`);
    # a plain `pytest` needs the same call in tests/conftest.py.
    relax_pytest_terraform(config)

"""Prints the terraform tier's own duration at the end of the run (make test's figure for it): the time
its tests spent in setup, call and teardown, the fixtures that run terraform included."""

from __future__ import annotations

import pytest

TIER_MODULE = "tests/terraform/test_terraform_tier.py"
_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid.startswith(TIER_MODULE):
        _seconds["tier"] = _seconds.get("tier", 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if "tier" in _seconds:
        terminalreporter.write_line(f"terraform tier: {_seconds['tier']:.0f} s")

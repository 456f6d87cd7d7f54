"""Prints the terraform tier's own duration at the end of the run (make test's figure for it)."""

from __future__ import annotations

import pytest

# Filled by the tier's session fixture when it tears down: providers mode -> seconds.
TIER_TIMES: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for mode, seconds in TIER_TIMES.items():
        terminalreporter.write_line(f"terraform tier: {seconds:.0f} s (providers: {mode})")

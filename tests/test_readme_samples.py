"""The README's sample outputs are what a local run prints today (``make docs`` writes them from real
runs; this test fails when they drift), up to what changes from run to run (issue 21, item 6)."""

from __future__ import annotations

import pytest

from tools import readme_samples


@pytest.mark.parametrize("name", sorted(readme_samples.SAMPLES))
def test_the_readme_shows_what_make_run_prints(name: str) -> None:
    printed = readme_samples.section(readme_samples.sample_output(readme_samples.SAMPLES[name]))
    shown = readme_samples.shown(readme_samples.README.read_text(encoding="utf-8"), name)
    assert readme_samples.normalized(shown) == readme_samples.normalized(printed), "run make docs"


def test_only_what_changes_between_runs_is_left_out_of_the_comparison() -> None:
    one = "Execution  local-20261201-131027-df566a: SUCCEEDED in 0.5s\nServing at http://127.0.0.1:40577/\n"
    other = "Execution  local-20261204-203441-f24681: SUCCEEDED in 1.4s\nServing at http://127.0.0.1:47291/\n"
    assert readme_samples.normalized(one) == readme_samples.normalized(other)
    drifted = other.replace("SUCCEEDED", "FAILED")
    assert readme_samples.normalized(one) != readme_samples.normalized(drifted)
    path = "Path       ValidateAndBatch → DownloadBatches (1 iteration: DownloadBatch ×1) → Consolidate\n"
    assert readme_samples.normalized(path) != readme_samples.normalized(
        path.replace(" (1 iteration: DownloadBatch ×1)", "")
    )

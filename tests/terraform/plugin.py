"""How the terraform tier configures pytest-terraform (loaded by tests/conftest.py's ``pytest_plugins``).

Through the plugin's own options and hook, set before it configures itself (its ``pytest_configure``
is ``trylast``):

- ``--tf-replay``: set when there is no terraform binary on PATH and the tier is not required (CI or
  IMAGE_DOWNLOADER_REQUIRE_TERRAFORM): pytest-terraform refuses to start a session without a binary
  unless it replays, and the tier's state assertions then run from the recording
  (tests/terraform/complete/tf_resources.json) instead of skipping;
- ``--tf-mod-dir``: where the plugin finds the root ``complete``: live, the copy of examples/complete the
  tier applies (a per-process folder the tier's fixture creates); replaying, tests/terraform, whose
  ``complete/`` holds only the recording.

And one pytest-xdist hook: with ``--dist loadfile``, every file of tests/terraform/ goes to the same
worker, so that the tier's package-scoped fixtures (one moto server, one apply) run once.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.terraform import recording
from tests.terraform.support import terraform_binary, tier_required

TIER_PACKAGE = "tests/terraform/"


def live_module_dir() -> Path:
    """The parent folder pytest-terraform looks for the root ``complete`` in when it applies: per process
    (each xdist worker configures pytest-terraform itself), created by the tier's fixture."""
    return Path(tempfile.gettempdir()) / f"image-downloader-tier-{os.getpid()}" / "examples"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("dest_tf_binary", None) is None and terraform_binary() is None:
        if not config.getoption("dest_tf_replay", False) and tier_required():
            raise pytest.UsageError(
                "no terraform binary on PATH, and the terraform tier is required here (CI or "
                "IMAGE_DOWNLOADER_REQUIRE_TERRAFORM): install terraform, or pass --tf-replay to run the "
                "tier's assertions from its recording"
            )
        config.option.dest_tf_replay = True
    replay = bool(config.getoption("dest_tf_replay", False))
    config.option.dest_tf_mod_dir = str(recording.RECORDING.parent.parent if replay else live_module_dir())


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadfile, with tests/terraform/'s files as one unit."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class TierTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(TIER_PACKAGE):
                return TIER_PACKAGE
            return super()._split_scope(nodeid)

    return TierTogether(config, log)


def remove_live_copy() -> None:
    shutil.rmtree(live_module_dir().parent, ignore_errors=True)

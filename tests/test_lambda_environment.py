"""Lambda's 4 KB limit on a function's environment, in the local run: the emulated deployment refuses a
function Lambda would refuse, just past the limit and not at it. (Not in test_emulator_limits.py: that
file's deployment lives for the whole module, and a second one in the same moto would collide.)"""

from __future__ import annotations

import json

import pytest

from local_runner.emulator import DeploymentConfig, emulated_deployment
from local_runner.lambda_environment import LAMBDA_ENVIRONMENT_LIMIT_BYTES, EnvironmentTooLarge


def test_a_function_environment_over_lambdas_4_kb_is_refused_and_one_at_the_limit_is_not() -> None:
    """As modules/compute refuses at plan time: the compact JSON of every name and value, 4096 bytes."""
    (download,) = [spec for spec in DeploymentConfig().functions() if spec.name == "download"]
    base = len(json.dumps(dict(download.environment), separators=(",", ":")))
    # Hosts of 19 characters take 20 bytes each with their comma; the default ALLOWED_HOSTS is empty.
    count = (LAMBDA_ENVIRONMENT_LIMIT_BYTES - base + 1) // 20
    padding = LAMBDA_ENVIRONMENT_LIMIT_BYTES - (base + 20 * count - 1)
    at_limit = (*(f"h{index:018d}" for index in range(count - 1)), "h" * (19 + padding))
    assert base + len(",".join(at_limit)) == LAMBDA_ENVIRONMENT_LIMIT_BYTES

    with emulated_deployment(DeploymentConfig(allowed_hosts=at_limit)) as emulated:
        assert emulated.function_arns["download"]
    with (
        pytest.raises(
            EnvironmentTooLarge, match=r"download: .*exceeded the 4KB limit \(4097 of 4096 bytes\)"
        ),
        emulated_deployment(DeploymentConfig(allowed_hosts=(*at_limit[:-1], at_limit[-1] + "x"))),
    ):
        pass

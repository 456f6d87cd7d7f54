"""Lambda's 4 KB limit on a function's environment, which moto does not check: the emulator refuses the
function Lambda would refuse. Lambda measures the compact JSON of every name and value together (its
error quotes the "String measured"); modules/compute refuses the same at plan time."""

from __future__ import annotations

import json
from collections.abc import Mapping

LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096


class EnvironmentTooLarge(ValueError):
    pass


def check_environment(function_name: str, variables: Mapping[str, str]) -> None:
    measured = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    size = len(measured.encode())
    if size > LAMBDA_ENVIRONMENT_LIMIT_BYTES:
        raise EnvironmentTooLarge(
            f"{function_name}: Lambda was unable to configure your environment variables because the "
            f"environment variables you have provided exceeded the 4KB limit ({size} of "
            f"{LAMBDA_ENVIRONMENT_LIMIT_BYTES} bytes). String measured: {measured}"
        )

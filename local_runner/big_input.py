"""``python -m local_runner.big_input [--paths 20000] > big.json``: a request too large for the 256 KiB
execution input, for ``make run INPUT=big.json SAMPLES=1``.

Its paths (about 50 characters each, all distinct) are under ``generated/``, which the sample server
answers with a GIF made from the path, so the whole run stays offline. ``make run`` stages the paths in
S3 and sends a ``resourcePathsFrom`` reference, as a client must for a request this size on AWS.
"""

from __future__ import annotations

import argparse
import json
import sys

from local_runner.sample_server import GENERATED_PREFIX

PATH_LENGTH = 50


def big_request(paths: int, concurrency: int) -> dict:
    return {
        "baseUrl": "http://127.0.0.1/",
        "resourcePaths": [
            f"{GENERATED_PREFIX}{index:07d}/".ljust(PATH_LENGTH - len(".gif"), "x") + ".gif"
            for index in range(paths)
        ],
        "lambdaConcur": concurrency,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_runner.big_input", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--paths", type=int, default=20_000, help="number of paths (20000: about 1 MB)")
    parser.add_argument("--lambda-concur", type=int, default=20, help="lambdaConcur of the request (20)")
    args = parser.parse_args(argv)
    json.dump(big_request(args.paths, args.lambda_concur), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

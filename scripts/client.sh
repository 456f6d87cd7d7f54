#!/usr/bin/env bash
# Run the image-downloader client: the installed console script when there is one (pip install .),
# else the package straight from this repository (it needs requests, and botocore for AWS_IAM signing:
# `pip install requests botocore`, or `pip install .` once).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The API's URL and authorization come from `terraform output` of examples/complete unless
# IMAGE_DOWNLOADER_URL / IMAGE_DOWNLOADER_AUTH (or --url / --auth) say otherwise.
export IMAGE_DOWNLOADER_TERRAFORM_DIR="${IMAGE_DOWNLOADER_TERRAFORM_DIR:-$here/../examples/complete}"
if command -v image-downloader >/dev/null 2>&1; then
  exec image-downloader "$@"
fi
export PYTHONPATH="$here/../client${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" -m image_downloader_client "$@"

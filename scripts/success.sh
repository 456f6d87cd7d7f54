#!/usr/bin/env bash
# Download the twenty flags through the deployed API and wait until the execution succeeds.
# URL and authorization come from `terraform output` in examples/complete (or IMAGE_DOWNLOADER_URL /
# IMAGE_DOWNLOADER_AUTH); further arguments go to invoke.py (e.g. --auth JWT --token "$TOKEN").
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/invoke.py" "$here/../examples/inputs/success.json" --wait "$@"

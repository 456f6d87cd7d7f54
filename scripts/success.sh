#!/usr/bin/env bash
# Download the twenty flags through the deployed API and wait until the execution has stored them all.
# Exits with the client's code: 0 every image stored (see `image-downloader --help` for the others).
# Further arguments go to the client (e.g. --auth JWT --token-file token.txt, --url URL).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "$here/client.sh" run "$here/../examples/inputs/success.json" "$@"

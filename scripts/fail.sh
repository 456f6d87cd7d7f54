#!/usr/bin/env bash
# Ask for the twenty flags and one that does not exist (zz): the execution must fail, reporting the
# missing flag by SNS and in the bucket's reports/ prefix. Exits 0 when it failed as expected.
# Further arguments go to invoke.py (see success.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/invoke.py" "$here/../examples/inputs/fail.json" --wait --expect FAILED "$@"

#!/usr/bin/env bash
# Ask for the twenty flags and one that does not exist (zz): the execution must end with that image
# failed (client exit code 1), reported by SNS and in the bucket's reports/ prefix. Exits 0 when it
# failed that way, 1 when it did not; further arguments go to the client (see success.sh).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/client.sh" run "$here/../examples/inputs/fail.json" "$@"
code=$?
if [ "$code" -eq 1 ]; then
  echo "fail.sh: the missing image failed, as expected" >&2
  exit 0
fi
echo "fail.sh: expected exit code 1 (images failed), the client exited $code" >&2
exit 1

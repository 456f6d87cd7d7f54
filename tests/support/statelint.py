"""statelint (the pinned 3.1.0) on a rendered definition, minus the Distributed Map fields it predates.

Each entry below is something Step Functions accepts and documents but statelint 3.1.0 does not know:
- ``ItemReader.ReaderConfig.InputType``: required to read a JSON file with ``s3:getObject`` ("Distributed
  Map: ItemReader", AWS Step Functions Developer Guide);
- a decimal ``ToleratedFailurePercentage``: the field is a number from 0 to 100 (the same page, "Tolerated
  failure threshold"); moto 5.2.5 accepts only the decimal form.
Anything else statelint says is a real finding.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

KNOWN_GAPS = (
    'Field "InputType" not allowed in State Machine.States.DownloadBatches.ItemReader.ReaderConfig',
    "State Machine.States.DownloadBatches.ToleratedFailurePercentage is 100.0 but should be an Integer",
)


def statelint_findings(definition: dict[str, Any], tmp_path: Path) -> list[str]:
    path = tmp_path / "definition.asl.json"
    path.write_text(json.dumps(definition))
    done = subprocess.run(
        [sys.executable, "-m", "statelint", str(path)], capture_output=True, text=True, check=False
    )
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return [line for line in lines if line not in KNOWN_GAPS and not re.fullmatch(r"\d+ errors?:", line)]

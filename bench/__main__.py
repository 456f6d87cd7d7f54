"""``make bench``: how close the download engine gets to the network's limit, and what memory it needs.

Starts ``bench.server`` (its own process), then runs each configuration in a fresh process
(``bench.run``) and prints one table: N, lambdaConcur, wall seconds, images/s, the ideal
``ceil(N / c) x delay`` and the ratio wall / ideal, for the transfer-only sink and for the whole Lambda
path on moto. Then the peak RSS of a run of large images against a run of small ones, and the ratio
of masking 1 MB to 64 KB of each hostile shape (``bench.masking``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SINK_LABELS = {"discard": "transfer only", "moto": "S3+DynamoDB (moto)"}
MB = 1_000_000


@dataclass(frozen=True)
class Row:
    sink: str
    n: int
    concurrency: int
    wall: float
    succeeded: int
    ideal: float

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "lambda_src"), str(REPO)])}


def start_server(delay: float, small_count: int, large_bytes: int) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.server",
            "--delay",
            str(delay),
            "--small-count",
            str(small_count),
            "--large-bytes",
            str(large_bytes),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO,
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def run_child(port: int, sink: str, kind: str, n: int, concurrency: int, repeat: int) -> dict:
    command = [sys.executable, "-m", "bench.run", "--port", str(port), "--sink", sink, "--kind", kind]
    command += ["-n", str(n), "-c", str(concurrency), "--repeat", str(repeat)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=child_env(), cwd=REPO, timeout=600, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(command)}\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def measure(port: int, sink: str, n: int, concurrency: int, delay: float) -> Row:
    ideal = math.ceil(n / concurrency) * delay
    repeat = 5 if ideal <= 1 else 3 if ideal <= 5 else 1  # short runs are noisier: take a median
    result = run_child(port, sink, "small", n, concurrency, repeat)
    return Row(sink, n, concurrency, statistics.median(result["walls"]), result["succeeded"], ideal)


def transfer_table(port: int, args: argparse.Namespace) -> list[Row]:
    configs = [(sink, c) for sink in args.sinks for c in args.concurrency]

    def run(config: tuple[str, int]) -> Row:
        return measure(port, config[0], args.n, config[1], args.delay)

    # Runs at c=1 are idle 99% of the time (they wait for the server's delay): run those side by side.
    idle = [config for config in configs if config[1] == 1]
    with ThreadPoolExecutor(max_workers=max(1, len(idle))) as pool:
        rows = dict(zip(idle, pool.map(run, idle), strict=True))
    rows.update({config: run(config) for config in configs if config not in rows})
    return [rows[config] for config in configs]


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"Download engine, {args.n} small GIFs, server delay {args.delay:.3f} s on 127.0.0.1 "
        "(keep-alive, one write per response, TCP_NODELAY)"
    )
    print(f"{'sink':<20}{'N':>5}{'lambdaConcur':>14}{'wall s':>9}{'images/s':>10}{'ideal s':>9}{'ratio':>8}")
    for row in rows:
        failed = "" if row.succeeded == row.n else f"  ({row.n - row.succeeded} failed!)"
        print(
            f"{SINK_LABELS[row.sink]:<20}{row.n:>5}{row.concurrency:>14}{row.wall:>9.3f}"
            f"{row.succeeded / row.wall:>10.1f}{row.ideal:>9.3f}{row.ratio:>8.3f}{failed}"
        )
    print(
        "wall: median of 5 runs (ideal <= 1 s) or 3 (<= 5 s); each configuration in its own warmed-up process"
    )


def memory_report(port: int, args: argparse.Namespace) -> None:
    count, c = args.large_count, args.large_concurrency
    runs = [
        (f"{count} small GIFs, discarded", run_child(port, "discard", "small", count, c, 1)),
        (f"{count} x {args.large_mb} MB BMPs, discarded", run_child(port, "discard", "large", count, c, 1)),
        (
            f"{count} x {args.large_mb} MB BMPs, written to a folder",
            run_child(port, "folder", "large", count, c, 1),
        ),
    ]
    baseline = runs[0][1]["peak_rss_bytes"]
    print(f"\nPeak RSS at lambdaConcur={c}, own process per run (one large image is {args.large_mb} MB):")
    for label, result in runs:
        if result["succeeded"] != count:
            raise SystemExit(f"{label}: only {result['succeeded']} of {count} succeeded")
        peak = result["peak_rss_bytes"]
        growth = "" if peak is baseline else f"  ({(peak - baseline) / MB:+.1f} MB)"
        print(f"  {label:<42}{peak / MB:7.1f} MB{growth}")


def masking_report() -> None:
    """``bench.masking`` in its own process (it imports the Lambda package)."""
    command = [sys.executable, "-m", "bench.masking"]
    done = subprocess.run(command, capture_output=True, text=True, env=child_env(), cwd=REPO, check=True)
    print(done.stdout, end="")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="images per run (200)")
    parser.add_argument("--delay", type=float, default=0.1, help="server delay per response, seconds (0.1)")
    parser.add_argument(
        "--concurrency", type=lambda text: [int(c) for c in text.split(",")], default=[1, 10, 50]
    )
    parser.add_argument("--sinks", type=lambda text: text.split(","), default=["discard", "moto"])
    parser.add_argument("--large-count", type=int, default=8)
    parser.add_argument("--large-mb", type=int, default=50)
    parser.add_argument("--large-concurrency", type=int, default=4)
    args = parser.parse_args()
    started = time.monotonic()
    server, port = start_server(args.delay, max(args.n, args.large_count), args.large_mb * MB)
    try:
        print_table(transfer_table(port, args), args)
        memory_report(port, args)
        masking_report()
    finally:
        server.terminate()
        server.wait()
    print(f"\n(bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()

"""``make bench``: how close the download engine gets to the network's limit and to the least CPU its work
needs, how long its handler takes to import, and what memory it needs.

Starts ``bench.server`` and the S3/DynamoDB stand-in ``bench.aws_standin`` (each its own process), then
runs each configuration in fresh processes (``bench.run``) and prints one table: N, lambdaConcur, wall
seconds, images/s, the ideal ``ceil(N / c) x delay``, wall / ideal, wall / the reference's wall, and the
CPU per image beside the floor's (``bench.floors``, measured in the same run, interleaved) and their
ratio; for the transfer-only sink and for the whole Lambda path (the handler, the stand-in for AWS).
Then the cold start (import time), the peak RSS of a run of large images against a run of small ones,
and the ratio of masking 1 MB to 64 KB of each hostile shape (``bench.masking``).
"""

from __future__ import annotations

import argparse
import dataclasses
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
MB = 1_000_000


# Each engine sink against its CPU floor and its wall reference (the floors of bench.floors).
ENGINE_SINKS = {"discard": ("floor", "stdlib"), "aws": ("floor-aws", "floor-aws")}
SINK_LABELS = {
    "discard": "transfer only",
    "aws": "S3+DynamoDB",
    "moto": "S3+DynamoDB (moto)",
    "floor": "  floor: urllib3",
    "stdlib": "  ref: http.client",
    "floor-aws": "  floor: GET+put",
    "floor-aws-batch": "  floor: GET+batch",
}


@dataclass(frozen=True)
class Row:
    sink: str
    n: int
    concurrency: int
    wall: float
    cpu: float
    succeeded: int
    ideal: float
    reference_wall: float | None = None
    floor_cpu: float | None = None

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal

    @property
    def cpu_ms(self) -> float:
        return self.cpu * 1000 / self.n


def child_env() -> dict[str, str]:
    """The runs' environment; ``BENCH_LAMBDA_SRC`` measures another copy of lambda_src (e.g. main's)."""
    lambda_src = os.environ.get("BENCH_LAMBDA_SRC", str(REPO / "lambda_src"))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([lambda_src, str(REPO)])}


def start_server(delay: float, small_count: int, large_bytes: int) -> tuple[subprocess.Popen[str], int]:
    command = ["--delay", str(delay), "--small-count", str(small_count), "--large-bytes", str(large_bytes)]
    return start_process("bench.server", command)


def start_aws_standin() -> tuple[subprocess.Popen[str], int]:
    return start_process("bench.aws_standin", [])


def start_process(module: str, arguments: list[str]) -> tuple[subprocess.Popen[str], int]:
    """A server module in its own process, and the port it printed."""
    server = subprocess.Popen(
        [sys.executable, "-m", module, *arguments],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
        cwd=REPO,
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def run_child(
    port: int, sink: str, kind: str, n: int, concurrency: int, repeat: int, aws_port: int = 0
) -> dict:
    command = [sys.executable, "-m", "bench.run", "--port", str(port), "--sink", sink, "--kind", kind]
    command += ["-n", str(n), "-c", str(concurrency), "--repeat", str(repeat), "--aws-port", str(aws_port)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=child_env(), cwd=REPO, timeout=600, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark run failed: {' '.join(command)}\n{done.stderr}")
    return json.loads(done.stdout.splitlines()[-1])


def repeats(n: int, concurrency: int, delay: float) -> int:
    ideal = math.ceil(n / concurrency) * delay
    return 5 if ideal <= 1 else 3 if ideal <= 5 else 1  # short runs are noisier: take a median


def measure(
    ports: tuple[int, int], sinks: list[str], n: int, concurrency: int, args: argparse.Namespace
) -> dict:
    """Every sink at one concurrency, ``args.rounds`` rounds of one process each, the sinks interleaved so
    that a change in the machine's load hits them alike; the medians of all repeats."""
    repeat = repeats(n, concurrency, args.delay)
    walls: dict[str, list[float]] = {sink: [] for sink in sinks}
    cpus: dict[str, list[float]] = {sink: [] for sink in sinks}
    succeeded: dict[str, int] = {}

    def one(sink: str) -> None:
        result = run_child(ports[0], sink, "small", n, concurrency, repeat, ports[1])
        walls[sink] += result["walls"]
        cpus[sink] += result["cpus"]
        succeeded[sink] = min(succeeded.get(sink, n), result["succeeded"])

    # Runs at c=1 are idle 99% of the time (they wait for the server's delay): run those side by side, once.
    rounds = 1 if concurrency == 1 else args.rounds
    for _ in range(rounds):
        if concurrency == 1:
            with ThreadPoolExecutor(max_workers=len(sinks)) as pool:
                list(pool.map(one, sinks))
        else:
            for sink in sinks:
                one(sink)
    ideal = math.ceil(n / concurrency) * args.delay
    medians = {
        sink: Row(
            sink,
            n,
            concurrency,
            statistics.median(walls[sink]),
            statistics.median(cpus[sink]),
            succeeded[sink],
            ideal,
        )
        for sink in sinks
    }
    return medians


def transfer_table(ports: tuple[int, int], args: argparse.Namespace) -> list[Row]:
    """Per concurrency: each engine sink (with its ratios), then the floors it is measured against."""
    rows: list[Row] = []
    for concurrency in args.concurrency:
        shown: list[str] = []
        for sink in args.sinks:
            shown += [sink, *ENGINE_SINKS.get(sink, ())]
            shown += ["floor-aws-batch"] if sink == "aws" and args.batch_floor else []
        shown = list(dict.fromkeys(shown))
        measured = measure(ports, shown, args.n, concurrency, args)
        for sink in shown:
            row = measured[sink]
            if sink in ENGINE_SINKS:
                floor, reference = ENGINE_SINKS[sink]
                row = dataclasses.replace(
                    row, reference_wall=measured[reference].wall, floor_cpu=measured[floor].cpu
                )
            rows.append(row)
    return rows


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    print(
        f"Download engine, {args.n} small GIFs, server delay {args.delay:.3f} s on 127.0.0.1 "
        "(keep-alive, one write per response, TCP_NODELAY); S3 and DynamoDB: the stand-in, another process"
    )
    head = f"{'sink':<20}{'N':>5}{'c':>5}{'wall s':>8}{'img/s':>8}{'ideal s':>8}{'/ideal':>7}{'/ref':>6}"
    print(head + f"{'CPU ms/img':>11}{'floor ms':>9}{'CPU/floor':>10}")
    for row in rows:
        failed = "" if row.succeeded == row.n else f"  ({row.n - row.succeeded} failed!)"
        versus = f"{row.wall / row.reference_wall:>6.2f}" if row.reference_wall else f"{'':>6}"
        floor = (
            f"{row.floor_cpu * 1000 / row.n:>9.3f}{row.cpu / row.floor_cpu:>10.2f}"
            if row.floor_cpu
            else f"{'':>19}"
        )
        line = (
            f"{SINK_LABELS[row.sink]:<20}{row.n:>5}{row.concurrency:>5}{row.wall:>8.3f}"
            f"{row.succeeded / row.wall:>8.1f}{row.ideal:>8.3f}{row.ratio:>7.2f}{versus}{row.cpu_ms:>11.3f}"
            f"{floor}{failed}"
        )
        print(line.rstrip())
    print(
        "wall, CPU: medians of every repeat (5 per process when ideal <= 1 s, 3 when <= 5 s, else 1) over\n"
        f"{args.rounds} processes per row (c=1: one, side by side); CPU = user + sys of the run's process\n"
        "(start-up and warm-up excluded); /ref = wall / the reference's wall (transfer: http.client; full\n"
        "sink: its floor)"
    )


def import_report(count: int = 5) -> None:
    """Cold start: a fresh interpreter importing the download handler, then creating its AWS clients."""
    code = (
        "import time; w, c = time.perf_counter(), time.process_time()\n"
        "import image_downloader.download\n"
        "w1, c1 = time.perf_counter(), time.process_time()\n"
        "from image_downloader.storage import clients_for; clients_for(1)\n"
        "print(w1 - w, c1 - c, time.perf_counter() - w1, time.process_time() - c1)"
    )
    env = {**child_env(), "AWS_DEFAULT_REGION": "us-east-1"}
    figures = []
    for _ in range(count):
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=True
        )
        figures.append([float(value) * 1000 for value in done.stdout.split()])
    wall, cpu, client_wall, client_cpu = (statistics.median(column) for column in zip(*figures, strict=True))
    print(f"\nCold start (fresh interpreter, median of {count}):")
    print(f"  import image_downloader.download   {cpu:6.0f} ms CPU  {wall:6.0f} ms wall")
    print(f"  then its S3 and DynamoDB clients   {client_cpu:6.0f} ms CPU  {client_wall:6.0f} ms wall")


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
        "--concurrency", type=lambda text: [int(c) for c in text.split(",")], default=[1, 10, 50, 100]
    )
    parser.add_argument("--sinks", type=lambda text: text.split(","), default=["discard", "aws"])
    parser.add_argument("--rounds", type=int, default=3, help="processes per configuration (3)")
    parser.add_argument(
        "--batch-floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also BatchWriteItem's floor",
    )
    parser.add_argument("--large-count", type=int, default=8)
    parser.add_argument("--large-mb", type=int, default=50)
    parser.add_argument("--large-concurrency", type=int, default=4)
    parser.add_argument("--no-memory", dest="memory", action="store_false", help="skip the peak RSS runs")
    args = parser.parse_args()
    started = time.monotonic()
    print(
        f"load average before: {' '.join(f'{load:.2f}' for load in os.getloadavg())} ({os.cpu_count()} CPUs)"
    )
    server, port = start_server(args.delay, max(args.n, args.large_count), args.large_mb * MB)
    standin, aws_port = start_aws_standin()
    try:
        print_table(transfer_table((port, aws_port), args), args)
        import_report()
        if args.memory:
            memory_report(port, args)
        masking_report()
    finally:
        for process in (server, standin):
            process.terminate()
            process.wait()
    print(f"\nload average after: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print(f"(bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()

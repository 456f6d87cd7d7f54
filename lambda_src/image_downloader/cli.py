"""``python -m image_downloader.download``: the download Lambda's engine on the command line.

Reads one path per line, checks each as the batch step does (canonical URL, duplicates dropped),
downloads them with at most ``-c`` in flight, and writes them under ``--out`` as ``make run`` does
(``<host>/<path>``; a file already there with the same content counts as downloaded, so a second run
into the folder resumes the first; one with other content is never overwritten) or discards them after
every check.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from image_downloader.engine import download_all
from image_downloader.failure_lines import failure_lines
from image_downloader.model import BatchOutcome, Sink
from image_downloader.request import check_path
from image_downloader.settings import DownloadSettings
from image_downloader.storage import DiscardSink, FolderSink
from image_downloader.timelimit import Deadline
from image_downloader.urls import UrlProblem, canonical_base_url

EXIT_ALL_DOWNLOADED = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2
EPILOG = """\
exit codes:
  0  every image downloaded
  1  some images failed (each is listed with its reason)
  2  usage or input error: bad option, unreadable --paths-file, invalid --base-url or path
"""


class InputError(Exception):
    """The command line or the paths file is wrong; the message names the argument and the problem."""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with _quiet_on_closed_stdout():
        try:
            urls, duplicates = _requested_urls(args.base_url, args.paths_file)
        except InputError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USAGE
        settings = DownloadSettings(
            bucket_name="",
            table_name="",
            max_image_bytes=args.max_bytes,
            allow_private_addresses=args.allow_private_addresses,
            connect_timeout_seconds=args.connect_timeout,
            read_timeout_seconds=args.read_timeout,
            image_time_limit_seconds=args.image_time_limit,
        )
        sink: Sink = FolderSink(args.out, one_origin=True) if args.out else DiscardSink()
        started = time.perf_counter()
        outcome = download_all(urls, args.concurrency, sink, settings, Deadline())
        elapsed = time.perf_counter() - started
        _print_summary(outcome, duplicates, elapsed, args.out)
    return EXIT_SOME_FAILED if outcome.failures else EXIT_ALL_DOWNLOADED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m image_downloader.download",
        description="Download images concurrently with the engine of the download Lambda.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = DownloadSettings("", "")
    parser.add_argument("--base-url", required=True, help="URL the paths are relative to")
    parser.add_argument("--paths-file", required=True, type=Path, help="one path per line ('#' comments)")
    parser.add_argument("-c", "--concurrency", type=_positive, default=10, help="requests in flight (10)")
    parser.add_argument(
        "--out",
        type=Path,
        help="folder to write the images to as <host>/<path>; a file already there with the same content "
        "counts as downloaded, one with other content is never overwritten (default: discard)",
    )
    parser.add_argument(
        "--allow-private-addresses",
        action="store_true",
        help="allow loopback and private addresses such as 127.0.0.1 (refused by default)",
    )
    parser.add_argument("--max-bytes", type=_positive, default=defaults.max_image_bytes)
    parser.add_argument("--connect-timeout", type=float, default=defaults.connect_timeout_seconds)
    parser.add_argument("--read-timeout", type=float, default=defaults.read_timeout_seconds)
    parser.add_argument(
        "--image-time-limit",
        type=float,
        default=defaults.image_time_limit_seconds,
        help=f"seconds one image may take, retries included ({defaults.image_time_limit_seconds:g})",
    )
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _requested_urls(base_url: str, paths_file: Path) -> tuple[list[str], int]:
    """The canonical URLs to download, in file order without duplicates, and how many were dropped."""
    try:
        base = canonical_base_url(base_url)
    except UrlProblem as problem:
        raise InputError(f"--base-url: {problem}") from None
    try:
        lines = paths_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"--paths-file: cannot read {paths_file}: {getattr(error, 'strerror', None) or error}"
        ) from None
    urls: list[str] = []
    for number, line in enumerate(lines, start=1):
        path = line.strip()
        if not path or path.startswith("#"):
            continue
        try:
            urls.append(base + check_path(path, base, image_key_prefix=""))
        except UrlProblem as problem:
            raise InputError(f"--paths-file line {number}: {problem}") from None
    unique = list(dict.fromkeys(urls))
    return unique, len(urls) - len(unique)


def _print_summary(outcome: BatchOutcome, duplicates: int, elapsed: float, out: Path | None) -> None:
    rate = outcome.succeeded / elapsed if elapsed > 0 else 0.0
    where = f" to {out}" if out else " (discarded)"
    dropped = f"; {duplicates} duplicate paths dropped" if duplicates else ""
    print(f"{outcome.succeeded} images downloaded{where} in {elapsed:.2f} s ({rate:.1f} images/s{dropped})")
    if outcome.failures:
        print(f"{outcome.failed} failed:")
        for line in failure_lines(failure.to_json() for failure in outcome.failures):
            print(f"  {line}")


@contextlib.contextmanager
def _quiet_on_closed_stdout() -> Iterator[None]:
    """``... | head`` closes stdout early: stop writing, without a traceback (Python's documented way)."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())

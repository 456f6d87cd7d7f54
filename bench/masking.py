"""Masking is linear in its text: ``redact`` of 1 MB against 64 KB of each hostile shape.

A failure reason quotes text a server chose; a pattern that backtracks turns that into seconds of CPU
per URL (64 KB of ``a+`` took 22 s before the patterns were made linear). Linear time gives a ratio of
about 16 (16 times the text); a quadratic pattern about 256.
"""

from __future__ import annotations

import time

from image_downloader.redact import redact

SMALL = 64 * 1024
LARGE = 1024 * 1024
# Each repeated to the length measured: the shapes that made one of the patterns backtrack, and the
# separators every pattern starts on.
HOSTILE_SHAPES = {
    "userinfo (a+a+...)": "a+",
    "scheme (a://a://...)": "a://",
    "userinfo (a://b@...)": "a://b@",
    "query (?a?a...)": "?a",
    "query (&a=&a=...)": "&a=",
    "jwt (eyJ-eyJ-...)": "eyJ-",
    "jwt (eyJaaaaa....)": "eyJaaaaa.",
    "opaque (aB1-aB1-...)": "aB1-",
    "access key (AKIA...)": "AKIA",
}


def shape(unit: str, length: int) -> str:
    return unit * (length // len(unit))


def seconds_to_mask(text: str) -> float:
    started = time.perf_counter()
    redact(text)
    return time.perf_counter() - started


def masking_report() -> None:
    print(f"\nMasking (redact) of {LARGE // 1024} KB against {SMALL // 1024} KB, each hostile shape")
    print(f"{'shape':<26}{'64 KB s':>10}{'1 MB s':>10}{'ratio':>8}   (16: linear, 256: quadratic)")
    for label, unit in HOSTILE_SHAPES.items():
        small = min(seconds_to_mask(shape(unit, SMALL)) for _ in range(3))
        large = min(seconds_to_mask(shape(unit, LARGE)) for _ in range(3))
        print(f"{label:<26}{small:>10.4f}{large:>10.4f}{large / small:>8.1f}")


if __name__ == "__main__":
    masking_report()

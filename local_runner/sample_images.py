"""Small, valid GIF images generated in code: the bundled sample set and the tests' images.

The seed downloads country flags (``<cc>/<cc>.gif``); the samples keep those paths so the same inputs run
offline against the local sample server.
"""

from __future__ import annotations

import struct

FLAG_CODES = ("cn", "in", "us", "id", "br", "pk", "ng", "bd", "ru", "jp")
FLAG_CODES += ("mx", "ph", "vn", "et", "eg", "de", "ir", "tr", "cd", "fr")

_WIDTH, _HEIGHT = 24, 16


def _lzw_uncompressed(indices: list[int]) -> bytes:
    """Encode 2-bit palette indices as GIF LZW data with fixed 3-bit codes (a clear code every 2 pixels)."""
    clear, end, code_size = 4, 5, 3
    codes: list[int] = []
    for start in range(0, len(indices), 2):
        codes.append(clear)
        codes.extend(indices[start : start + 2])
    codes.append(end)
    bits = 0
    nbits = 0
    out = bytearray()
    for code in codes:
        bits |= code << nbits
        nbits += code_size
        while nbits >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            nbits -= 8
    if nbits:
        out.append(bits & 0xFF)
    blocks = bytearray([2])  # LZW minimum code size
    for start in range(0, len(out), 255):
        chunk = out[start : start + 255]
        blocks.append(len(chunk))
        blocks.extend(chunk)
    blocks.append(0)
    return bytes(blocks)


def flag_gif(seed: str) -> bytes:
    """A 24x16 three-band GIF whose colours derive from ``seed`` (distinct seeds, distinct bytes)."""
    digest = [(ord(ch) * 53 + index * 97) % 256 for index, ch in enumerate(seed.ljust(3, "x"))]
    palette = bytes([digest[0], 40, 80, 250, digest[1], 60, 30, 90, digest[2], 255, 255, 255])
    bands = [0, 1, 2]
    indices = [bands[min(row * 3 // _HEIGHT, 2)] for row in range(_HEIGHT) for _ in range(_WIDTH)]
    header = b"GIF89a" + struct.pack("<HHBBB", _WIDTH, _HEIGHT, 0b10000001, 0, 0)
    image = b"," + struct.pack("<HHHHB", 0, 0, _WIDTH, _HEIGHT, 0)
    return header + palette + image + _lzw_uncompressed(indices) + b";"


def sample_set() -> dict[str, bytes]:
    """The bundled sample: ``{"cn/cn.gif": <gif>, ...}`` for every flag code."""
    return {f"{code}/{code}.gif": flag_gif(code) for code in FLAG_CODES}

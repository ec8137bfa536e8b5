"""A fast, lossless PNG encoder for screenshots sent to model servers: one deflate stream built in stripes.

Why not Pillow's `save(format="PNG")`: it deflates the whole image on one core (a 1080p screenshot
took 37 ms at compress_level 1 on the H200 host, most of a step's non-model time for a server).
Here the rows are written with PNG filter 0 (none), split into stripes that are deflated at level 1
on a thread pool (zlib releases the GIL), each stripe ended with a sync flush so the raw deflate
pieces join into one valid zlib stream (how pigz parallelises gzip), with the Adler-32 of all rows.
The deflate is ISA-L's (the `isal` package: about 7× zlib's speed at level 1 on a screenshot, about
the same size) where it is installed, else zlib-ng's (`zlib-ng`), else the standard library's.
The file is a standard 8-bit RGB (or RGBA) PNG that any decoder — the servers' Pillow included —
reads back to exactly the same pixels (tests/policies/qwen/test_png.py).
Not for: other modes than L/RGB/RGBA (converted to RGB first) or saving files for people to view.
"""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import Executor
from typing import Any

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPES = {"L": (0, 1), "RGB": (2, 3), "RGBA": (6, 4)}  # mode: (PNG colour type, bytes per pixel)


def deflate_module() -> Any:
    """The fastest zlib-compatible module at hand: isal_zlib, zlib_ng, or zlib."""
    try:
        from isal import isal_zlib

        return isal_zlib
    except ImportError:
        pass
    try:
        from zlib_ng import zlib_ng

        return zlib_ng
    except ImportError:
        return zlib


def png_bytes(image: Any, pool: Executor | None = None, stripes: int = 8, level: int = 1, z: Any = None) -> bytes:
    """`image` (a PIL image) as PNG bytes; with `pool`, the stripes are deflated in parallel; `z`: the
    zlib-compatible module (None: `deflate_module()`)."""
    import numpy as np

    z = z or deflate_module()
    if image.mode not in _COLOR_TYPES:
        image = image.convert("RGB")
    color_type, channels = _COLOR_TYPES[image.mode]
    pixels = np.asarray(image, dtype=np.uint8).reshape(image.height, image.width * channels)
    rows = np.zeros((image.height, image.width * channels + 1), dtype=np.uint8)  # column 0: filter type 0
    rows[:, 1:] = pixels
    bounds = _bounds(image.height, max(1, min(stripes, image.height)))
    parts = [rows[start:end] for start, end in bounds]
    last = len(parts) - 1
    if pool is None or len(parts) == 1:
        pieces = [_deflate(z, part, level, i == last) for i, part in enumerate(parts)]
        adler = z.adler32(rows)
    else:
        futures = [pool.submit(_deflate, z, part, level, i == last) for i, part in enumerate(parts)]
        adler = z.adler32(rows)  # on this thread meanwhile (it releases the GIL too)
        pieces = [future.result() for future in futures]
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, color_type, 0, 0, 0)
    stream = b"".join((b"\x78\x01", *pieces, struct.pack(">I", adler & 0xFFFFFFFF)))
    return b"".join((SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", stream), _chunk(b"IEND", b"")))


def _bounds(height: int, count: int) -> list[tuple[int, int]]:
    step = -(-height // count)
    return [(start, min(start + step, height)) for start in range(0, height, step)]


def _deflate(z: Any, rows: Any, level: int, final: bool) -> bytes:
    """Raw deflate of one stripe: byte-aligned and unfinished (sync flush) unless it is the last."""
    compressor = z.compressobj(level, z.DEFLATED, -15, 9)
    return compressor.compress(rows) + compressor.flush(z.Z_FINISH if final else z.Z_SYNC_FLUSH)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))

"""Small real files for attachment tests: a PNG drawn here, a GIF, and files that only claim to be images."""

from __future__ import annotations

import struct
import zlib


def png(width: int = 40, height: int = 30, rgb: tuple[int, int, int] = (220, 40, 60)) -> bytes:
    """A valid PNG of one colour (8-bit RGB, no filter), which browsers decode."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b"")


# A 1x1 transparent GIF.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
# Markup that a browser would run if it sniffed it, or trusted the declared type.
HTML_AS_IMAGE = b"<html><body><script>alert('sniffed')</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>'
BINARY = bytes(range(256)) * 4

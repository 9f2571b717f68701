"""QR codes as PlaceOS calendar drivers return them: SVG markup or a base64 PNG.

Both use error-correction level H, the encoding mode that fits the text (numeric,
alphanumeric, else bytes) and the smallest version that holds it (segno picks these). The
output layout follows the original driver's QR library (spider-gazelle/qr-code v1.0):

* SVG: 11 px modules, no quiet zone, white background rectangle, one line of black
  ``<rect>`` elements per module row;
* PNG: a ``size`` x ``size`` canvas (grown when the code cannot fit), module size
  ``size // (modules + 6)`` (at least 1 px), the code centred, black on white; returned as
  strict base64 without a ``data:`` prefix.
"""

from __future__ import annotations

import base64
import struct
import zlib

import segno

__all__ = ["SVG_MODULE_SIZE", "png_qrcode", "qr_matrix", "svg_qrcode"]

SVG_MODULE_SIZE = 11
PNG_BORDER_MODULES = 3


def qr_matrix(text: str) -> list[list[bool]]:
    """Rows of dark (True) / light modules of the QR code for ``text``, without quiet zone."""
    code = segno.make_qr(text, error="h", boost_error=False)
    return [[bool(cell) for cell in row] for row in code.matrix]


def svg_qrcode(text: str, module_size: int = SVG_MODULE_SIZE) -> str:
    """SVG document of the QR code for ``text``."""
    matrix = qr_matrix(text)
    side = len(matrix) * module_size
    lines = [
        '<?xml version="1.0" standalone="yes"?>',
        '<svg version="1.1" xmlns="http://www.w3.org/2000/svg" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:ev="http://www.w3.org/2001/xml-events" '
        f'width="{side}" height="{side}" shape-rendering="crispEdges">',
        f'<rect width="{side}" height="{side}" x="0" y="0" style="fill:#fff"/>',
    ]
    for row_index, row in enumerate(matrix):
        y = row_index * module_size
        lines.append("".join(
            f'<rect width="{module_size}" height="{module_size}" x="{col * module_size}" '
            f'y="{y}" style="fill:#000"/>'
            for col, dark in enumerate(row) if dark
        ))
    lines.append("</svg>")
    return "\n".join(lines)


def png_qrcode(text: str, size: int = 128) -> str:
    """Base64 PNG (8-bit greyscale) of the QR code for ``text`` on a ``size`` px square."""
    if size < 1:
        raise ValueError("size must be at least 1 pixel")
    matrix = qr_matrix(text)
    count = len(matrix)
    pixel = max(1, size // (count + 2 * PNG_BORDER_MODULES))
    code_side = count * pixel
    canvas = max(size, code_side)
    margin = (canvas - code_side) // 2
    blank = b"\xff" * canvas
    rows = []
    for y in range(canvas):
        module_row = (y - margin) // pixel
        if not 0 <= y - margin < code_side:
            rows.append(b"\x00" + blank)
            continue
        line = bytearray(blank)
        for col, dark in enumerate(matrix[module_row]):
            if dark:
                start = margin + col * pixel
                line[start:start + pixel] = b"\x00" * pixel
        rows.append(b"\x00" + bytes(line))
    return base64.b64encode(_png(canvas, canvas, b"".join(rows))).decode("ascii")


def _png(width: int, height: int, filtered_rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(filtered_rows, 9)) + chunk(b"IEND", b""))

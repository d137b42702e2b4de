"""QR codes for share links, drawn with the `qrcode` library (no network, no database).

Error correction is M (about 15 % of the code may be damaged or covered and it still
scans), the version (size) is the smallest that holds the URL, with the standard 4-module
quiet zone. PNG: 10 pixels per module, 1-bit. SVG: a single <path>, scalable.

Rendering is deterministic: the same URL and `QR_RENDER_VERSION` give the same bytes.
Bump `QR_RENDER_VERSION` when the drawing changes, so cached images are replaced.
"""
from __future__ import annotations

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M

QR_RENDER_VERSION = 1
ERROR_CORRECTION = ERROR_CORRECT_M
BOX_SIZE = 10  # pixels per module in the PNG
BORDER = 4  # modules of quiet zone on each side (the standard's minimum)

PNG = "png"
SVG = "svg"
CONTENT_TYPES = {PNG: "image/png", SVG: "image/svg+xml"}


def qr_build(*, data: str) -> qrcode.QRCode:
    """The fitted QR code for `data` (error correction M, smallest version that holds it)."""
    if not isinstance(data, str) or not data:
        raise ValueError("QR data must be a non-empty string")
    qr = qrcode.QRCode(version=None, error_correction=ERROR_CORRECTION, box_size=BOX_SIZE, border=BORDER)
    qr.add_data(data)
    qr.make(fit=True)
    return qr


def qr_pixel_size(qr: qrcode.QRCode) -> int:
    """The PNG's width and height in pixels."""
    return (qr.modules_count + 2 * qr.border) * qr.box_size


def qr_image(*, data: str, max_size: int):
    """A PIL image (mode "1") of the QR code with whole-pixel modules, at most `max_size` pixels
    square (for drawing into posters: scaling a finished image would blur or distort modules)."""
    qr = qr_build(data=data)
    qr.box_size = max(1, max_size // (qr.modules_count + 2 * qr.border))
    return qr.make_image().get_image()


def qr_render(*, data: str, kind: str) -> bytes:
    """The QR code for `data` as PNG or SVG bytes."""
    qr = qr_build(data=data)
    buffer = io.BytesIO()
    if kind == PNG:
        qr.make_image().get_image().save(buffer, format="PNG", optimize=True)
    elif kind == SVG:
        qr.make_image(image_factory=qrcode.image.svg.SvgPathImage).save(buffer)
    else:
        raise ValueError(f"unknown QR image kind {kind!r}")
    return buffer.getvalue()

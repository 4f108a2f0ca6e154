"""Post images for the email: raster files from the static folder, with their pixel size."""

from __future__ import annotations

import struct
from typing import Any
from urllib.parse import urlsplit

from innovate_news.settings import Settings

WIDTH = 552  # the 600 px column less its 24 px padding each side
_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def pixel_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF or JPEG from its header; None for anything else.

    SVG is left out on purpose: Gmail and Outlook do not show it."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 9 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        at += 2 + length
    return None


def card_image(settings: Settings, image: Any) -> dict[str, Any] | None:
    """What a card shows of a post's image: src, alt and a size fitted to the column.

    Only images in the static folder whose size can be read: a width and height in the HTML
    keep the layout still while the image loads (or when images are off)."""
    if not image:
        return None
    src = str(image["src"])
    base = settings.base_url
    relative = src[len(base) :] if src.startswith(base) else None
    if relative is None or urlsplit(relative).query:
        return None
    static = settings.folder("static").resolve()
    path = (static / relative.lstrip("/")).resolve()
    if not path.is_relative_to(static) or not path.is_file():
        return None
    with path.open("rb") as handle:
        size = pixel_size(handle.read(64 * 1024))
    if size is None or not all(size):
        return None
    width = min(WIDTH, size[0])
    return {
        "src": src,
        "alt": image["alt"],
        "width": width,
        "height": max(1, round(size[1] * width / size[0])),
    }

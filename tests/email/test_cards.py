"""The issue's cards: titles as links, images with their size, room above buttons, sign-off."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from innovate_news.email import images
from innovate_news.email.checks import GMAIL_CLIP_BYTES
from tests.email.test_reader_copy import part, sent

LIST = "email,name\nreader@example.org,Rita Reader\n"
POST = "2023-02-14-working-with-stakeholders.md"
STAKEHOLDERS = "https://example.org/innovate/posts/working-with-stakeholders/"


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def add_to_email_settings(project: Path, lines: str) -> None:
    toml = project / "innovate-news.toml"
    text = toml.read_text(encoding="utf-8").replace("[email]\n", "[email]\n" + lines, 1)
    toml.write_text(text, encoding="utf-8")


def test_each_title_is_the_only_link_to_its_post(project: Path, run: Callable[..., Result]) -> None:
    html = part(sent(project, run, LIST)["reader@example.org"], "html")
    assert "Read more" not in html
    texts = re.findall(r"<h3[^>]*><a [^>]*>([^<]+)</a></h3>", html)
    assert texts == [
        "Inside the fieldwork: how the six case studies are designed",
        "The final year: working with stakeholders",
        "Guidance launch workshop",
    ]
    assert len(re.findall(rf'href="{re.escape(STAKEHOLDERS)}"', html)) == 1


def test_buttons_have_room_above_them(project: Path, run: Callable[..., Result]) -> None:
    html = part(sent(project, run, LIST)["reader@example.org"], "html")
    before = html[: html.index(">Book a place</a>")]
    (style,) = re.findall(r'<td class="in-button"[^>]* style="([^"]*)"', before)  # its cell
    top = re.search(r"padding: ?(\d+)px", style)
    assert top is not None and int(top.group(1)) >= 12


def test_a_post_image_comes_with_width_height_and_alt(
    project: Path, run: Callable[..., Result]
) -> None:
    (project / "static" / "images" / "meeting.png").write_bytes(png(1200, 800))
    post = project / "posts" / POST
    image = '\nimage:\n  src: images/meeting.png\n  alt: "Stakeholders around a table"\n---\n'
    text = post.read_text(encoding="utf-8")
    post.write_text(text.replace("\n---\n", image, 1), encoding="utf-8")  # ends the front matter
    html = part(sent(project, run, LIST)["reader@example.org"], "html")
    (img,) = [tag for tag in re.findall(r"<img [^>]*>", html) if "meeting.png" in tag]
    assert 'alt="Stakeholders around a table"' in img
    assert 'width="552"' in img and 'height="368"' in img  # 1200 × 800 fitted to the column
    assert len(html.encode("utf-8")) < GMAIL_CLIP_BYTES
    assert run("check").exit_code == 0


def test_only_raster_images_have_a_size_read() -> None:
    assert images.pixel_size(b"<svg xmlns='http://www.w3.org/2000/svg'/>") is None
    assert images.pixel_size(png(10, 4)) == (10, 4)


def test_the_sign_off_closes_the_editorial(project: Path, run: Callable[..., Result]) -> None:
    add_to_email_settings(project, 'sign_off = ["Best wishes,", "Ada and the project team"]\n')
    copy = sent(project, run, LIST)["reader@example.org"]
    html, text = part(copy, "html"), part(copy, "plain")
    assert re.search(r"Best wishes,<br>\s*Ada and the project team", html)
    assert "Best wishes,\nAda and the project team\n" in text
    assert html.index("Ada and the project team") < html.index("New findings")

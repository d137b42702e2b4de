"""Share posters (海报), drawn with Pillow: the target's image, its title, its price, the QR
code of the share link and "<nickname> 推荐".

No network at request time: an image on our own media storage (a `MEDIA_URL` path, or the
same under `PUBLIC_BASE_URL`) is read from `MEDIA_ROOT`; any other image URL (a CDN, a
remote host) is *not* fetched, and a neutral placeholder block is drawn instead. Fetching
remote images while answering a request would let anyone make us call arbitrary hosts and
would tie our latency to theirs.

Chinese text needs a CJK font: `FONT_PATH` (setting or environment) or Debian's
fonts-wqy-microhei (installed by scripts/fonts.sh). Without one the poster is still drawn,
with Pillow's default font (which has no Chinese glyphs), and a warning is logged.

Bump `POSTER_RENDER_VERSION` when the layout changes, so cached posters are replaced.
"""
from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageDraw, ImageFont

from .qr import qr_image

logger = logging.getLogger(__name__)

POSTER_RENDER_VERSION = 1
DEFAULT_FONT_PATH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

WIDTH, HEIGHT = 750, 1200
MARGIN = 40
IMAGE_BOX = (0, 0, WIDTH, 750)
TITLE_TOP = 790
TITLE_SIZE = 36
TITLE_LINE_HEIGHT = 50
TITLE_MAX_LINES = 2
PRICE_TOP = 910
PRICE_SIZE = 48
QR_SIZE = 220
QR_BOX = (WIDTH - MARGIN - QR_SIZE, HEIGHT - MARGIN - QR_SIZE)
BY_TOP = 1010
BY_SIZE = 30
HINT_SIZE = 24
NICKNAME_MAX_CHARS = 16
MAX_SOURCE_PIXELS = 4096 * 4096  # a larger media file is not decoded (placeholder instead)

BACKGROUND = (255, 255, 255)
TEXT = (34, 34, 34)
MUTED = (136, 136, 136)
PRICE = (230, 40, 40)
PLACEHOLDER = (238, 238, 238)
PLACEHOLDER_MARK = (210, 210, 210)

# The text area the tests (and a reviewer) look at: title, price and "推荐" line.
TEXT_AREA = (MARGIN, TITLE_TOP, QR_BOX[0] - 10, BY_TOP + 80)


@dataclass(frozen=True)
class PosterContent:
    title: str
    price_fen: int | None
    image_url: str
    nickname: str
    qr_data: str


def price_text(price_fen: int) -> str:
    """19900 -> "¥199.00", by integer arithmetic."""
    if isinstance(price_fen, bool) or not isinstance(price_fen, int) or price_fen < 0:
        raise ValueError("price_fen must be a non-negative int")
    yuan, fen = divmod(price_fen, 100)
    return f"¥{yuan}.{fen:02d}"


# --- fonts ---------------------------------------------------------------------------


def font_path() -> str | None:
    """The CJK font file to use, or None when there is none."""
    configured = getattr(settings, "FONT_PATH", "") or os.environ.get("FONT_PATH", "")
    for candidate in (configured, DEFAULT_FONT_PATH):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


@functools.lru_cache(maxsize=32)
def _truetype(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        logger.warning(message)


def load_font(size: int):
    """The CJK font at `size`, or Pillow's default font (and a warning) when it is missing."""
    path = font_path()
    if path is not None:
        try:
            return _truetype(path, size)
        except OSError:
            _warn_once(f"poster font {path} could not be loaded; using Pillow's default font (no Chinese glyphs)")
    else:
        _warn_once(
            "no CJK font for posters (set FONT_PATH or run scripts/fonts.sh); using Pillow's default font, "
            "Chinese text will not render"
        )
    return ImageFont.load_default(size=size)


def font_identity() -> str:
    """What the poster's look depends on besides its content (part of the cache version)."""
    path = font_path()
    if path is None:
        return "default"
    stat = os.stat(path)
    return f"{path}:{stat.st_size}:{int(stat.st_mtime)}"


# --- images --------------------------------------------------------------------------


def local_media_path(image_url: str) -> Path | None:
    """The file under MEDIA_ROOT that `image_url` names, when it is one of ours; else None.

    Only `MEDIA_URL...` and `PUBLIC_BASE_URL + MEDIA_URL...` count; the resolved path must stay
    inside MEDIA_ROOT (no `..` escapes) and be a file."""
    if not isinstance(image_url, str) or not image_url:
        return None
    media_url = settings.MEDIA_URL
    candidates = [media_url]
    if media_url.startswith("/"):
        candidates.append(settings.PUBLIC_BASE_URL.rstrip("/") + media_url)
    relative = next((image_url[len(p):] for p in candidates if image_url.startswith(p)), None)
    if not relative or "?" in relative or "#" in relative or "\x00" in relative:
        return None
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        path = (root / relative).resolve()
    except (OSError, ValueError):
        return None
    if root not in path.parents or not path.is_file():
        return None
    return path


def image_identity(image_url: str) -> str:
    """The image's part of the poster's version: the local file's size and time, or "remote"."""
    path = local_media_path(image_url)
    if path is None:
        return "none" if not image_url else "remote"
    stat = path.stat()
    return f"{stat.st_size}:{int(stat.st_mtime)}"


def _cover(source: Image.Image, box: tuple[int, int]) -> Image.Image:
    """`source` scaled and cropped to fill `box` (centre crop)."""
    width, height = box
    scale = max(width / source.width, height / source.height)
    resized = source.resize((max(width, round(source.width * scale)), max(height, round(source.height * scale))))
    left = (resized.width - width) // 2
    top = (resized.height - height) // 2
    return resized.crop((left, top, left + width, top + height))


def _placeholder(canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
    left, top, right, bottom = IMAGE_BOX
    draw.rectangle(IMAGE_BOX, fill=PLACEHOLDER)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    draw.rounded_rectangle((cx - 90, cy - 70, cx + 90, cy + 70), radius=16, outline=PLACEHOLDER_MARK, width=8)
    draw.ellipse((cx - 30, cy - 30, cx + 30, cy + 30), outline=PLACEHOLDER_MARK, width=8)


def _draw_image(canvas: Image.Image, draw: ImageDraw.ImageDraw, image_url: str) -> None:
    path = local_media_path(image_url)
    if path is None:
        _placeholder(canvas, draw)
        return
    try:
        with Image.open(path) as source:
            if source.width * source.height > MAX_SOURCE_PIXELS:
                raise ValueError("image too large")
            source = source.convert("RGB")
            width, height = IMAGE_BOX[2] - IMAGE_BOX[0], IMAGE_BOX[3] - IMAGE_BOX[1]
            canvas.paste(_cover(source, (width, height)), IMAGE_BOX[:2])
    except (OSError, ValueError, Image.DecompressionBombError):
        logger.warning("poster: media image %s could not be read; drawing a placeholder", path)
        _placeholder(canvas, draw)


# --- text ------------------------------------------------------------------------------


def wrap_text(text: str, font, max_width: int, max_lines: int) -> list[str]:
    """`text` broken into at most `max_lines` lines no wider than `max_width` pixels, character by
    character (Chinese has no spaces); a cut-off last line ends with "…"."""
    text = " ".join(text.split())
    lines: list[str] = []
    current = ""
    for ch in text:
        if font.getlength(current + ch) <= max_width:
            current += ch
            continue
        lines.append(current)
        current = ch.lstrip()
        if len(lines) == max_lines:
            break
    else:
        if current:
            lines.append(current)
        return lines
    last = lines[-1]
    while last and font.getlength(last + "…") > max_width:
        last = last[:-1]
    lines[-1] = last + "…"
    return lines


def _short_nickname(nickname: str) -> str:
    nickname = " ".join((nickname or "").split())
    if len(nickname) > NICKNAME_MAX_CHARS:
        nickname = nickname[: NICKNAME_MAX_CHARS - 1] + "…"
    return nickname


# --- the poster ------------------------------------------------------------------------


def poster_version(content: PosterContent) -> str:
    """A short hash of everything the poster's bytes depend on: its cache key and ETag part."""
    parts = [
        str(POSTER_RENDER_VERSION),
        content.title,
        "" if content.price_fen is None else str(content.price_fen),
        content.image_url,
        image_identity(content.image_url),
        content.nickname,
        content.qr_data,
        font_identity(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def poster_render(content: PosterContent) -> bytes:
    """The poster as PNG bytes (WIDTH x HEIGHT, RGB)."""
    canvas = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    _draw_image(canvas, draw, content.image_url)

    text_width = QR_BOX[0] - MARGIN - 20
    title_font = load_font(TITLE_SIZE)
    for i, line in enumerate(wrap_text(content.title or " ", title_font, text_width, TITLE_MAX_LINES)):
        draw.text((MARGIN, TITLE_TOP + i * TITLE_LINE_HEIGHT), line, font=title_font, fill=TEXT)

    if content.price_fen is not None:
        draw.text((MARGIN, PRICE_TOP), price_text(content.price_fen), font=load_font(PRICE_SIZE), fill=PRICE)

    nickname = _short_nickname(content.nickname)
    by_line = f"{nickname} 推荐" if nickname else "好友推荐"
    draw.text((MARGIN, BY_TOP), by_line, font=load_font(BY_SIZE), fill=TEXT)
    draw.text((MARGIN, BY_TOP + 50), "长按识别二维码", font=load_font(HINT_SIZE), fill=MUTED)

    qr = qr_image(data=content.qr_data, max_size=QR_SIZE).convert("RGB")
    offset = (QR_SIZE - qr.width) // 2
    canvas.paste(qr, (QR_BOX[0] + offset, QR_BOX[1] + offset))

    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()

"""Posters: layout, price text, Chinese font (and the fallback without it), local media images
only (no network), the cached endpoint with ETag/304 and a new poster when the content changes."""
from __future__ import annotations

import logging
import os
import socket

import pytest
from PIL import Image, ImageChops, ImageDraw

from distributors import poster as poster_mod
from tests.factories import DistributorFactory, ShareLinkFactory

from .links_helpers import make_product, png_image

pytestmark = pytest.mark.django_db

BASE = "https://shop.example.com"
CJK_FONT_PRESENT = os.path.isfile(poster_mod.DEFAULT_FONT_PATH)


@pytest.fixture(autouse=True)
def _base(settings, tmp_path):
    settings.PUBLIC_BASE_URL = BASE
    settings.SHARE_LINK_MP_QR = False
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.MEDIA_URL = "/media/"
    os.makedirs(settings.MEDIA_ROOT)
    poster_mod._warned.clear()


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to reach a host other than this machine (PostgreSQL and Redis) fails the test."""
    local = {"127.0.0.1", "localhost", "::1"}
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(self, address):
        if isinstance(address, tuple) and address[0] not in local:
            raise AssertionError(f"poster tried to connect to {address}")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in local:
            raise AssertionError(f"poster tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _content(**overrides) -> poster_mod.PosterContent:
    fields = {
        "title": "云南普洱熟茶 357克 茶饼",
        "price_fen": 1990,
        "image_url": "",
        "nickname": "小明",
        "qr_data": f"{BASE}/s/ABCDEFGH",
    }
    fields.update(overrides)
    return poster_mod.PosterContent(**fields)


def _ink(image: Image.Image, box) -> int:
    """How many pixels in `box` differ from the background."""
    region = image.convert("RGB").crop(box)
    background = Image.new("RGB", region.size, poster_mod.BACKGROUND)
    diff = ImageChops.difference(region, background).convert("L").point(lambda v: 255 if v > 40 else 0)
    return sum(1 for v in diff.getdata() if v)


# --- pure parts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "text"),
    [(1990, "¥19.90"), (0, "¥0.00"), (5, "¥0.05"), (100, "¥1.00"), (12345678901, "¥123456789.01"),
     (10**18 + 1, "¥10000000000000000.01")],
)  # fmt: skip
def test_price_text_is_exact(fen, text):
    assert poster_mod.price_text(fen) == text


@pytest.mark.parametrize("bad", [-1, 19.9, "1990", True, None])
def test_price_text_refuses_non_fen(bad):
    with pytest.raises(ValueError):
        poster_mod.price_text(bad)


def test_wrap_text_keeps_to_the_width_and_line_count():
    font = poster_mod.load_font(poster_mod.TITLE_SIZE)
    lines = poster_mod.wrap_text("茶" * 100, font, 300, 2)
    assert len(lines) == 2
    assert lines[-1].endswith("…")
    assert all(font.getlength(line) <= 300 for line in lines)
    assert poster_mod.wrap_text("短标题", font, 300, 2) == ["短标题"]
    assert poster_mod.wrap_text("a  b\n c", font, 300, 2) == ["a b c"]


def test_poster_has_the_size_and_ink_where_the_text_goes(no_network):
    image = png_image(poster_mod.poster_render(_content()))
    assert image.size == (poster_mod.WIDTH, poster_mod.HEIGHT)
    left, top, right, bottom = poster_mod.TEXT_AREA
    assert _ink(image, (left, poster_mod.TITLE_TOP, right, poster_mod.TITLE_TOP + 50)) > 200  # title
    assert _ink(image, (left, poster_mod.PRICE_TOP, right, poster_mod.PRICE_TOP + 60)) > 200  # price
    assert _ink(image, (left, poster_mod.BY_TOP, right, poster_mod.BY_TOP + 40)) > 100  # "<nickname> 推荐"
    qr_left, qr_top = poster_mod.QR_BOX
    assert _ink(image, (qr_left, qr_top, qr_left + poster_mod.QR_SIZE, qr_top + poster_mod.QR_SIZE)) > 5000
    # Without a price, the price row stays empty.
    bare = png_image(poster_mod.poster_render(_content(price_fen=None)))
    assert _ink(bare, (left, poster_mod.PRICE_TOP, right, poster_mod.PRICE_TOP + 60)) == 0


def test_a_remote_image_is_not_fetched_a_placeholder_is_drawn(no_network):
    image = png_image(poster_mod.poster_render(_content(image_url="https://cdn.example.com/tea.jpg")))
    assert image.convert("RGB").getpixel((10, 10)) == poster_mod.PLACEHOLDER


def test_an_image_on_our_media_storage_is_used(settings, no_network):
    os.makedirs(os.path.join(settings.MEDIA_ROOT, "products"))
    Image.new("RGB", (400, 300), (200, 30, 30)).save(os.path.join(settings.MEDIA_ROOT, "products", "red.png"))
    for url in ("/media/products/red.png", f"{BASE}/media/products/red.png"):
        image = png_image(poster_mod.poster_render(_content(image_url=url))).convert("RGB")
        assert image.getpixel((375, 375)) == (200, 30, 30), url
        assert image.getpixel((5, 5)) == (200, 30, 30), url  # cover: the image fills the box


@pytest.mark.parametrize(
    "url",
    ["/media/../secret.png", "/media/products/missing.png", "/media/", "/media/products/red.png?x=1",
     "file:///etc/passwd", "/etc/passwd", "//evil.example.com/media/a.png", "/media/broken.png"],
)  # fmt: skip
def test_media_urls_outside_our_files_get_the_placeholder(settings, tmp_path, url, no_network):
    (tmp_path / "secret.png").write_bytes(b"not for posters")
    with open(os.path.join(settings.MEDIA_ROOT, "broken.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\nnot really")
    if url != "/media/broken.png":
        assert poster_mod.local_media_path(url) is None
    image = png_image(poster_mod.poster_render(_content(image_url=url))).convert("RGB")
    assert image.getpixel((10, 10)) == poster_mod.PLACEHOLDER


@pytest.mark.skipif(not CJK_FONT_PRESENT, reason="fonts-wqy-microhei is not installed (scripts/fonts.sh)")
def test_chinese_text_gets_real_glyphs():
    font = poster_mod.load_font(30)
    assert getattr(font, "path", None) == poster_mod.DEFAULT_FONT_PATH

    def glyph(ch):
        image = Image.new("L", (40, 40), 255)
        ImageDraw.Draw(image).text((2, 2), ch, font=font, fill=0)
        return image

    # Distinct characters draw distinct shapes (a font without them draws the same box).
    assert ImageChops.difference(glyph("推"), glyph("荐")).getbbox() is not None
    assert glyph("推").getbbox() is not None


def test_without_the_font_the_poster_falls_back_and_warns(monkeypatch, settings, caplog):
    monkeypatch.setattr(poster_mod, "DEFAULT_FONT_PATH", "/nonexistent/wqy-microhei.ttc")
    settings.FONT_PATH = "/nonexistent/other.ttf"
    monkeypatch.delenv("FONT_PATH", raising=False)
    assert poster_mod.font_path() is None
    with caplog.at_level(logging.WARNING, logger="distributors.poster"):
        body = poster_mod.poster_render(_content(title="Puer tea 357g"))
    assert any("no CJK font" in r.getMessage() for r in caplog.records)
    image = png_image(body)
    assert image.size == (poster_mod.WIDTH, poster_mod.HEIGHT)
    left, _, right, _ = poster_mod.TEXT_AREA
    assert _ink(image, (left, poster_mod.TITLE_TOP, right, poster_mod.TITLE_TOP + 50)) > 50
    assert poster_mod.font_identity() == "default"


def test_font_path_setting_wins_and_an_unreadable_font_falls_back(monkeypatch, settings, tmp_path, caplog):
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font")
    settings.FONT_PATH = str(bogus)
    assert poster_mod.font_path() == str(bogus)
    with caplog.at_level(logging.WARNING, logger="distributors.poster"):
        font = poster_mod.load_font(33)
    assert getattr(font, "path", None) != str(bogus)
    assert any("could not be loaded" in r.getMessage() for r in caplog.records)


# --- the endpoint -------------------------------------------------------------------------------


@pytest.fixture
def product_link(db):
    distributor = DistributorFactory(user__nickname="小明")
    product = make_product(price_fen=1990, title="云南普洱熟茶")
    return ShareLinkFactory(distributor=distributor, target_type="product", target_id=product.pk), product


def _poster(client, code, **headers):
    return client.get(f"/api/v1/share-links/{code}/poster.png", **headers)


def test_poster_endpoint(api_client, product_link, no_network):
    link, _ = product_link
    res = _poster(api_client, link.code)
    assert res.status_code == 200
    assert res["Content-Type"] == "image/png"
    assert res["Cache-Control"] == "public, max-age=86400"
    assert res["X-Cache"] == "miss"
    image = png_image(res.content)
    assert image.size == (750, 1200)
    assert _ink(image, poster_mod.TEXT_AREA) > 1000
    again = _poster(api_client, link.code)
    assert (again["X-Cache"], again["ETag"], again.content) == ("hit", res["ETag"], res.content)
    not_modified = _poster(api_client, link.code, HTTP_IF_NONE_MATCH=res["ETag"])
    assert (not_modified.status_code, not_modified.content) == (304, b"")


def test_a_changed_title_price_or_nickname_gives_a_new_poster(api_client, product_link):
    link, product = product_link
    etags = {_poster(api_client, link.code)["ETag"]}
    product.title = "新标题"
    product.save(update_fields=["title"])
    etags.add(_poster(api_client, link.code)["ETag"])
    product.skus.update(price_fen=2990)
    etags.add(_poster(api_client, link.code)["ETag"])
    user = link.distributor.user
    user.nickname = "小红"
    user.save(update_fields=["nickname"])
    res = _poster(api_client, link.code)
    etags.add(res["ETag"])
    assert len(etags) == 4
    assert res["X-Cache"] == "miss"
    # The old ETag no longer answers 304.
    assert _poster(api_client, link.code, HTTP_IF_NONE_MATCH=sorted(etags - {res["ETag"]})[0]).status_code == 200


def test_poster_content_comes_from_the_target(product_link):
    from distributors.selectors.links import share_link_poster_content

    link, product = product_link
    content = share_link_poster_content(link=link)
    assert (content.title, content.price_fen, content.nickname) == ("云南普洱熟茶", 1990, "小明")
    assert content.image_url == "https://img.example.com/cover.png"
    assert content.qr_data == f"{BASE}/s/{link.code}"


def test_store_and_recruit_posters(api_client, db):
    distributor = DistributorFactory(user__nickname="")
    for target_type in ("store", "recruit"):
        link = ShareLinkFactory(distributor=distributor, target_type=target_type)
        res = _poster(api_client, link.code)
        assert res.status_code == 200, target_type
        assert png_image(res.content).size == (750, 1200)


def test_poster_of_an_off_shelf_product_is_404(api_client, product_link):
    link, product = product_link
    product.on_shelf = False
    product.save(update_fields=["on_shelf"])
    res = _poster(api_client, link.code)
    assert (res.status_code, res.json()["code"]) == (404, "not_found")
    # The QR code still works: it only carries the short link.
    assert api_client.get(f"/api/v1/share-links/{link.code}/qr.png").status_code == 200

"""QR codes: what we ask the qrcode library for, the PNG and SVG we draw, and the public,
cached, ETag-validated image endpoints.

No QR decoder is installed, so instead of decoding we read the code's module matrix (built
by qrcode for the link's URL, error correction M) back out of the PNG pixel by pixel."""
from __future__ import annotations

import re

import pytest
import qrcode
from qrcode.constants import ERROR_CORRECT_L, ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError

from distributors import qr as qr_mod
from tests.factories import ShareLinkFactory

from .links_helpers import png_image

pytestmark = pytest.mark.django_db

BASE = "https://shop.example.com"


@pytest.fixture(autouse=True)
def _base(settings):
    settings.PUBLIC_BASE_URL = BASE
    settings.SHARE_LINK_MP_QR = False


@pytest.fixture
def link(db):
    return ShareLinkFactory()


def _png_url(code: str) -> str:
    return f"/api/v1/share-links/{code}/qr.png"


# --- rendering -------------------------------------------------------------------------------


def test_qr_uses_error_correction_m_and_the_smallest_version():
    url = f"{BASE}/s/ABCDEFGH"
    qr = qr_mod.qr_build(data=url)
    assert qr.error_correction == ERROR_CORRECT_M
    assert qr.error_correction != ERROR_CORRECT_L
    assert qr.border == 4
    # The version is the smallest that holds the URL at level M: one less overflows.
    smaller = qrcode.QRCode(version=qr.version - 1, error_correction=ERROR_CORRECT_M)
    smaller.add_data(url)
    with pytest.raises(DataOverflowError):
        smaller.make(fit=False)
    assert qr.modules_count == 17 + 4 * qr.version


def test_png_is_the_module_matrix_of_the_url():
    url = f"{BASE}/s/ABCDEFGH"
    qr = qr_mod.qr_build(data=url)
    body = qr_mod.qr_render(data=url, kind=qr_mod.PNG)
    image = png_image(body).convert("L")
    size = qr_mod.qr_pixel_size(qr)
    assert image.size == (size, size)
    box, border = qr.box_size, qr.border
    for row in range(qr.modules_count):
        for col in range(qr.modules_count):
            centre = ((border + col) * box + box // 2, (border + row) * box + box // 2)
            dark = image.getpixel(centre) < 128
            assert dark == qr.modules[row][col], (row, col)
    # The quiet zone is white all round.
    assert all(image.getpixel((x, 1)) == 255 for x in range(size))
    # Another URL gives another matrix.
    assert qr_mod.qr_render(data=f"{BASE}/s/ABCDEFGJ", kind=qr_mod.PNG) != body


def test_svg_has_path_data_and_the_module_grid():
    url = f"{BASE}/s/ABCDEFGH"
    qr = qr_mod.qr_build(data=url)
    svg = qr_mod.qr_render(data=url, kind=qr_mod.SVG).decode()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    match = re.search(r'<path[^>]* d="([^"]+)"', svg)
    assert match and len(match.group(1)) > 200
    side = qr.modules_count + 2 * qr.border
    assert f'viewBox="0 0 {side} {side}"' in svg
    # One unit square per dark module.
    assert match.group(1).count("z") == sum(map(sum, qr.modules))


def test_rendering_is_deterministic_and_rejects_nonsense():
    url = f"{BASE}/s/ABCDEFGH"
    assert qr_mod.qr_render(data=url, kind=qr_mod.PNG) == qr_mod.qr_render(data=url, kind=qr_mod.PNG)
    with pytest.raises(ValueError):
        qr_mod.qr_render(data=url, kind="gif")
    with pytest.raises(ValueError):
        qr_mod.qr_build(data="")


# --- the endpoints ---------------------------------------------------------------------------


def test_qr_png_is_public_cached_and_validated(api_client, link):
    res = api_client.get(_png_url(link.code))
    assert res.status_code == 200
    assert res["Content-Type"] == "image/png"
    assert res["Cache-Control"] == "public, max-age=86400"
    assert res["X-Cache"] == "miss"
    etag = res["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # strong: no W/
    image = png_image(res.content)
    expected = qr_mod.qr_build(data=f"{BASE}/s/{link.code}")
    assert image.size == (qr_mod.qr_pixel_size(expected),) * 2
    assert res.content == qr_mod.qr_render(data=f"{BASE}/s/{link.code}", kind=qr_mod.PNG)

    again = api_client.get(_png_url(link.code))
    assert (again.status_code, again["X-Cache"], again["ETag"]) == (200, "hit", etag)
    assert again.content == res.content

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        not_modified = api_client.get(_png_url(link.code), HTTP_IF_NONE_MATCH=header)
        assert not_modified.status_code == 304, header
        assert not_modified.content == b""
        assert not_modified["ETag"] == etag
        assert not_modified["Cache-Control"] == "public, max-age=86400"
    changed = api_client.get(_png_url(link.code), HTTP_IF_NONE_MATCH='"0123456789abcdef0123456789abcdef"')
    assert changed.status_code == 200 and changed.content == res.content


def test_a_cache_hit_touches_no_database(api_client, link, django_assert_num_queries):
    api_client.get(_png_url(link.code))
    with django_assert_num_queries(0):
        hit = api_client.get(_png_url(link.code))
    assert hit["X-Cache"] == "hit"


def test_if_none_match_star_is_304_only_for_a_code_that_exists(api_client, link):
    res = api_client.get(_png_url(link.code), HTTP_IF_NONE_MATCH="*")
    assert (res.status_code, res["X-Cache"]) == (304, "miss")
    assert "Content-Type" not in res
    unknown = api_client.get(_png_url("ZZZZZZZZ"), HTTP_IF_NONE_MATCH="*")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_qr_svg(api_client, link):
    res = api_client.get(f"/api/v1/share-links/{link.code}/qr.svg")
    assert res.status_code == 200
    assert res["Content-Type"] == "image/svg+xml"
    assert res["Cache-Control"] == "public, max-age=86400"
    assert "<path" in res.content.decode()
    etag = res["ETag"]
    assert etag != api_client.get(_png_url(link.code))["ETag"]
    assert api_client.get(f"/api/v1/share-links/{link.code}/qr.svg", HTTP_IF_NONE_MATCH=etag).status_code == 304


@pytest.mark.parametrize("code", ["ZZZZZZZZ", "abc", "0O1IL000", "A" * 13, "%00", "..", "A%2F"])
def test_unknown_codes_are_404_in_the_error_shape(api_client, link, code):
    for suffix in ("qr.png", "qr.svg", "poster.png"):
        res = api_client.get(f"/api/v1/share-links/{code}/{suffix}")
        assert res.status_code == 404, (code, suffix)
        assert res.json()["code"] == "not_found"


def test_lowercase_code_is_the_same_image(api_client, link):
    upper = api_client.get(_png_url(link.code))
    lower = api_client.get(_png_url(link.code.lower()))
    assert lower.status_code == 200 and lower.content == upper.content


def test_any_accept_header_gets_the_image(api_client, link):
    for accept in ("image/png", "image/avif,image/webp,*/*", "text/html"):
        res = api_client.get(_png_url(link.code), HTTP_ACCEPT=accept)
        assert res.status_code == 200, accept
        assert res.content.startswith(b"\x89PNG")


def test_a_token_is_not_needed_and_a_bad_one_is_ignored(api_client, link):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer forged-token")
    assert api_client.get(_png_url(link.code)).status_code == 200


def test_the_url_in_the_code_follows_public_base_url(api_client, link, settings):
    first = api_client.get(_png_url(link.code))
    settings.PUBLIC_BASE_URL = "https://other.example.com"
    moved = api_client.get(_png_url(link.code))
    assert moved["X-Cache"] == "miss"
    assert moved.content == qr_mod.qr_render(data=f"https://other.example.com/s/{link.code}", kind=qr_mod.PNG)
    assert moved["ETag"] != first["ETag"]


def test_only_get_and_head(api_client, link):
    assert api_client.head(_png_url(link.code)).status_code == 200
    res = api_client.post(_png_url(link.code), {}, format="json")
    assert res.status_code == 405
    assert res.json()["code"] == "method_not_allowed"


def test_images_still_render_when_the_cache_is_down(link, settings, caplog):
    """The image selectors survive a cache outage (they render every time). The HTTP layer's DRF
    throttles also live in the cache, so the endpoints themselves depend on it like every other."""
    from core.errors import NotFound
    from distributors.selectors import links as link_selectors

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert link_selectors.share_link_qr_cached(code=link.code, kind=qr_mod.PNG) is None
    for kind in (qr_mod.PNG, qr_mod.SVG):
        image = link_selectors.share_link_qr(code=link.code, kind=kind)
        assert image.hit is False and image.body
    assert link_selectors.share_link_poster(code=link.code).body.startswith(b"\x89PNG")
    assert any("cache unreachable" in r.getMessage() for r in caplog.records)
    with pytest.raises(NotFound):
        link_selectors.share_link_qr(code="ZZZZZZZZ", kind=qr_mod.PNG)

"""Share links and WeChat, through the sandbox over real HTTP with real wechatpy: the
mini-program code (wxacode.getunlimited, scene = share code) and the official account's
parametric QR code (scene dist:<code>) on the link."""
from __future__ import annotations

import io

import pytest
import qrcode
import requests
from PIL import Image, ImageChops

from core.errors import InvalidInput
from distributors.models import ShareLink
from distributors.services.links import MP_QR_EXPIRE_SECONDS, MP_SCENE_PREFIX
from tests.factories import DistributorFactory, ShareLinkFactory
from wechat.miniprogram import wxacode_unlimited
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models import SandboxAccessToken, SandboxQrTicket

from .links_helpers import png_image

URL = "/api/v1/share-links/"


def _wxacode_path(code: str) -> str:
    return f"/api/v1/share-links/{code}/wxacode.png"


def _sandbox_drawing(scene: str, width: int = 430) -> Image.Image:
    """What the sandbox draws for a scene (its documented stand-in for WeChat's round code)."""
    drawing = qrcode.make(f"wxacode:{scene}", border=2).get_image().convert("RGB")
    return drawing.resize((width, width), Image.Resampling.NEAREST)


def test_wxacode_comes_from_the_sandbox_and_is_cached(wechat_sandbox, api_client):
    link = ShareLinkFactory()
    res = api_client.get(_wxacode_path(link.code))
    assert res.status_code == 200, res.content[:300]
    assert res["Content-Type"] == "image/png"
    assert res["Cache-Control"] == "public, max-age=86400"
    assert res["X-Cache"] == "miss"
    image = png_image(res.content).convert("RGB")
    assert image.size == (430, 430)
    # The scene WeChat got is the share code itself.
    assert ImageChops.difference(image, _sandbox_drawing(link.code)).getbbox() is None
    other = link.code[:-1] + ("Z" if link.code[-1] != "Z" else "Y")  # a different code (random codes may end in Z)
    assert ImageChops.difference(image, _sandbox_drawing(other)).getbbox() is not None
    assert SandboxAccessToken.objects.filter(kind="mp").count() == 1

    again = api_client.get(_wxacode_path(link.code))
    assert (again["X-Cache"], again.content, again["ETag"]) == ("hit", res.content, res["ETag"])
    assert api_client.get(_wxacode_path(link.code), HTTP_IF_NONE_MATCH=res["ETag"]).status_code == 304
    assert SandboxAccessToken.objects.filter(kind="mp").count() == 1  # the token was reused too


def test_wxacode_unknown_code_is_404_without_calling_wechat(wechat_sandbox, api_client):
    res = api_client.get(_wxacode_path("ZZZZZZZZ"))
    assert (res.status_code, res.json()["code"]) == (404, "not_found")
    assert SandboxAccessToken.objects.count() == 0


@pytest.mark.parametrize(("mode", "err_code"), [("fail", "45009"), ("http_error", "")])
def test_wxacode_failure_is_502_and_not_cached(wechat_sandbox, api_client, mode, err_code):
    link = ShareLinkFactory()
    fault_arm(endpoint="wxa.getwxacodeunlimit", mode=mode, err_code=err_code)
    res = api_client.get(_wxacode_path(link.code))
    assert res.status_code == 502
    assert res.json()["code"] == "wechat_error"
    ok = api_client.get(_wxacode_path(link.code))
    assert (ok.status_code, ok["X-Cache"]) == (200, "miss")


def test_wxacode_with_a_page_and_width(wechat_sandbox, settings):
    settings.WECHAT_MINIPROGRAM_PAGE = "pages/share/index"
    image = Image.open(io.BytesIO(wxacode_unlimited(scene="dist:ABC", page="pages/share/index", width=280)))
    assert (image.format, image.size) == ("PNG", (280, 280))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kwargs",
    [
        {"scene": ""},
        {"scene": "x" * 33},
        {"scene": "中文"},
        {"scene": "a b"},
        {"scene": 5},
        {"scene": "ok", "page": "/pages/index"},
        {"scene": "ok", "page": "pages/<x>"},
        {"scene": "ok", "width": 100},
        {"scene": "ok", "width": 5000},
        {"scene": "ok", "width": "430"},
    ],
)
def test_wxacode_bad_input_calls_nothing(settings, kwargs):
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"  # nothing listens: a call would fail differently
    with pytest.raises(InvalidInput):
        wxacode_unlimited(**kwargs)


def test_sandbox_wxa_endpoint_answers_like_wechat(wechat_sandbox):
    from wechat.miniprogram import miniprogram_client

    base = f"{wechat_sandbox.url}/wechat-sandbox/api/wxa/getwxacodeunlimit"
    bad_token = requests.post(base, params={"access_token": "nope"}, json={"scene": "x"}, timeout=5).json()
    assert bad_token["errcode"] == 40001
    client = miniprogram_client()
    try:
        token = client.access_token
    finally:
        client.close()
    for body, errcode in (
        ({"scene": "x" * 40}, 40169),
        ({"scene": "ok", "page": "/abs"}, 41030),
        ({"scene": "ok", "width": 9999}, 40097),
    ):
        answer = requests.post(base, params={"access_token": token}, json=body, timeout=5)
        assert answer.status_code == 200
        assert answer.json()["errcode"] == errcode, body
    broken = requests.post(base, params={"access_token": token}, data=b"{not json", timeout=5)
    assert broken.json()["errcode"] == 47001
    good = requests.post(base, params={"access_token": token}, json={"scene": "ok"}, timeout=5)
    assert good.headers["Content-Type"] == "image/png"
    assert good.content.startswith(b"\x89PNG")


# --- the official account's QR code on the link ----------------------------------------------


def test_link_gets_the_official_account_qr_lazily(wechat_sandbox, client_for, settings):
    settings.SHARE_LINK_MP_QR = True
    distributor = DistributorFactory()
    client = client_for(distributor.user)
    res = client.post(URL, {"target_type": "store"}, format="json")
    assert res.status_code == 201, res.json()
    code = res.json()["code"]
    ticket = SandboxQrTicket.objects.get()
    assert ticket.scene_str == f"{MP_SCENE_PREFIX}{code}"
    assert (ticket.action_name, ticket.expire_seconds) == ("QR_STR_SCENE", MP_QR_EXPIRE_SECONDS)
    mp_qr_url = res.json()["mp_qr_url"]
    assert mp_qr_url.startswith(f"{wechat_sandbox.url}/wechat-sandbox/api/cgi-bin/showqrcode?ticket=")
    image = requests.get(mp_qr_url, timeout=5)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    # Asked again, from the detail and the list: the same QR, no new ticket.
    assert client.get(f"{URL}{code}/").json()["mp_qr_url"] == mp_qr_url
    assert client.post(URL, {"target_type": "store"}, format="json").json()["mp_qr_url"] == mp_qr_url
    assert client.get(URL).json()["results"][0]["mp_qr_url"] == mp_qr_url
    assert SandboxQrTicket.objects.count() == 1


def test_a_wechat_failure_does_not_break_the_link(wechat_sandbox, client_for, settings, caplog):
    settings.SHARE_LINK_MP_QR = True
    distributor = DistributorFactory()
    client = client_for(distributor.user)
    fault_arm(endpoint="mp.qrcode", mode="fail", err_code="45009")
    res = client.post(URL, {"target_type": "store"}, format="json")
    assert res.status_code == 201
    assert res.json()["mp_qr_url"] is None
    assert ShareLink.objects.count() == 1
    assert any("official-account QR failed" in r.getMessage() for r in caplog.records)
    # The failure is remembered for a while: the next read does not ask WeChat again.
    assert client.get(f"{URL}{res.json()['code']}/").json()["mp_qr_url"] is None
    assert SandboxQrTicket.objects.count() == 0
    # When the sandbox is unreachable altogether, the link is still answered.
    other = client.post(URL, {"target_type": "recruit"}, format="json")
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"
    from django.core.cache import cache

    cache.clear()
    down = client.get(f"{URL}{other.json()['code']}/")
    assert down.status_code == 200 and down.json()["mp_qr_url"] is None


def test_the_list_never_calls_wechat(wechat_sandbox, client_for, settings):
    settings.SHARE_LINK_MP_QR = True
    distributor = DistributorFactory()
    ShareLinkFactory(distributor=distributor)
    body = client_for(distributor.user).get(URL).json()
    assert body["results"][0]["mp_qr_url"] is None
    assert SandboxQrTicket.objects.count() == 0

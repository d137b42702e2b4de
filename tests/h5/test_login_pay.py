"""The H5 login over the WeChat sandbox (real HTTP, wechatpy on the server side), the sandbox
pay sheet, and the JS-SDK config — each walked as the browser and the pages' script do it."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django.core.cache import cache

from accounts.models import User
from mall.models import Order, OrderStatus
from tests.h5.helpers import tea_product
from tests.mall.factories import ADDRESS
from wechat import web as wechat_web
from wechat.sandbox.models.mp import SandboxAccessToken, SandboxOAuthCode

pytestmark = pytest.mark.django_db(transaction=True)


def _js_string(html: str, name: str) -> str:
    """The value of `var <name> = "…"` in a page's script, its escapejs escapes undone."""
    raw = re.search(rf'var {name} = "([^"]*)"', html).group(1)
    return json.loads(f'"{raw}"')


def _authorize_page(session: requests.Session, base: str, next_path: str) -> tuple[str, requests.Response]:
    res = session.get(f"{base}/h5/login", params={"next": next_path}, allow_redirects=False, timeout=10)
    assert res.status_code == 302
    location = res.headers["Location"]
    assert location.startswith("/wechat-sandbox/connect/oauth2/authorize?appid=wxsandbox0000000001&redirect_uri=")
    assert location.endswith("#wechat_redirect")
    page = session.get(base + location.split("#")[0], timeout=10)
    assert page.status_code == 200
    return location, page


def _choose(session, base, location, page, **form) -> requests.Response:
    assert 'method="post"' in page.text
    res = session.post(base + location.split("#")[0], data=form, allow_redirects=False, timeout=10)
    return res


def test_login_over_the_sandbox_picks_or_creates_an_identity_and_returns_to_next(wechat_sandbox):
    base = wechat_sandbox.url
    product, _, _ = tea_product()
    next_path = f"/h5/products/{product.pk}?sc=SABCDEFG"
    s = requests.Session()
    location, page = _authorize_page(s, base, next_path)
    query = parse_qs(urlsplit(location.split("#")[0]).query)
    assert query["redirect_uri"] == [f"{base}/h5/login/callback"]
    assert query["scope"] == ["snsapi_userinfo"] and query["response_type"] == ["code"]
    assert 'data-testid="sandbox-new-identity"' in page.text

    res = _choose(s, base, location, page, openid="o-h5-alice", nickname="Alice 爱丽丝")
    assert res.status_code == 302
    back = res.headers["Location"]
    assert back.startswith(f"{base}/h5/login/callback?code=")
    code = parse_qs(urlsplit(back).query)["code"][0]
    assert parse_qs(urlsplit(back).query)["state"] == query["state"]

    callback = s.get(back, timeout=10)
    assert callback.status_code == 200
    assert f'code: "{code}"' in callback.text
    assert _js_string(callback.text, "next") == next_path
    # what the callback page's script does: the code for a token
    login = s.post(f"{base}/api/v1/auth/wechat/", json={"code": code}, timeout=10)
    assert login.status_code == 200, login.text
    user = User.objects.get(openid="o-h5-alice")
    assert user.nickname == "Alice 爱丽丝"
    assert login.json()["user"]["id"] == user.pk
    me = s.get(f"{base}/api/v1/me/", headers={"Authorization": f"Bearer {login.json()['token']}"}, timeout=10)
    assert me.json()["nickname"] == "Alice 爱丽丝"

    # the next login offers the identity to pick; picking it logs in the same user
    location, page = _authorize_page(requests.Session(), base, "/h5/orders")
    assert 'data-openid="o-h5-alice"' in page.text and "Alice 爱丽丝" in page.text
    s2 = requests.Session()
    location, page = _authorize_page(s2, base, "/h5/orders")
    res = _choose(s2, base, location, page, openid="o-h5-alice")
    code2 = parse_qs(urlsplit(res.headers["Location"]).query)["code"][0]
    again = s2.post(f"{base}/api/v1/auth/wechat/", json={"code": code2}, timeout=10)
    assert again.json()["user"]["id"] == user.pk
    assert User.objects.filter(openid="o-h5-alice").count() == 1


def test_the_sandbox_authorize_step_refuses_bad_requests(wechat_sandbox):
    base = wechat_sandbox.url
    good = {
        "appid": "wxsandbox0000000001",
        "redirect_uri": f"{base}/h5/login/callback",
        "response_type": "code",
        "scope": "snsapi_userinfo",
        "state": "x",
    }
    url = f"{base}/wechat-sandbox/connect/oauth2/authorize"
    assert requests.get(url, params=good, timeout=10).status_code == 200
    for bad in (
        {"appid": "wxother"},
        {"redirect_uri": "https://evil.example.com/cb"},
        {"redirect_uri": "/h5/x"},
        {"scope": "snsapi_login"},
        {"response_type": "token"},
    ):
        res = requests.get(url, params={**good, **bad}, timeout=10)
        assert res.status_code == 400, bad
        assert 'data-testid="sandbox-error"' in res.text
    res = requests.post(f"{url}?{urlencode(good)}", data={"openid": "bad openid!"}, allow_redirects=False, timeout=10)
    assert res.status_code == 400 and 'data-testid="sandbox-authorize-error"' in res.text
    assert not SandboxOAuthCode.objects.exists()


def test_login_callback_refuses_a_forged_state_and_a_declined_login(client):
    res = client.get("/h5/login/callback?code=abc&state=forged")
    assert res.status_code == 400 and 'data-testid="login-error"' in res.content.decode()
    login = client.get("/h5/login?next=/h5/orders")
    state = parse_qs(urlsplit(login["Location"].split("#")[0]).query)["state"][0]
    declined = client.get("/h5/login/callback", {"state": state})
    assert declined.status_code == 400
    assert "/h5/login?next=%2Fh5%2Forders" in declined.content.decode()
    ok = client.get("/h5/login/callback", {"state": state, "code": "abc123"})
    assert ok.status_code == 200 and _js_string(ok.content.decode(), "next") == "/h5/orders"


@pytest.mark.parametrize("raw", ["https://evil.example.com/", "//evil.example.com/x", "/\\evil", ""])
def test_login_next_stays_on_this_site(client, raw):
    login = client.get("/h5/login", {"next": raw})
    state = parse_qs(urlsplit(login["Location"].split("#")[0]).query)["state"][0]
    page = client.get("/h5/login/callback", {"state": state, "code": "abc123"}).content.decode()
    assert _js_string(page, "next") == "/h5/"


def test_live_mode_sends_the_browser_to_wechat(settings):
    settings.WECHAT_MODE = "live"
    url = wechat_web.oauth_authorize_url(redirect_uri="https://shop.example.com/h5/login/callback", state="s1")
    assert url == (
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxsandbox0000000001"
        "&redirect_uri=https%3A%2F%2Fshop.example.com%2Fh5%2Flogin%2Fcallback"
        "&response_type=code&scope=snsapi_userinfo&state=s1#wechat_redirect"
    )
    with pytest.raises(ValueError):
        wechat_web.oauth_authorize_url(redirect_uri="/relative", state="")


def _order_and_prepay(base: str, token: str, sku, quantity: int = 2) -> tuple[str, str]:
    auth = {"Authorization": f"Bearer {token}"}
    order = requests.post(
        f"{base}/api/v1/orders/",
        json={"items": [{"sku_id": sku.pk, "quantity": quantity}], "address": ADDRESS},
        headers=auth,
        timeout=10,
    )
    assert order.status_code == 201, order.text
    no = order.json()["no"]
    pay = requests.post(f"{base}/api/v1/orders/{no}/pay/", json={}, headers=auth, timeout=10)
    assert pay.status_code == 200, pay.text
    return no, pay.json()["prepay_id"]


def test_the_sandbox_pay_sheet_shows_the_amount_and_pays_the_order(wechat_sandbox, settings):
    from accounts.services import token_issue
    from tests.factories import UserFactory

    settings.SHOP_NAME = "龙井小铺"
    base = wechat_sandbox.url
    _, big, _ = tea_product()
    token = token_issue(user=UserFactory())
    no, prepay_id = _order_and_prepay(base, token, big)
    sheet = requests.get(
        f"{base}/wechat-sandbox/pay/{prepay_id}/sheet/", params={"return": f"/h5/orders/{no}/paid"}, timeout=10
    )
    assert sheet.status_code == 200
    assert "¥796.00" in sheet.text and 'data-fen="79600"' in sheet.text
    assert "龙井小铺" in sheet.text
    assert f'var back = "/h5/orders/{no}/paid"' in sheet.text
    assert 'data-testid="pay-sheet-confirm"' in sheet.text
    assert f'href="/h5/orders/{no}/paid?cancelled=1"' in sheet.text  # closing it unpaid
    # what the sheet's confirm button does
    confirm = requests.post(f"{base}/wechat-sandbox/pay/{prepay_id}/confirm/", timeout=30)
    assert confirm.json()["return_code"] == "SUCCESS"
    order = Order.objects.get(no=no)
    assert order.status == OrderStatus.PAID and order.paid_fen == 79_600
    after = requests.get(f"{base}/wechat-sandbox/pay/{prepay_id}/sheet/", timeout=10)
    assert 'data-state="SUCCESS"' in after.text and 'data-testid="pay-sheet-confirm"' not in after.text
    paid_page = requests.get(f"{base}/h5/orders/{no}/paid", timeout=10)
    assert paid_page.status_code == 200 and 'data-testid="paid"' in paid_page.text


def test_the_pay_sheet_goes_back_only_to_this_site_and_knows_no_strangers(wechat_sandbox):
    base = wechat_sandbox.url
    assert requests.get(f"{base}/wechat-sandbox/pay/wx-nope/sheet/", timeout=10).status_code == 404
    from accounts.services import token_issue
    from tests.factories import UserFactory

    _, big, _ = tea_product()
    _, prepay_id = _order_and_prepay(base, token_issue(user=UserFactory()), big, quantity=1)
    for back in ("https://evil.example.com/x", "//evil.example.com/x"):
        sheet = requests.get(f"{base}/wechat-sandbox/pay/{prepay_id}/sheet/", params={"return": back}, timeout=10)
        assert 'var back = ""' in sheet.text
    assert Order.objects.get().status == OrderStatus.PENDING_PAYMENT


def test_h5_js_opens_the_sheet_the_sandbox_serves():
    from pathlib import Path

    from django.urls import reverse

    js = (Path(__file__).resolve().parents[2] / "h5/static/h5/h5.js").read_text()
    assert '"/wechat-sandbox/pay/" + encodeURIComponent(res.prepay_id) + "/sheet/?return="' in js
    assert reverse("sandbox-pay-sheet", kwargs={"prepay_id": "P1"}) == "/wechat-sandbox/pay/P1/sheet/"


def test_jssdk_config_is_signed_with_the_ticket_from_wechat(wechat_sandbox, settings):
    base = wechat_sandbox.url
    page_url = f"{base}/h5/products/1?sc=SABCDEFG"
    res = requests.get(f"{base}/h5/jssdk", params={"url": page_url + "#frag"}, timeout=10)
    assert res.status_code == 200, res.text
    config = res.json()
    assert config["appId"] == "wxsandbox0000000001" and config["url"] == page_url
    token = SandboxAccessToken.objects.latest("pk").token
    ticket = hashlib.sha256(f"jsapi:{token}".encode()).hexdigest()
    assert cache.get("wxsandbox0000000001_jsapi_ticket") == ticket
    plain = f"jsapi_ticket={ticket}&noncestr={config['nonceStr']}&timestamp={config['timestamp']}&url={page_url}"
    assert config["signature"] == hashlib.sha1(plain.encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def test_jssdk_refuses_foreign_pages_and_reports_wechat_failures(wechat_sandbox):
    base = wechat_sandbox.url
    res = requests.get(f"{base}/h5/jssdk", params={"url": "https://evil.example.com/"}, timeout=10)
    assert res.status_code == 400 and res.json()["code"] == "invalid_input"
    requests.post(f"{base}/wechat-sandbox/faults/", json={"endpoint": "mp.ticket", "mode": "fail"}, timeout=10)
    res = requests.get(f"{base}/h5/jssdk", params={"url": f"{base}/h5/"}, timeout=10)
    assert res.status_code == 502 and res.json()["code"] == "wechat_error"


def test_the_picker_offers_the_shops_users_and_logs_them_in_as_themselves(wechat_sandbox):
    from tests.factories import UserFactory

    base = wechat_sandbox.url
    alice = UserFactory(openid="o-demo-alice", nickname="Alice 爱丽丝", avatar_url="https://img.example.com/a.png")
    UserFactory(openid="o-staff", is_staff=True)
    s = requests.Session()
    location, page = _authorize_page(s, base, "/h5/distributor")
    assert 'data-openid="o-demo-alice"' in page.text and "Alice 爱丽丝" in page.text
    assert 'data-openid="o-staff"' not in page.text
    res = _choose(s, base, location, page, openid="o-demo-alice")
    code = parse_qs(urlsplit(res.headers["Location"]).query)["code"][0]
    issued = SandboxOAuthCode.objects.get(code=code)
    assert (issued.nickname, issued.avatar_url) == ("Alice 爱丽丝", "https://img.example.com/a.png")
    login = s.post(f"{base}/api/v1/auth/wechat/", json={"code": code}, timeout=10)
    assert login.json()["user"]["id"] == alice.pk
    alice.refresh_from_db()
    assert alice.nickname == "Alice 爱丽丝"

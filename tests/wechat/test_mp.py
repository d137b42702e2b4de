"""The official account: message endpoint, QR tickets, template messages, the cached access
token; driven through the sandbox over real HTTP with real wechatpy."""
from __future__ import annotations

import io
import logging
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from PIL import Image

from core.errors import InvalidInput
from tests.wechat.mp_helpers import MP, push, query, sign
from wechat.errors import WechatError, WechatTimeout
from wechat.hooks_mp import register_scene_handler, scene_handler_for, unregister_scene_handler
from wechat.mp import mp_check_signature, qr_ticket_create, template_message_send
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models import SandboxAccessToken, SandboxQrTicket, SandboxTemplateMessage
from wechat.sandbox.mp_views import sandbox_wait_idle


def signed_query(settings, token: str | None = None) -> str:
    return query(settings, nonce="n0nce", token=token)


# --- signature and verification -----------------------------------------------------------


def test_signature_check(settings):
    ts, nonce = "1700000000", "abc"
    good = sign(settings.WECHAT_MP_TOKEN, ts, nonce)
    assert mp_check_signature(signature=good, timestamp=ts, nonce=nonce)
    assert not mp_check_signature(signature=good, timestamp="1700000001", nonce=nonce)
    assert not mp_check_signature(signature=sign("other", ts, nonce), timestamp=ts, nonce=nonce)
    assert not mp_check_signature(signature="", timestamp=ts, nonce=nonce)
    assert not mp_check_signature(signature=good + "0" * 100, timestamp=ts, nonce=nonce)


@pytest.mark.django_db  # the accepted triple is remembered (in the database without Redis)
def test_get_verification_echoes(api_client, settings):
    res = api_client.get(f"{MP}?{signed_query(settings)}&echostr=hello-123")
    assert res.status_code == 200 and res.content == b"hello-123"


def test_get_verification_with_bad_signature_is_403(api_client, settings, caplog):
    with caplog.at_level(logging.WARNING, logger="api.wechat_mp"):
        res = api_client.get(f"{MP}?{signed_query(settings, token='wrong')}&echostr=hello-123")
    assert res.status_code == 403 and b"hello-123" not in res.content
    assert "bad signature" in caplog.text
    assert api_client.get(f"{MP}?echostr=hello").status_code == 403


# --- events and messages through the sandbox ------------------------------------------------


def test_subscribe_with_scene_reaches_the_handler_once(wechat_sandbox, scene_calls):
    answer = push(wechat_sandbox, openid="o-fan", event="subscribe", event_key="test:dist-42")

    assert answer["status"] == 200
    assert "<Content><![CDATA[欢迎关注！]]></Content>" in answer["body"]
    assert "<ToUserName><![CDATA[o-fan]]></ToUserName>" in answer["body"]
    assert len(scene_calls) == 1
    call = scene_calls[0]
    assert (call["openid"], call["scene"], call["event"]) == ("o-fan", "test:dist-42", "subscribe")


def test_scan_by_a_follower_reaches_the_handler(wechat_sandbox, scene_calls):
    answer = push(wechat_sandbox, openid="o-fan2", event="SCAN", event_key="test:x")
    assert answer["status"] == 200 and answer["body"] == "success"
    assert [(c["scene"], c["event"]) for c in scene_calls] == [("test:x", "scan")]


def test_handler_reply_replaces_the_welcome(wechat_sandbox):
    register_scene_handler("greet:", lambda **kw: f"hi {kw['openid']}")
    try:
        answer = push(wechat_sandbox, openid="o-g", event="subscribe", event_key="greet:1")
    finally:
        unregister_scene_handler("greet:")
    assert "<![CDATA[hi o-g]]>" in answer["body"]


def test_other_scenes_and_plain_subscribes_do_not_reach_the_handler(wechat_sandbox, scene_calls):
    assert "欢迎关注" in push(wechat_sandbox, openid="o-a", event="subscribe")["body"]
    assert "欢迎关注" in push(wechat_sandbox, openid="o-b", event="subscribe", event_key="other:1")["body"]
    assert scene_calls == []


def test_bad_signature_is_refused_and_the_handler_not_called(wechat_sandbox, scene_calls):
    fault_arm(endpoint="mp.push", mode="bad_signature")

    answer = push(wechat_sandbox, openid="o-evil", event="subscribe", event_key="test:dist-42")

    assert answer["status"] == 403
    assert scene_calls == []


def test_unsigned_post_is_refused(wechat_sandbox, scene_calls, settings):
    xml = (
        "<xml><ToUserName>gh</ToUserName><FromUserName>o-x</FromUserName><CreateTime>1</CreateTime>"
        "<MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_test:1</EventKey></xml>"
    )
    url = f"{wechat_sandbox.url}{MP}"
    assert requests.post(url, data=xml, timeout=5).status_code == 403
    assert requests.post(f"{url}?{signed_query(settings, token='x')}", data=xml, timeout=5).status_code == 403
    assert scene_calls == []


def test_a_redelivered_event_reaches_the_handler_once(wechat_sandbox, scene_calls, settings):
    xml = (
        "<xml><ToUserName>gh</ToUserName><FromUserName>o-r</FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_test:r</EventKey></xml>"
    )
    url = f"{wechat_sandbox.url}{MP}?{signed_query(settings)}"
    answers = [requests.post(url, data=xml.encode(), timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all("欢迎关注" in a.text for a in answers)
    assert len(scene_calls) == 1


def test_a_failing_handler_still_welcomes_and_is_logged(wechat_sandbox, caplog):
    def broken(**kwargs):
        raise RuntimeError("boom")

    register_scene_handler("boom:", broken)
    try:
        with caplog.at_level(logging.ERROR, logger="wechat.mp"):
            answer = push(wechat_sandbox, openid="o-b", event="subscribe", event_key="boom:1")
    finally:
        unregister_scene_handler("boom:")
    assert answer["status"] == 200 and "欢迎关注" in answer["body"]
    assert "scene handler" in caplog.text


def test_text_gets_the_default_reply_and_unknown_gets_success(wechat_sandbox):
    text = push(wechat_sandbox, openid="o-t", text="你好")
    assert text["status"] == 200 and "<MsgType><![CDATA[text]]></MsgType>" in text["body"]
    assert "消息已收到" in text["body"]
    assert push(wechat_sandbox, openid="o-t", event="CLICK", event_key="menu-1")["body"] == "success"


def test_malformed_xml_with_a_good_signature_is_400(wechat_sandbox, settings):
    url = f"{wechat_sandbox.url}{MP}?{signed_query(settings)}"
    assert requests.post(url, data=b"<xml><not-closed>", timeout=5).status_code == 400
    assert requests.post(url, data=b"x" * (65 * 1024), timeout=5).status_code == 400


def test_scene_prefix_routing_longest_wins():
    first, second = object(), object()
    register_scene_handler("a:", first)
    register_scene_handler("a:b:", second)
    try:
        assert scene_handler_for("a:b:1")[1] is second
        assert scene_handler_for("a:c")[1] is first
        assert scene_handler_for("zz") is None
    finally:
        unregister_scene_handler("a:")
        unregister_scene_handler("a:b:")
    with pytest.raises(ValueError):
        register_scene_handler("", first)


# --- safe mode ------------------------------------------------------------------------------


def test_safe_mode_round_trip(wechat_sandbox, safe_mode, scene_calls):
    answer = push(wechat_sandbox, openid="o-safe", event="subscribe", event_key="test:enc")

    assert answer["status"] == 200
    assert "<Encrypt>" in answer["body"] and "欢迎关注" not in answer["body"]
    assert "欢迎关注" in answer["reply"]
    assert [c["scene"] for c in scene_calls] == ["test:enc"]


def test_safe_mode_refuses_a_wrong_msg_signature(wechat_sandbox, safe_mode, scene_calls):
    first = requests.post(
        f"{wechat_sandbox.url}/wechat-sandbox/mp/push/",
        json={"openid": "o-s", "event": "subscribe", "event_key": "test:1"},
        timeout=10,
    )
    assert first.status_code == 200
    scene_calls.clear()
    ts, nonce = str(int(time.time())), "n1"
    query = f"signature={sign(safe_mode.WECHAT_MP_TOKEN, ts, nonce)}&timestamp={ts}&nonce={nonce}"
    body = "<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"
    res = requests.post(
        f"{wechat_sandbox.url}{MP}?{query}&encrypt_type=aes&msg_signature={'0' * 40}", data=body, timeout=5
    )
    assert res.status_code == 403
    assert scene_calls == []


# --- QR tickets -----------------------------------------------------------------------------


def test_temporary_qr_ticket_and_its_png(wechat_sandbox):
    qr = qr_ticket_create(scene_str="test:dist-7", expire_seconds=3600)

    row = SandboxQrTicket.objects.get()
    assert (row.ticket, row.action_name, row.scene_str, row.expire_seconds) == (
        qr["ticket"],
        "QR_STR_SCENE",
        "test:dist-7",
        3600,
    )
    assert qr["expire_seconds"] == 3600 and qr["url"] == row.url
    assert qr["image_url"].startswith(f"{wechat_sandbox.url}/wechat-sandbox/api/cgi-bin/showqrcode?ticket=")
    image = requests.get(qr["image_url"], timeout=5)
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(image.content)).size[0] > 50


def test_permanent_qr_ticket(wechat_sandbox):
    qr = qr_ticket_create(scene_str="test:forever")
    assert qr["expire_seconds"] is None
    assert SandboxQrTicket.objects.get().action_name == "QR_LIMIT_STR_SCENE"


def test_subscribe_through_a_created_qr_carries_its_ticket(wechat_sandbox, scene_calls):
    qr = qr_ticket_create(scene_str="test:t1", expire_seconds=600)
    push(wechat_sandbox, openid="o-q", event="subscribe", event_key="test:t1")
    assert scene_calls[0]["message"].ticket == qr["ticket"]


def test_unknown_ticket_is_404(wechat_sandbox):
    res = requests.get(f"{wechat_sandbox.url}/wechat-sandbox/api/cgi-bin/showqrcode?ticket=nope", timeout=5)
    assert res.status_code == 404


def test_live_image_url_is_wechats(settings):
    from wechat.mp import qr_image_url

    settings.WECHAT_MODE = "live"
    assert qr_image_url(ticket="a+b/c") == "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=a%2Bb%2Fc"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kwargs",
    [
        {"scene_str": ""},
        {"scene_str": "x" * 65},
        {"scene_str": 5},
        {"scene_str": "ok", "expire_seconds": 10},
        {"scene_str": "ok", "expire_seconds": 31 * 24 * 3600},
        {"scene_str": "ok", "expire_seconds": "600"},
        {"scene_str": "ok", "expire_seconds": True},
    ],
)
def test_qr_ticket_bad_input_calls_nothing(settings, kwargs):
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(InvalidInput):
        qr_ticket_create(**kwargs)
    assert SandboxQrTicket.objects.count() == 0


def test_qr_faults(wechat_sandbox):
    fault_arm(endpoint="mp.qrcode", mode="timeout")
    with pytest.raises(WechatTimeout):
        qr_ticket_create(scene_str="test:1", expire_seconds=600)
    assert sandbox_wait_idle()
    assert SandboxQrTicket.objects.count() == 0  # a late answer did not create the ticket
    fault_arm(endpoint="mp.qrcode", mode="fail", err_code="45009")
    with pytest.raises(WechatError) as exc:
        qr_ticket_create(scene_str="test:1", expire_seconds=600)
    assert exc.value.extra["errcode"] == 45009
    assert SandboxQrTicket.objects.count() == 0


# --- template messages and the access token ------------------------------------------------


def test_template_message_is_stored_in_the_sandbox(wechat_sandbox):
    msgid = template_message_send(
        openid="o-tpl",
        template_id="TPL-order-paid",
        data={"first": "订单已支付", "amount": {"value": "¥12.34", "color": "#173177"}},
        url="https://shop.example/orders/1",
    )

    row = SandboxTemplateMessage.objects.get()
    assert msgid == row.pk
    assert (row.touser, row.template_id, row.url) == ("o-tpl", "TPL-order-paid", "https://shop.example/orders/1")
    assert row.data == {"first": {"value": "订单已支付"}, "amount": {"value": "¥12.34", "color": "#173177"}}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kwargs",
    [
        {"openid": "", "template_id": "T", "data": {"a": "b"}},
        {"openid": "o", "template_id": "", "data": {"a": "b"}},
        {"openid": "o", "template_id": "T", "data": {}},
        {"openid": "o", "template_id": "T", "data": {"a": 1}},
        {"openid": "o", "template_id": "T", "data": ["a"]},
        {"openid": "o", "template_id": "T", "data": {"a": "b"}, "url": "javascript:x"},
    ],
)
def test_template_message_bad_input_calls_nothing(settings, kwargs):
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(InvalidInput):
        template_message_send(**kwargs)


def test_template_message_errors(wechat_sandbox):
    fault_arm(endpoint="mp.template_send", mode="fail", err_code="43004")
    with pytest.raises(WechatError) as exc:
        template_message_send(openid="o-1", template_id="T", data={"a": "b"})
    assert exc.value.extra["errcode"] == 43004
    assert SandboxTemplateMessage.objects.count() == 0


def test_access_token_is_fetched_once_and_cached(wechat_sandbox):
    template_message_send(openid="o-1", template_id="T", data={"a": "b"})
    qr_ticket_create(scene_str="test:c", expire_seconds=600)
    template_message_send(openid="o-2", template_id="T", data={"a": "b"})

    assert SandboxAccessToken.objects.filter(kind="mp").count() == 1
    assert SandboxTemplateMessage.objects.count() == 2


def test_a_token_wechat_expired_is_replaced_and_the_call_retried(wechat_sandbox):
    template_message_send(openid="o-1", template_id="T", data={"a": "b"})
    SandboxAccessToken.objects.filter(kind="mp").update(expires_at=timezone.now() - timedelta(seconds=1))

    template_message_send(openid="o-2", template_id="T", data={"a": "b"})

    assert SandboxAccessToken.objects.filter(kind="mp").count() == 2
    assert SandboxTemplateMessage.objects.count() == 2


def test_token_endpoint_failure_is_a_wechat_error(wechat_sandbox):
    fault_arm(endpoint="mp.token", mode="http_error")
    with pytest.raises(WechatError) as exc:
        template_message_send(openid="o-1", template_id="T", data={"a": "b"})
    assert exc.value.extra["http_status"] == 500
    fault_arm(endpoint="mp.token", mode="fail", err_code="40164")
    with pytest.raises(WechatError) as exc:
        template_message_send(openid="o-1", template_id="T", data={"a": "b"})
    assert exc.value.extra["errcode"] == 40164
    assert SandboxTemplateMessage.objects.count() == 0


@pytest.mark.redis
def test_the_token_lives_in_redis_with_an_expiry(wechat_sandbox):
    from django.core.cache import cache

    from wechat.mp import mp_client

    template_message_send(openid="o-1", template_id="T", data={"a": "b"})

    key = mp_client().access_token_key
    assert cache.get(key) == SandboxAccessToken.objects.get(kind="mp").token
    redis_key = cache.make_and_validate_key(key)
    ttl = cache._cache.get_client(redis_key).ttl(redis_key)
    assert 0 < ttl <= 7200 - 300


def test_sandbox_refuses_a_wrong_access_token(wechat_sandbox):
    res = requests.post(
        f"{wechat_sandbox.url}/wechat-sandbox/api/cgi-bin/message/template/send?access_token=forged",
        json={"touser": "o-1", "template_id": "T", "data": {}},
        timeout=5,
    )
    assert res.json()["errcode"] == 40001
    assert SandboxTemplateMessage.objects.count() == 0

"""Forged official-account messages: freshness and replay of WeChat's signed triple
(timestamp, nonce, signature), and safe mode (AES) end to end through the sandbox.

In plain mode WeChat's signature covers token, timestamp and nonce only, and every push puts
a triple in a URL (proxy logs). A leaked triple must not let anyone post another body: a
stale or future timestamp is refused, and a triple seen within the window with another body
is refused. The same request again (WeChat's redelivery) is answered and dispatched once.

Each test runs with the replay store on Redis (when Redis is there) and on the database."""
from __future__ import annotations

import logging
import time

import pytest
import requests

from tests.wechat.mp_helpers import MP, post, push, query, scan_xml, sign, text_xml


def nonce_rows() -> int:
    from wechat.models import MpNonce

    return MpNonce.objects.count()


# --- plain mode: the leaked triple ------------------------------------------------------------


@pytest.mark.django_db
def test_a_leaked_triple_cannot_carry_another_users_message(store, api_client, settings, texts, caplog):
    q = query(settings)
    first = post(api_client, q, text_xml("o-victim", "订单"))
    assert first.status_code == 200 and "orders of o-victim" in first.content.decode()
    rows = nonce_rows()

    with caplog.at_level(logging.WARNING, logger="api.wechat_mp"):
        forged = post(api_client, q, text_xml("o-victim2", "订单"))

    assert forged.status_code == 403
    assert forged.content.decode().startswith("replayed_message")
    assert "o-victim2" not in forged.content.decode()
    assert [c["openid"] for c in texts] == ["o-victim"]  # the forged one reached no handler
    assert nonce_rows() == rows
    assert "replayed_message" in caplog.text


@pytest.mark.django_db
def test_a_leaked_triple_cannot_take_over_a_binding_with_a_scan(store, api_client, settings, scene_calls):
    q = query(settings, nonce="scan1")
    assert post(api_client, q, scan_xml("o-fan", "test:genuine")).status_code == 200
    forged = post(api_client, q, scan_xml("o-fan", "test:attacker"))
    assert forged.status_code == 403 and forged.content.decode().startswith("replayed_message")
    assert [c["scene"] for c in scene_calls] == ["test:genuine"]


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [-301, -3600, 301, 86400])
def test_stale_and_future_timestamps_are_refused(store, api_client, settings, texts, offset):
    settings.WECHAT_MP_MAX_AGE_SECONDS = 300
    res = post(api_client, query(settings, ts=int(time.time()) + offset), text_xml("o-a", "订单"))
    assert res.status_code == 403
    assert res.content.decode().startswith("stale_message")
    assert texts == []
    assert nonce_rows() == 0


@pytest.mark.django_db
def test_the_window_is_a_setting(store, api_client, settings, texts):
    settings.WECHAT_MP_MAX_AGE_SECONDS = 30
    assert post(api_client, query(settings, ts=int(time.time()) - 60), text_xml("o-a", "x")).status_code == 403
    assert post(api_client, query(settings, ts=int(time.time()) - 5, nonce="n2"), text_xml("o-a", "x")).status_code \
        == 200
    assert len(texts) == 1


@pytest.mark.django_db
def test_garbage_timestamp_is_refused(store, api_client, settings, texts):
    nonce = "n3"
    for ts in ("abc", "1e9", "-5", "١٧٠٠٠٠٠٠٠٠"):
        q = f"signature={sign(settings.WECHAT_MP_TOKEN, ts, nonce)}&timestamp={ts}&nonce={nonce}"
        res = post(api_client, q, text_xml("o-a", "x"))
        assert res.status_code == 403, ts
    assert texts == []


@pytest.mark.django_db
def test_fresh_messages_still_work_and_a_redelivery_is_answered_once(store, api_client, settings, texts, scene_calls):
    assert post(api_client, query(settings, nonce="a1"), text_xml("o-a", "订单")).status_code == 200
    assert post(api_client, query(settings, nonce="a2"), text_xml("o-a", "订单")).status_code == 200
    assert len(texts) == 2  # two fresh triples: two messages, both answered by the handler
    # WeChat's retry: the very same request again is answered, and the scene handler runs once
    q, body = query(settings, nonce="a3"), scan_xml("o-b", "test:s")
    answers = [post(api_client, q, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [c["scene"] for c in scene_calls] == ["test:s"]


@pytest.mark.django_db
def test_an_exact_replay_of_a_personal_request_gets_only_the_default_reply(store, api_client, settings, texts):
    """Whoever holds a copy of a whole request (URL and body) must not re-read the user's
    orders with it: the redelivery is answered, but no handler is asked again."""
    q, body = query(settings, nonce="copy1"), text_xml("o-victim", "订单")
    assert "orders of o-victim" in post(api_client, q, body).content.decode()
    again = post(api_client, q, body)
    assert again.status_code == 200
    assert "orders of o-victim" not in again.content.decode()
    assert "消息已收到" in again.content.decode()
    assert [c["openid"] for c in texts] == ["o-victim"]


@pytest.mark.django_db
def test_get_verification_is_fresh_only(store, api_client, settings):
    old = query(settings, ts=int(time.time()) - 1000)
    res = api_client.get(f"{MP}?{old}&echostr=e1")
    assert res.status_code == 403 and b"e1" not in res.content
    ok = query(settings, nonce="g1")
    assert api_client.get(f"{MP}?{ok}&echostr=e1").content == b"e1"
    assert api_client.get(f"{MP}?{ok}&echostr=e1").content == b"e1"  # WeChat's retry
    assert api_client.get(f"{MP}?{ok}&echostr=other").status_code == 403


@pytest.mark.redis
@pytest.mark.django_db
def test_on_redis_the_triple_is_kept_in_redis_with_an_expiry(api_client, settings, texts):
    from core.cache import cache_redis_client

    settings.WECHAT_MP_MAX_AGE_SECONDS = 300
    assert post(api_client, query(settings, nonce="r1"), text_xml("o-a", "x")).status_code == 200
    client = cache_redis_client()
    keys = list(client.scan_iter(match="*wechat:mp:nonce:*"))
    assert len(keys) == 1
    assert 300 < client.ttl(keys[0]) <= 600
    assert nonce_rows() == 0  # Redis, not the database


@pytest.mark.django_db
def test_without_redis_old_rows_are_cleaned_up(settings, api_client, texts):
    from datetime import timedelta

    from django.utils import timezone

    from wechat.models import MpNonce
    from wechat.mp import mp_nonces_purge

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "mp-replay-purge"}}
    settings.WECHAT_MP_MAX_AGE_SECONDS = 300
    assert post(api_client, query(settings, nonce="p1"), text_xml("o-a", "x")).status_code == 200
    assert post(api_client, query(settings, nonce="p2"), text_xml("o-a", "x")).status_code == 200
    MpNonce.objects.filter(nonce="p1").update(created_at=timezone.now() - timedelta(seconds=601))
    assert mp_nonces_purge() == 1
    assert list(MpNonce.objects.values_list("nonce", flat=True)) == ["p2"]


# --- safe mode (AES) end to end through the sandbox --------------------------------------------


def test_safe_mode_valid_message(wechat_sandbox, safe_mode, texts):
    answer = push(wechat_sandbox, openid="o-s", text="订单")
    assert answer["status"] == 200
    assert "<Encrypt>" in answer["body"] and "orders of" not in answer["body"]
    assert "orders of o-s" in answer["reply"]
    assert [c["openid"] for c in texts] == ["o-s"]


@pytest.mark.parametrize("tamper", ["body", "msg_signature"])
def test_safe_mode_tampered_body_or_wrong_msg_signature(wechat_sandbox, safe_mode, texts, tamper):
    answer = push(wechat_sandbox, openid="o-s", text="订单", tamper=tamper)
    assert answer["status"] == 403
    assert answer["body"].startswith("invalid_signature")
    assert texts == []
    assert nonce_rows() == 0


def test_safe_mode_a_reused_nonce_with_another_body_is_refused(wechat_sandbox, safe_mode, texts):
    ts = str(int(time.time()))
    assert push(wechat_sandbox, openid="o-s", text="订单", timestamp=ts, nonce="dup1")["status"] == 200
    # even correctly encrypted and signed, another message may not reuse the triple
    again = push(wechat_sandbox, openid="o-other", text="订单", timestamp=ts, nonce="dup1")
    assert again["status"] == 403 and again["body"].startswith("replayed_message")
    assert [c["openid"] for c in texts] == ["o-s"]


def test_safe_mode_a_redelivery_is_dispatched_once(wechat_sandbox, safe_mode, scene_calls):
    answer = push(wechat_sandbox, openid="o-s", event="SCAN", event_key="test:x", repeat=3)
    assert [a["status"] for a in answer["answers"]] == [200, 200, 200]
    assert [c["scene"] for c in scene_calls] == ["test:x"]


@pytest.mark.parametrize("offset", [-400, 400])
def test_safe_mode_stale_or_future(wechat_sandbox, safe_mode, texts, offset):
    answer = push(wechat_sandbox, openid="o-s", text="订单", timestamp=str(int(time.time()) + offset))
    assert answer["status"] == 403 and answer["body"].startswith("stale_message")
    assert texts == []


def test_safe_mode_refuses_plaintext_with_a_good_triple(wechat_sandbox, safe_mode, texts):
    """With an AES key configured, WeChat sends encrypted messages only: a plaintext body
    under a leaked (valid) triple is a forgery."""
    url = f"{wechat_sandbox.url}{MP}?{query(safe_mode, nonce='plain1')}"
    res = requests.post(url, data=text_xml("o-victim", "订单"), timeout=5)
    assert res.status_code == 403 and res.text.startswith("encryption_required")
    assert texts == []


def test_compatible_mode_uses_the_encrypted_part(wechat_sandbox, safe_mode, texts):
    """Compatible mode: plaintext fields and Encrypt side by side; only the signed Encrypt counts."""
    answer = push(wechat_sandbox, openid="o-real", text="订单", compatible=True)
    assert answer["status"] == 200 and "orders of o-real" in answer["reply"]
    forged = push(wechat_sandbox, openid="o-real", text="订单", compatible=True, plain_openid="o-victim")
    assert forged["status"] == 200 and "orders of o-real" in forged["reply"]
    assert [c["openid"] for c in texts] == ["o-real", "o-real"]


# --- many at once: one leaked triple, sixteen forgers -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_uses_of_one_triple_let_exactly_one_message_through(
    store, wechat_sandbox, settings, texts
):
    """Sixteen different messages under one triple, at the same moment, over real HTTP to the
    live server: the replay store (Redis SET NX, or the database's unique constraint) lets
    exactly one of them reach a handler."""
    from tests.concurrency import run_at_once

    q = query(settings, nonce="race1")
    url = f"{wechat_sandbox.url}{MP}?{q}"

    def send(i: int) -> int:
        return requests.post(url, data=text_xml(f"o-race-{i}", "订单"), timeout=30).status_code

    codes = run_at_once(send, 16)
    assert sorted(codes) == [200] + [403] * 15
    assert len(texts) == 1

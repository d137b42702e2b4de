"""Attack regression: a leaked official-account triple re-split into a "new" one.

WeChat's plain-mode signature is SHA-1 over the sorted, *concatenated* token, timestamp and
nonce. Moving characters between the timestamp and the nonce keeps the concatenation, hence
the signature. With a nonce that starts and ends with "0" and sorts before the timestamp,
(ts, "0123456780") and ("0" + ts, "012345678") sign alike, and "0" + ts is the same moment:
the replay store (keyed on the strings) saw a new triple and let a leaked one carry another
user's message. WeChat never sends a timestamp with a leading zero, so one is refused; every
other re-split moves the timestamp out of the window (10x older or newer)."""
from __future__ import annotations

import time

import pytest

from tests.wechat.mp_helpers import post, sign, text_xml

NONCE = "0123456780"  # sorts before a timestamp ("0" < "1"), starts and ends with "0"


@pytest.mark.django_db
def test_a_leaked_triple_cannot_be_resplit_into_a_fresh_one(store, api_client, settings, texts):
    ts = str(int(time.time()))
    signature = sign(settings.WECHAT_MP_TOKEN, ts, NONCE)
    first = post(api_client, f"signature={signature}&timestamp={ts}&nonce={NONCE}", text_xml("o-real", "hi"))
    assert first.status_code == 200

    ts2, nonce2 = "0" + ts, NONCE[:-1]
    assert sign(settings.WECHAT_MP_TOKEN, ts2, nonce2) == signature  # the attacker needs no token
    forged = post(api_client, f"signature={signature}&timestamp={ts2}&nonce={nonce2}", text_xml("o-victim", "订单"))
    assert forged.status_code == 403, forged.content
    assert forged.content.decode().startswith("stale_message")
    assert [c["openid"] for c in texts] == ["o-real"]  # the victim's orders were never read


@pytest.mark.django_db
def test_a_timestamp_with_a_leading_zero_is_refused_even_when_signed(store, api_client, settings, texts):
    ts = "0" + str(int(time.time()))
    q = f"signature={sign(settings.WECHAT_MP_TOKEN, ts, 'n1')}&timestamp={ts}&nonce=n1"
    res = post(api_client, q, text_xml("o-a", "订单"))
    assert res.status_code == 403 and res.content.decode().startswith("stale_message")
    assert texts == []


@pytest.mark.django_db
def test_the_replay_store_is_keyed_on_the_signature(store, settings):
    """Belt and braces beside the leading-zero rule: whatever re-split of a triple gets past
    the freshness check, it carries the same signature, and the store is keyed on that."""
    from wechat.errors import ReplayedMessage
    from wechat.mp import _triple_record

    ts = str(int(time.time()))
    signature = sign(settings.WECHAT_MP_TOKEN, ts, NONCE)
    assert _triple_record(timestamp=ts, nonce=NONCE, signature=signature, fingerprint="a" * 64) is True
    with pytest.raises(ReplayedMessage):
        _triple_record(timestamp="0" + ts, nonce=NONCE[:-1], signature=signature.upper(), fingerprint="b" * 64)
    # the same message again under the same signature is a redelivery, not a replay
    assert _triple_record(timestamp="0" + ts, nonce=NONCE[:-1], signature=signature, fingerprint="a" * 64) is False

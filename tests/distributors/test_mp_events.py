"""The official account for distribution: signed subscribe/SCAN events with a share or invite
code bind the follower; unsigned or wrongly signed ones are refused and bind nobody; "海报"
and "订单" answer distributors and buyers. Driven through the WeChat sandbox over real HTTP
(it builds and signs the XML WeChat would send and posts it to /api/v1/wechat/mp/)."""
from __future__ import annotations

import hashlib
import time

import pytest
import requests

from accounts.models import User
from distributors.models import BindingEvent, CustomerBinding, ShareLink
from mall.services.orders import order_create
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import ADDRESS, make_sku
from wechat.sandbox.faults import fault_arm

MP = "/api/v1/wechat/mp/"


@pytest.fixture(autouse=True)
def _rules():
    distribution_settings_set(binding_mode="days", binding_days=30, protection_days=7)


def push(sandbox, **payload) -> dict:
    res = requests.post(f"{sandbox.url}/wechat-sandbox/mp/push/", json=payload, timeout=15)
    assert res.status_code == 200, res.text
    return res.json()


@pytest.mark.parametrize("scene", ["dist:{link}", "{link}", "inv:{invite}", "{invite}"])
def test_subscribe_with_a_share_or_invite_code_binds_the_new_follower(wechat_sandbox, scene):
    d = DistributorFactory()
    store = ShareLinkFactory(distributor=d)
    key = scene.format(link=store.code, invite=d.invite_code)
    answer = push(wechat_sandbox, openid="o-new-fan", event="subscribe", event_key=key)
    assert answer["status"] == 200
    assert "专属客户" in answer["reply"]
    follower = User.objects.get(openid="o-new-fan")  # created from the openid
    binding = CustomerBinding.objects.get(customer=follower)
    assert (binding.distributor_id, binding.source) == (d.pk, "scan")
    assert binding.link_id == (store.pk if "link" in scene else None)


def test_scan_by_an_existing_follower_binds_them(wechat_sandbox):
    d = DistributorFactory()
    fan = UserFactory(openid="o-old-fan")
    answer = push(wechat_sandbox, openid="o-old-fan", event="SCAN",
                  event_key=f"dist:{ShareLinkFactory(distributor=d).code}")
    assert answer["status"] == 200
    assert CustomerBinding.objects.get(customer=fan).distributor_id == d.pk
    assert User.objects.filter(openid="o-old-fan").count() == 1


def test_scene_respects_the_binding_rules(wechat_sandbox):
    a, b = DistributorFactory(), DistributorFactory()
    fan = UserFactory(openid="o-fan-rules")
    push(wechat_sandbox, openid="o-fan-rules", event="SCAN", event_key=f"dist:{ShareLinkFactory(distributor=a).code}")
    answer = push(wechat_sandbox, openid="o-fan-rules", event="SCAN",
                  event_key=f"dist:{ShareLinkFactory(distributor=b).code}")
    assert answer["status"] == 200
    assert CustomerBinding.objects.get(customer=fan).distributor_id == a.pk  # still protected / not expired
    assert list(BindingEvent.objects.filter(customer=fan).values_list("kind", flat=True)) == ["bound"]


def test_the_distributor_scanning_their_own_code_binds_nothing(wechat_sandbox):
    d = DistributorFactory(user=UserFactory(openid="o-distributor"))
    answer = push(wechat_sandbox, openid="o-distributor", event="subscribe",
                  event_key=f"dist:{ShareLinkFactory(distributor=d).code}")
    assert answer["status"] == 200 and "欢迎关注" in answer["reply"]
    assert not CustomerBinding.objects.exists()


@pytest.mark.parametrize("key", ["dist:ZZZZZZZZ", "inv:not-a-code", "ZZZZZZZZ", "dist:" + "A" * 40])
def test_unknown_codes_bind_nobody_and_still_welcome(wechat_sandbox, key):
    DistributorFactory()
    answer = push(wechat_sandbox, openid="o-stranger", event="subscribe", event_key=key)
    assert answer["status"] == 200 and "欢迎关注" in answer["reply"]
    assert not CustomerBinding.objects.exists()


def test_frozen_distributors_code_binds_nobody(wechat_sandbox):
    d = DistributorFactory(status="frozen")
    push(wechat_sandbox, openid="o-fan-frozen", event="subscribe",
         event_key=f"dist:{ShareLinkFactory(distributor=d).code}")
    assert not CustomerBinding.objects.exists()


def test_wrongly_signed_event_is_refused_and_binds_nobody(wechat_sandbox):
    d = DistributorFactory()
    fault_arm(endpoint="mp.push", mode="bad_signature")
    answer = push(wechat_sandbox, openid="o-evil", event="subscribe",
                  event_key=f"dist:{ShareLinkFactory(distributor=d).code}")
    assert answer["status"] == 403
    assert not CustomerBinding.objects.exists()
    assert not User.objects.filter(openid="o-evil").exists()


def _event_xml(openid: str, scene: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_{scene}]]></EventKey></xml>"
    )


def test_unsigned_event_is_refused_and_a_signed_one_binds(wechat_sandbox, settings):
    d = DistributorFactory()
    xml = _event_xml("o-direct", f"dist:{ShareLinkFactory(distributor=d).code}")
    url = f"{wechat_sandbox.url}{MP}"
    assert requests.post(url, data=xml.encode(), timeout=10).status_code == 403
    ts, nonce = str(int(time.time())), "abc123"
    bad = hashlib.sha1("".join(sorted(("wrong-token", ts, nonce))).encode()).hexdigest()  # noqa: S324
    res = requests.post(f"{url}?signature={bad}&timestamp={ts}&nonce={nonce}", data=xml.encode(), timeout=10)
    assert res.status_code == 403
    assert not CustomerBinding.objects.exists() and not User.objects.filter(openid="o-direct").exists()
    good = hashlib.sha1("".join(sorted((settings.WECHAT_MP_TOKEN, ts, nonce))).encode()).hexdigest()  # noqa: S324
    res = requests.post(f"{url}?signature={good}&timestamp={ts}&nonce={nonce}", data=xml.encode(), timeout=10)
    assert res.status_code == 200
    assert CustomerBinding.objects.get(customer__openid="o-direct").distributor_id == d.pk


@pytest.mark.parametrize("word", ["海报", "poster", " POSTER "])
def test_poster_for_a_distributor(wechat_sandbox, word):
    d = DistributorFactory(user=UserFactory(openid="o-seller"))
    answer = push(wechat_sandbox, openid="o-seller", text=word)
    assert answer["status"] == 200
    store = ShareLink.objects.get(distributor=d, target_type="store", channel="")
    assert f"/api/v1/share-links/{store.code}/poster.png" in answer["reply"]
    # Asking again gives the same link.
    push(wechat_sandbox, openid="o-seller", text=word)
    assert ShareLink.objects.filter(distributor=d).count() == 1


def test_poster_for_someone_who_is_not_an_approved_distributor(wechat_sandbox):
    UserFactory(openid="o-shopper")
    assert "还不是分销商" in push(wechat_sandbox, openid="o-shopper", text="海报")["reply"]
    DistributorFactory(user=UserFactory(openid="o-frozen"), status="frozen")
    assert "冻结" in push(wechat_sandbox, openid="o-frozen", text="海报")["reply"]
    assert not ShareLink.objects.exists()


def test_orders_lists_the_latest_three(wechat_sandbox):
    buyer = UserFactory(openid="o-buyer")
    sku = make_sku(price_fen=12345, stock=10)
    nos = [order_create(user=buyer, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS).no
           for _ in range(4)]
    reply = push(wechat_sandbox, openid="o-buyer", text="订单")["reply"]
    for no in nos[1:]:
        assert no in reply
    assert nos[0] not in reply
    assert "待付款" in reply and "¥123.45" in reply
    assert "还没有订单" in push(wechat_sandbox, openid="o-nobody", text="order")["reply"]


def test_other_text_still_gets_the_default_reply(wechat_sandbox):
    assert "消息已收到" in push(wechat_sandbox, openid="o-chat", text="你好")["reply"]

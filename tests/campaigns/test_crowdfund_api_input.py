"""Bad input on the public crowdfund endpoints over HTTP: for each POST the wrong, the missing,
the huge, the negative, the duplicated and the forged input, and every state a request can
meet (closed, funded, full, unknown, crowdfunding off, out of stock, off shelf, a flagged
message, someone else's crowdfund). Each refusal answers the error shape with its status and
stable code AND changes nothing: no crowdfund, contribution, WeChat payment, refund, order,
ledger transaction or event; raised, reserved and stock as they were (api_helpers.world)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from campaigns.models import Contribution, Crowdfund, CrowdfundStatus
from campaigns.services.crowdfunds import crowdfund_expire
from campaigns.services.settings import crowdfund_product_rule_set, crowdfund_settings_update
from mall.models import Sku
from tests.campaigns.api_helpers import (
    CROWDFUNDS,
    assert_error,
    assert_invalid,
    contributions_url,
    create_body,
    finish_url,
    paid,
    world,
)
from tests.campaigns.crowdfund_helpers import chip_in, sandbox_fault, start
from tests.factories import UserFactory
from tests.mall.factories import ADDRESS
from tests.mall.orders_helpers import make_sku

S = CrowdfundStatus
FLAGGED = "flagged-word"
HUGE = 2**63  # past every integer column
MAX_QTY = settings.MALL_MAX_QUANTITY_PER_ITEM


def _raw(client, url: str, raw: str, **headers):
    return client.post(url, data=raw, content_type="application/json", **headers)


# === POST /crowdfunds/ ====================================================================

WRONG_SKU = [None, "1", 1.0, 1.5, True, False, [1], {"id": 1}, 0, -1, -HUGE, HUGE, 10**40]
WRONG_QUANTITY = [None, "1", 1.0, True, [1], 0, -1, -HUGE, MAX_QTY + 1, HUGE]
WRONG_DURATION = [0, -1, -24, 169, 24 * 365, HUGE, "24", 24.0, 24.5, True, [24]]
WRONG_MESSAGE = [123, True, ["hi"], {"m": "hi"}, "字" * 61, "x" * 10_000, "a\x00b"]


def _create_refused(client, body, status: int, code: str, field: str | None = None) -> dict:
    before = world()
    res = client.post(CROWDFUNDS, body, format="json")
    err = assert_invalid(res, field) if field else assert_error(res, status, code)
    assert world() == before
    return err


@pytest.mark.parametrize("value", WRONG_SKU, ids=repr)
def test_start_with_a_wrong_sku_id(user_client, value):
    sku = make_sku()
    _create_refused(user_client, create_body(sku, sku_id=value), 400, "invalid", "sku_id")


@pytest.mark.parametrize("value", WRONG_QUANTITY, ids=repr)
def test_start_with_a_wrong_quantity(user_client, value):
    sku = make_sku(stock=10**6)
    _create_refused(user_client, create_body(sku, quantity=value), 400, "invalid", "quantity")


@pytest.mark.parametrize("value", WRONG_DURATION, ids=repr)
def test_start_with_a_wrong_duration(user_client, value):
    sku = make_sku()
    _create_refused(user_client, create_body(sku, duration_hours=value), 400, "invalid", "duration_hours")


@pytest.mark.parametrize("value", WRONG_MESSAGE, ids=lambda v: repr(v)[:20])
def test_start_with_a_wrong_message(user_client, value):
    sku = make_sku()
    _create_refused(user_client, create_body(sku, message=value), 400, "invalid", "message")


@pytest.mark.parametrize("address", [
    None, "深圳", [], {}, {**ADDRESS, "phone": "not-a-phone"}, {**ADDRESS, "name": ""},
    {k: v for k, v in ADDRESS.items() if k != "detail"}, {**ADDRESS, "detail": "x" * 201},
    {**ADDRESS, "city": "\x00"},
], ids=lambda v: repr(v)[:30])
def test_start_with_a_wrong_address(user_client, address):
    sku = make_sku()
    _create_refused(user_client, create_body(sku, address=address), 400, "invalid", "address")


@pytest.mark.parametrize("missing", ["sku_id", "quantity", "address"])
def test_start_without_a_required_field(user_client, missing):
    body = create_body(make_sku())
    del body[missing]
    _create_refused(user_client, body, 400, "invalid", missing)


@pytest.mark.parametrize("raw", ["", "not json", "[]", "[1, 2]", "123", '"text"', "null", '{"sku_id": '])
def test_start_with_a_body_that_is_not_an_object(user_client, raw):
    make_sku()
    before = world()
    res = _raw(user_client, CROWDFUNDS, raw)
    body = assert_error(res, 400, res.json()["code"])
    assert body["code"] in {"invalid", "parse_error"}
    assert world() == before


def test_start_without_login(api_client, db):
    sku = make_sku()
    before = world()
    assert_error(api_client.post(CROWDFUNDS, create_body(sku), format="json"), 401, "not_authenticated")
    assert world() == before


def test_start_with_a_forged_token(api_client, db):
    sku = make_sku()
    api_client.credentials(HTTP_AUTHORIZATION="Bearer forged.token.value")
    before = world()
    res = api_client.post(CROWDFUNDS, create_body(sku), format="json")
    assert res.status_code == 401 and res.json()["code"] in {"authentication_failed", "not_authenticated"}
    assert world() == before


def test_start_an_unknown_sku(user_client):
    make_sku()
    body = _create_refused(user_client, create_body(make_sku(), sku_id=987_654_321), 400, "sku_unavailable")
    assert body["extra"] == {"sku_ids": [987_654_321]}


@pytest.mark.parametrize("how", ["product_off_shelf", "sku_inactive"])
def test_start_an_item_off_the_shelf(user_client, how):
    sku = make_sku(on_shelf=how != "product_off_shelf", is_active=how != "sku_inactive")
    _create_refused(user_client, create_body(sku), 400, "sku_unavailable")


@pytest.mark.parametrize(("stock", "quantity"), [(0, 1), (3, 4), (5, MAX_QTY)])
def test_start_more_than_the_stock(user_client, stock, quantity):
    sku = make_sku(stock=stock)
    body = _create_refused(user_client, create_body(sku, quantity=quantity), 409, "out_of_stock")
    assert body["extra"] == {"sku_id": sku.pk}
    assert Sku.objects.get(pk=sku.pk).stock == stock


def test_start_when_crowdfunding_is_off_for_the_shop(user_client, operator):
    sku = make_sku(stock=5)
    crowdfund_settings_update(actor=operator, enabled=False)
    body = _create_refused(user_client, create_body(sku), 409, "crowdfunding_off")
    assert body["extra"] == {"product_id": sku.product_id}
    assert Sku.objects.get(pk=sku.pk).stock == 5  # taken and given back in the same transaction
    crowdfund_settings_update(actor=operator, enabled=True)
    assert user_client.post(CROWDFUNDS, create_body(sku), format="json").status_code == 201


def test_start_when_crowdfunding_is_off_for_the_product(user_client):
    sku, other = make_sku(stock=5), make_sku(stock=5)
    crowdfund_product_rule_set(product_id=sku.product_id, enabled=False)
    _create_refused(user_client, create_body(sku), 409, "crowdfunding_off")
    assert Sku.objects.get(pk=sku.pk).stock == 5
    assert user_client.post(CROWDFUNDS, create_body(other), format="json").status_code == 201


def test_start_longer_than_the_operator_allows(user_client, operator):
    crowdfund_settings_update(actor=operator, default_duration_hours=24, max_duration_hours=48)
    sku = make_sku()
    _create_refused(user_client, create_body(sku, duration_hours=49), 400, "invalid", "duration_hours")
    assert user_client.post(CROWDFUNDS, create_body(sku, duration_hours=48), format="json").status_code == 201


def test_start_below_the_products_minimum_goal(user_client, operator):
    sku = make_sku(price_fen=999, stock=5)
    crowdfund_product_rule_set(product_id=sku.product_id, min_goal_fen=1000)
    body = _create_refused(user_client, create_body(sku), 400, "amount_too_small")
    assert body["extra"] == {"goal_fen": 999, "min_goal_fen": 1000}
    crowdfund_settings_update(actor=operator, min_goal_fen=3000)  # the shop's minimum counts too
    _create_refused(user_client, create_body(sku, quantity=2), 400, "amount_too_small")
    assert user_client.post(CROWDFUNDS, create_body(sku, quantity=4), format="json").status_code == 201


def test_start_a_goal_too_large_for_an_order(user_client):
    sku = make_sku(price_fen=10**8, stock=1000)
    body = _create_refused(user_client, create_body(sku, quantity=101), 400, "amount_too_large")
    assert body["extra"] == {"goal_fen": 101 * 10**8}


def test_start_with_forged_fields_that_are_not_inputs(user_client, user):
    """Fields the client may not set are ignored: the goal is the price, the initiator the caller."""
    other = UserFactory()
    sku = make_sku(price_fen=1500, stock=5)
    forged = create_body(sku, goal_fen=1, price_fen=1, raised_fen=1500, reserved_fen=7, status="funded",
                         initiator_id=other.pk, user_id=other.pk, deadline="2099-01-01T00:00:00Z", id=1,
                         share_code_override="x", stock_held=False, order_id=1)
    res = user_client.post(CROWDFUNDS, forged, format="json")
    assert res.status_code == 201, res.content
    cf = Crowdfund.objects.get(pk=res.json()["id"])
    assert (cf.initiator_id, cf.goal_fen, cf.price_fen, cf.raised_fen, cf.reserved_fen, cf.status, cf.order_id) \
        == (user.pk, 1500, 1500, 0, 0, S.OPEN, None)
    assert cf.deadline < timezone.now() + timedelta(hours=25) and cf.stock_held


def test_start_with_a_flagged_message(wechat_sandbox, user_client):
    sku = make_sku(stock=5)
    before = world()
    res = user_client.post(CROWDFUNDS, create_body(sku, message=f"来看 {FLAGGED.upper()}"), format="json")
    assert_error(res, 400, "content_flagged")
    assert world() == before


def test_start_with_a_bad_idempotency_key(user_client):
    sku = make_sku()
    before = world()
    for key in ("x" * 256, "   ", "bad\nkey"):
        assert_error(user_client.post(CROWDFUNDS, create_body(sku), format="json", HTTP_IDEMPOTENCY_KEY=key),
                     400, "invalid")
    assert world() == before


# === POST /crowdfunds/{id}/contributions/ ==================================================

WRONG_AMOUNT_TYPE = [None, "100", "1e3", 100.0, 100.5, True, False, [100], {"fen": 100}, "", HUGE, -HUGE, 10**40]
WRONG_ANONYMOUS = [None, "true", "false", 1, 0, "yes", [True], {}]


def _contribute_refused(client, cf, body, status: int, code: str, field: str | None = None) -> dict:
    before = world()
    res = client.post(contributions_url(cf), body, format="json")
    err = assert_invalid(res, field) if field else assert_error(res, status, code)
    assert world() == before
    return err


@pytest.mark.parametrize("value", WRONG_AMOUNT_TYPE, ids=repr)
def test_chip_in_a_wrong_amount_type(user_client, value):
    cf = start(price_fen=1000)
    _contribute_refused(user_client, cf, {"amount_fen": value}, 400, "invalid", "amount_fen")


def test_chip_in_without_an_amount(user_client):
    cf = start(price_fen=1000)
    _contribute_refused(user_client, cf, {"message": "hi"}, 400, "invalid", "amount_fen")
    _contribute_refused(user_client, cf, {}, 400, "invalid", "amount_fen")


@pytest.mark.parametrize("amount", [0, -1, -100, -(2**62)])
def test_chip_in_zero_or_negative(user_client, amount):
    cf = start(price_fen=1000)
    body = _contribute_refused(user_client, cf, {"amount_fen": amount}, 400, "amount_too_small")
    assert body["extra"]["amount_fen"] == amount


@pytest.mark.parametrize("amount", [1, 50, 99])
def test_chip_in_below_the_minimum(user_client, amount):
    cf = start(price_fen=1000)
    body = _contribute_refused(user_client, cf, {"amount_fen": amount}, 400, "amount_too_small")
    assert body["extra"] == {"min_fen": 100, "missing_fen": 1000}


def test_chip_in_below_the_operators_minimum(user_client, operator):
    crowdfund_settings_update(actor=operator, min_contribution_fen=500)
    cf = start(price_fen=1000)
    body = _contribute_refused(user_client, cf, {"amount_fen": 499}, 400, "amount_too_small")
    assert body["extra"] == {"min_fen": 500, "missing_fen": 1000}


@pytest.mark.parametrize("amount", [1001, 10**10, 2**62])
def test_chip_in_more_than_the_goal(user_client, amount):
    cf = start(price_fen=1000)
    body = _contribute_refused(user_client, cf, {"amount_fen": amount}, 400, "amount_too_large")
    assert body["extra"] == {"missing_fen": 1000}


@pytest.mark.parametrize("value", WRONG_MESSAGE, ids=lambda v: repr(v)[:20])
def test_chip_in_with_a_wrong_message(user_client, value):
    cf = start(price_fen=1000)
    _contribute_refused(user_client, cf, {"amount_fen": 100, "message": value}, 400, "invalid", "message")


@pytest.mark.parametrize("value", WRONG_ANONYMOUS, ids=repr)
def test_chip_in_with_a_wrong_anonymous(user_client, value):
    cf = start(price_fen=1000)
    _contribute_refused(user_client, cf, {"amount_fen": 100, "anonymous": value}, 400, "invalid", "anonymous")


@pytest.mark.parametrize("raw", ["", "not json", "[]", "[100]", "100", "null", '{"amount_fen": '])
def test_chip_in_with_a_body_that_is_not_an_object(user_client, raw):
    cf = start(price_fen=1000)
    before = world()
    res = _raw(user_client, contributions_url(cf), raw)
    assert res.json()["code"] in {"invalid", "parse_error"}
    assert_error(res, 400, res.json()["code"])
    assert world() == before


def test_chip_in_without_login(api_client, db):
    cf = start(price_fen=1000)
    _contribute_refused(api_client, cf, {"amount_fen": 100}, 401, "not_authenticated")


def test_chip_in_without_a_wechat_login(client_for, db):
    cf = start(price_fen=1000)
    body = _contribute_refused(client_for(UserFactory(openid=None)), cf, {"amount_fen": 100}, 400, "no_openid")
    assert body["extra"] == {}


@pytest.mark.parametrize("pk", [0, 987_654_321, HUGE, 10**30])
def test_chip_in_on_an_unknown_crowdfund(user_client, pk):
    start(price_fen=1000)
    _contribute_refused(user_client, pk, {"amount_fen": 100}, 404, "not_found")


@pytest.mark.parametrize("path", ["abc/contributions/", "-1/contributions/", "1.0/contributions/"])
def test_chip_in_on_a_path_that_is_not_a_crowdfund(user_client, path):
    start(price_fen=1000)
    before = world()
    assert_error(user_client.post(f"{CROWDFUNDS}{path}", {"amount_fen": 100}, format="json"), 404, "not_found")
    assert world() == before


@pytest.mark.parametrize("status", [S.CANCELLED, S.EXPIRED, S.REFUNDED])
def test_chip_in_on_a_closed_crowdfund(user_client, status):
    cf = start(price_fen=1000)
    Crowdfund.objects.filter(pk=cf.pk).update(status=status)
    body = _contribute_refused(user_client, cf, {"amount_fen": 100}, 409, "crowdfund_closed")
    assert body["extra"] == {"status": status}


def test_chip_in_on_a_cancelled_crowdfund_through_the_service(client_for, db):
    initiator = UserFactory()
    cf = start(initiator, price_fen=1000)
    assert client_for(initiator).post(finish_url(cf), {"action": "cancel"}, format="json").status_code == 200
    _contribute_refused(client_for(UserFactory()), cf, {"amount_fen": 100}, 409, "crowdfund_closed")


def test_chip_in_after_the_deadline(user_client):
    cf = start(price_fen=1000)
    Crowdfund.objects.filter(pk=cf.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    _contribute_refused(user_client, cf, {"amount_fen": 100}, 409, "crowdfund_closed")
    assert crowdfund_expire(crowdfund_id=cf.pk)
    _contribute_refused(user_client, cf, {"amount_fen": 100}, 409, "crowdfund_closed")


def test_chip_in_with_forged_fields_that_are_not_inputs(wechat_sandbox, user_client, user):
    """The contributor is the caller, the crowdfund the one in the path, never `is_rest`; a paid
    status cannot be claimed."""
    cf, other_cf = start(price_fen=1000), start(price_fen=1000)
    other = UserFactory()
    forged = {"amount_fen": 300, "user_id": other.pk, "crowdfund_id": other_cf.pk, "crowdfund": other_cf.pk,
              "is_rest": True, "status": "paid", "no": "X" * 16, "reserved_until": "2099-01-01T00:00:00Z",
              "openid": other.openid}
    res = user_client.post(contributions_url(cf), forged, format="json")
    assert res.status_code == 201, res.content
    c = Contribution.objects.get()
    assert (c.user_id, c.crowdfund_id, c.is_rest, c.status, c.amount_fen) == (user.pk, cf.pk, False,
                                                                                "pending_payment", 300)
    assert c.no != "X" * 16 and c.reserved_until < timezone.now() + timedelta(hours=1)
    other_cf.refresh_from_db()
    assert other_cf.reserved_fen == 0
    cf.refresh_from_db()
    assert (cf.raised_fen, cf.reserved_fen) == (0, 300)


def test_chip_in_with_a_flagged_message(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    for message in (FLAGGED, f"生日快乐 {FLAGGED}", "来玩赌博吧"):
        body = _contribute_refused(user_client, cf, {"amount_fen": 100, "message": message}, 400,
                                   "content_flagged")
        assert body["extra"]["suggest"] in {"risky", "review"}
    assert Crowdfund.objects.get(pk=cf.pk).reserved_fen == 0


def test_chip_in_more_than_is_missing(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    paid(wechat_sandbox, cf, 300)
    chip_in(cf, 400)  # a friend paying now
    body = _contribute_refused(user_client, cf, {"amount_fen": 301}, 400, "amount_too_large")
    assert body["extra"] == {"missing_fen": 300}
    assert user_client.post(contributions_url(cf), {"amount_fen": 300}, format="json").status_code == 201


def test_chip_in_below_what_is_missing_when_less_than_the_minimum_is_missing(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    paid(wechat_sandbox, cf, 950)
    for amount in (49, 51, 99):  # only exactly 50 is allowed
        body = _contribute_refused(user_client, cf, {"amount_fen": amount}, 400,
                                   "amount_too_large" if amount > 50 else "amount_too_small")
        assert body["extra"]["missing_fen"] == 50


def test_chip_in_when_everything_left_is_reserved(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    paid(wechat_sandbox, cf, 400)
    chip_in(cf, 600)  # a friend paying now holds the rest
    body = _contribute_refused(user_client, cf, {"amount_fen": 100}, 409, "crowdfund_full")
    assert body["extra"] == {"goal_fen": 1000, "raised_fen": 400, "reserved_fen": 600}


def test_chip_in_on_a_funded_crowdfund(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    paid(wechat_sandbox, cf, 1000)
    assert Crowdfund.objects.get(pk=cf.pk).status == S.ORDERED
    body = _contribute_refused(user_client, cf, {"amount_fen": 100}, 409, "crowdfund_closed")
    assert body["extra"] == {"status": "ordered"}


def test_chip_in_after_crowdfunding_was_turned_off(wechat_sandbox, user_client, operator):
    """Turning crowdfunding off stops new crowdfunds; friends may still finish an open one
    (otherwise it could only expire, and its stock stay held until then)."""
    cf = start(price_fen=1000)
    crowdfund_settings_update(actor=operator, enabled=False)
    crowdfund_product_rule_set(product_id=cf.product_id, enabled=False)
    assert user_client.post(contributions_url(cf), {"amount_fen": 100}, format="json").status_code == 201


# === POST /crowdfunds/{id}/finish/ ========================================================

WRONG_ACTION = [None, "", "PAY_REST", "Cancel", "refund", "pay_rest ", 1, True, ["cancel"], {"action": "cancel"}]


def _finish_refused(client, cf, body, status: int, code: str, field: str | None = None) -> dict:
    before = world()
    res = client.post(finish_url(cf), body, format="json")
    err = assert_invalid(res, field) if field else assert_error(res, status, code)
    assert world() == before
    return err


@pytest.mark.parametrize("value", WRONG_ACTION, ids=repr)
def test_finish_with_a_wrong_action(client_for, db, value):
    initiator = UserFactory()
    cf = start(initiator)
    _finish_refused(client_for(initiator), cf, {"action": value}, 400, "invalid", "action")


def test_finish_without_an_action(client_for, db):
    initiator = UserFactory()
    cf = start(initiator)
    _finish_refused(client_for(initiator), cf, {}, 400, "invalid", "action")
    before = world()
    assert _raw(client_for(initiator), finish_url(cf), "[]").status_code == 400
    assert world() == before


@pytest.mark.parametrize("action", ["cancel", "pay_rest"])
def test_someone_else_finishing_a_crowdfund(wechat_sandbox, client_for, action):
    initiator, stranger = UserFactory(), UserFactory()
    cf = start(initiator, price_fen=2000, stock=3)
    paid(wechat_sandbox, cf, 500, user=stranger)  # even a friend who chipped in
    _finish_refused(client_for(stranger), cf, {"action": action}, 403, "not_initiator")
    assert Crowdfund.objects.get(pk=cf.pk).status == S.OPEN and Sku.objects.get(pk=cf.sku_id).stock == 2


@pytest.mark.parametrize("action", ["cancel", "pay_rest"])
def test_finish_without_login(api_client, db, action):
    cf = start()
    _finish_refused(api_client, cf, {"action": action}, 401, "not_authenticated")


@pytest.mark.parametrize("action", ["cancel", "pay_rest"])
@pytest.mark.parametrize("pk", [0, 987_654_321, HUGE])
def test_finish_an_unknown_crowdfund(user_client, action, pk):
    start()
    _finish_refused(user_client, pk, {"action": action}, 404, "not_found")


@pytest.mark.parametrize("action", ["cancel", "pay_rest"])
@pytest.mark.parametrize("status", [S.CANCELLED, S.EXPIRED, S.REFUNDED])
def test_finish_a_closed_crowdfund(client_for, db, action, status):
    initiator = UserFactory()
    cf = start(initiator)
    Crowdfund.objects.filter(pk=cf.pk).update(status=status, stock_held=False)
    body = _finish_refused(client_for(initiator), cf, {"action": action}, 409, "crowdfund_closed")
    assert body["extra"] == {"status": status}


@pytest.mark.parametrize("action", ["cancel", "pay_rest"])
def test_finish_a_funded_crowdfund(wechat_sandbox, client_for, action):
    initiator = UserFactory()
    cf = start(initiator, price_fen=1000)
    paid(wechat_sandbox, cf, 1000)
    body = _finish_refused(client_for(initiator), cf, {"action": action}, 409, "crowdfund_closed")
    assert body["extra"] == {"status": "ordered"}


def test_pay_the_rest_after_the_deadline(client_for, db):
    initiator = UserFactory()
    cf = start(initiator)
    Crowdfund.objects.filter(pk=cf.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    _finish_refused(client_for(initiator), cf, {"action": "pay_rest"}, 409, "crowdfund_closed")


def test_pay_the_rest_when_everything_left_is_reserved(wechat_sandbox, client_for):
    initiator = UserFactory()
    cf = start(initiator, price_fen=1000)
    chip_in(cf, 1000)
    body = _finish_refused(client_for(initiator), cf, {"action": "pay_rest"}, 409, "crowdfund_full")
    assert body["extra"] == {"reserved_fen": 1000}


def test_pay_the_rest_without_a_wechat_login(client_for, db):
    initiator = UserFactory(openid=None)
    cf = start(initiator)
    _finish_refused(client_for(initiator), cf, {"action": "pay_rest"}, 400, "no_openid")


def test_finish_with_forged_fields(wechat_sandbox, client_for):
    """Only `action` is read: no amount of the client's choosing, no other crowdfund."""
    initiator = UserFactory()
    cf, other = start(initiator, price_fen=2000), start(initiator, price_fen=2000)
    res = client_for(initiator).post(finish_url(cf), {"action": "pay_rest", "amount_fen": 1, "crowdfund_id": other.pk,
                                                      "user_id": UserFactory().pk}, format="json")
    assert res.status_code == 200, res.content
    assert res.json()["contribution"]["amount_fen"] == 2000
    assert Contribution.objects.get().crowdfund_id == cf.pk
    assert Crowdfund.objects.get(pk=other.pk).reserved_fen == 0


def test_duplicate_json_keys_take_the_last_value(user_client):
    """A body with a key twice is read as JSON parsers do (the last one wins): the refusal is
    about that value, and nothing changes."""
    cf = start(price_fen=1000)
    before = world()
    res = _raw(user_client, contributions_url(cf), '{"amount_fen": 100, "amount_fen": -5}')
    assert assert_error(res, 400, "amount_too_small")["extra"]["amount_fen"] == -5
    res = _raw(user_client, contributions_url(cf), json.dumps({"amount_fen": 100})[:-1] + ', "amount_fen": "1"}')
    assert_invalid(res, "amount_fen")
    assert world() == before


@pytest.mark.parametrize("url", ["create", "contribute", "finish"])
def test_a_deeply_nested_body_is_a_parse_error_not_a_crash(client_for, db, url):
    """JSON nested 100,000 deep makes Python's parser raise RecursionError, which DRF's
    JSONParser does not catch (it catches ValueError): it must still be a 400, not a 500."""
    initiator = UserFactory()
    cf = start(initiator)
    client = client_for(initiator)
    client.raise_request_exception = False
    target = {"create": CROWDFUNDS, "contribute": contributions_url(cf), "finish": finish_url(cf)}[url]
    before = world()
    res = _raw(client, target, '{"amount_fen": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_error(res, 400, "parse_error")
    assert world() == before


# === boundaries that are accepted ==========================================================


def test_a_message_of_exactly_60_characters_is_accepted(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    for message in ("字" * 60, "😀" * 60, "  " + "a" * 60 + "  "):
        res = user_client.post(contributions_url(cf), {"amount_fen": 100, "message": message}, format="json")
        assert res.status_code == 201, res.content
        assert len(res.json()["message"]) == 60
    sku = make_sku()
    res = user_client.post(CROWDFUNDS, create_body(sku, message="字" * 60), format="json")
    assert res.status_code == 201 and res.json()["message"] == "字" * 60


def test_a_blank_message_is_no_message(user_client):
    """Whitespace only is no message at all (nothing to check at WeChat: no sandbox here)."""
    cf = start(price_fen=1000)
    sku = make_sku()
    res = user_client.post(CROWDFUNDS, create_body(sku, message="   "), format="json")
    assert res.status_code == 201 and res.json()["message"] == ""
    before = world()
    res = user_client.post(contributions_url(cf), {"amount_fen": 50, "message": " \t "}, format="json")
    assert_error(res, 400, "amount_too_small")  # the message passed; the amount did not
    assert world() == before


@pytest.mark.parametrize("value", [123, True, ["CODE"], {"c": 1}, "x" * 33, "a\x00b"], ids=repr)
def test_start_with_a_wrong_share_code(user_client, value):
    sku = make_sku()
    _create_refused(user_client, create_body(sku, share_code=value), 400, "invalid", "share_code")


def test_start_with_an_unknown_share_code_credits_nobody(user_client):
    sku = make_sku()
    res = user_client.post(CROWDFUNDS, create_body(sku, share_code="NOSUCHCODE"), format="json")
    assert res.status_code == 201, res.content
    cf = Crowdfund.objects.get(pk=res.json()["id"])
    assert cf.share_link_id is None and not (cf.attribution or {}).get("distributor_id")


# === WeChat failing ========================================================================


def test_when_wechat_cannot_create_the_payment_the_room_is_given_back(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    sandbox_fault(wechat_sandbox, "pay.unifiedorder", "fail")
    before = world()
    res = user_client.post(contributions_url(cf), {"amount_fen": 400}, format="json")
    assert res.status_code == 502 and set(res.json()) == {"code", "message", "extra"}
    after = world()
    assert after.crowdfunds == before.crowdfunds  # raised and reserved as they were
    assert (after.ledger, after.stock, after.orders) == (before.ledger, before.stock, before.orders)
    assert list(Contribution.objects.values_list("status", flat=True)) == ["expired"]  # kept for the record
    res = user_client.post(contributions_url(cf), {"amount_fen": 1000}, format="json")  # all the room is back
    assert res.status_code == 201, res.content


def test_when_the_content_check_fails_nothing_is_created(wechat_sandbox, user_client):
    """WeChat's check unreachable or failing: the message is not let through, nothing reserved."""
    cf = start(price_fen=1000)
    sku = make_sku()
    for mode in ("fail", "http_error"):
        sandbox_fault(wechat_sandbox, "wxa.msg_sec_check", mode, times=2)
        before = world()
        res = user_client.post(contributions_url(cf), {"amount_fen": 100, "message": "加油"}, format="json")
        assert res.status_code == 502 and set(res.json()) == {"code", "message", "extra"}, res.content
        res = user_client.post(CROWDFUNDS, create_body(sku, message="加油"), format="json")
        assert res.status_code == 502 and set(res.json()) == {"code", "message", "extra"}, res.content
        assert world() == before


# === one open reservation per friend =======================================================


def test_a_refused_second_request_keeps_the_friends_first_reservation(wechat_sandbox, user_client, user):
    """Chipping in again gives the unpaid first reservation back, but only when the new one is
    made: a refused request leaves the first one (and its WeChat order) alone."""
    cf = start(price_fen=1000)
    first, _ = chip_in(cf, 400, user=user)
    for body, code in (({"amount_fen": 1001}, "amount_too_large"), ({"amount_fen": 99}, "amount_too_small"),
                       ({"amount_fen": 0}, "amount_too_small"), ({"amount_fen": 300, "message": FLAGGED},
                                                                 "content_flagged")):
        _contribute_refused(user_client, cf, body, 400, code)
    _contribute_refused(user_client, cf, {"amount_fen": "300"}, 400, "invalid", "amount_fen")
    first.refresh_from_db()
    assert first.status == "pending_payment" and Crowdfund.objects.get(pk=cf.pk).reserved_fen == 400


def test_the_friend_holding_all_the_room_may_change_their_amount_others_may_not(wechat_sandbox, client_for):
    cf = start(price_fen=1000)
    holder = UserFactory()
    chip_in(cf, 1000, user=holder)
    _contribute_refused(client_for(UserFactory()), cf, {"amount_fen": 100}, 409, "crowdfund_full")
    res = client_for(holder).post(contributions_url(cf), {"amount_fen": 600}, format="json")
    assert res.status_code == 201, res.content
    assert Crowdfund.objects.get(pk=cf.pk).reserved_fen == 600


def test_paying_the_rest_over_the_initiators_own_reservation_still_pays_all_of_it(wechat_sandbox, client_for):
    """The initiator reserved 500 and then asks to pay the rest: whatever happens to the 500,
    the rest they are asked to pay leaves nothing missing."""
    initiator = UserFactory()
    cf = start(initiator, price_fen=2000)
    chip_in(cf, 500, user=initiator)
    res = client_for(initiator).post(finish_url(cf), {"action": "pay_rest"}, format="json")
    assert res.status_code == 200, res.content
    assert res.json()["crowdfund"]["missing_fen"] == 0, res.json()["crowdfund"]
    cf.refresh_from_db()
    assert cf.raised_fen + cf.reserved_fen == cf.goal_fen

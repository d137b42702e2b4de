"""The public crowdfund endpoints over HTTP (api/campaigns.py): starting one, the initiator's
list, the public page (contributors newest first, the top three, anonymous friends without a
name, "mine" only for the initiator), chipping in through the WeChat sandbox, finishing early,
and Idempotency-Key on every POST. Bad input: test_crowdfund_api_input.py."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.models import CampaignRefund, Contribution, ContributionStatus, Crowdfund, CrowdfundStatus
from mall.models import Order, OrderStatus, Sku
from tests.campaigns.api_helpers import (
    CROWDFUNDS,
    assert_error,
    contributions_url,
    create_body,
    detail_url,
    finish_url,
    paid,
    world,
)
from tests.campaigns.crowdfund_helpers import chip_in, sandbox_pay, start
from tests.factories import UserFactory
from tests.mall.factories import ADDRESS
from tests.mall.orders_helpers import make_sku
from wechat.models import WechatPayment

K = ContributionStatus
S = CrowdfundStatus


def _near(iso: str, expected, seconds: int = 60) -> bool:
    return abs((parse_datetime(iso) - expected).total_seconds()) < seconds


# --- starting ---------------------------------------------------------------------------


def test_a_user_starts_a_crowdfund_and_its_stock_is_held(user_client, user):
    sku = make_sku(price_fen=2500, stock=5)
    res = user_client.post(CROWDFUNDS, create_body(sku, quantity=2), format="json")
    assert res.status_code == 201, res.content
    body = res.json()
    cf = Crowdfund.objects.get(pk=body["id"])
    assert cf.initiator_id == user.pk and cf.address == ADDRESS
    assert (body["status"], body["goal_fen"], body["raised_fen"], body["reserved_fen"], body["missing_fen"]) \
        == ("open", 5000, 0, 0, 5000)
    assert (body["sku_id"], body["quantity"], body["price_fen"], body["progress_bps"]) == (sku.pk, 2, 2500, 0)
    assert body["share_code"] == cf.share_code and body["share_url"].endswith(f"/crowdfunds/{cf.pk}")
    assert _near(body["deadline"], timezone.now() + timedelta(hours=24))  # the default duration
    assert 0 < body["seconds_left"] <= 24 * 3600
    assert body["recent"] == [] and body["top"] == []
    assert body["mine"]["address"] == ADDRESS and body["mine"]["can_cancel"] is True
    assert body["initiator"] == {"nickname": user.nickname, "avatar_url": user.avatar_url}
    assert Sku.objects.get(pk=sku.pk).stock == 3


@pytest.mark.parametrize(("duration", "hours"), [(1, 1), (168, 168), (None, 24)])
def test_the_duration_is_chosen_within_the_week(user_client, duration, hours):
    sku = make_sku(price_fen=1000)
    res = user_client.post(CROWDFUNDS, create_body(sku, duration_hours=duration), format="json")
    assert res.status_code == 201, res.content
    assert _near(res.json()["deadline"], timezone.now() + timedelta(hours=hours))


def test_a_message_that_passes_the_content_check_is_shown(wechat_sandbox, user_client):
    sku = make_sku(price_fen=1000)
    res = user_client.post(CROWDFUNDS, create_body(sku, message="  帮我凑个月饼钱  "), format="json")
    assert res.status_code == 201, res.content
    assert res.json()["message"] == "帮我凑个月饼钱"
    assert Crowdfund.objects.get().message == "帮我凑个月饼钱"


# --- reading --------------------------------------------------------------------------------


def test_the_initiators_list_has_only_their_own_newest_first(db, client_for, api_client):
    me, other = UserFactory(), UserFactory()
    first, second = start(me), start(me)
    start(other)
    cancelled = start(me)
    Crowdfund.objects.filter(pk=cancelled.pk).update(status=S.CANCELLED)

    res = client_for(me).get(CROWDFUNDS)
    assert res.status_code == 200
    assert res.json()["count"] == 3
    assert [row["id"] for row in res.json()["results"]] == [cancelled.pk, second.pk, first.pk]
    res = client_for(me).get(CROWDFUNDS, {"status": "open"})
    assert [row["id"] for row in res.json()["results"]] == [second.pk, first.pk]
    assert client_for(other).get(CROWDFUNDS).json()["count"] == 1
    assert client_for(UserFactory()).get(CROWDFUNDS).json()["count"] == 0
    assert_error(api_client.get(CROWDFUNDS), 401, "not_authenticated")
    body = assert_error(client_for(me).get(CROWDFUNDS, {"status": "nonsense"}), 400, "invalid")
    assert "status" in body["extra"]["fields"]


def test_the_page_is_public_and_mine_is_only_for_the_initiator(db, api_client, client_for):
    initiator = UserFactory()
    cf = start(initiator, price_fen=1200)
    anonymous = api_client.get(detail_url(cf))
    assert anonymous.status_code == 200
    assert anonymous.json()["mine"] is None and anonymous.json()["goal_fen"] == 1200
    assert ADDRESS["phone"] not in anonymous.content.decode() and "address" not in anonymous.json()
    assert client_for(UserFactory()).get(detail_url(cf)).json()["mine"] is None
    mine = client_for(initiator).get(detail_url(cf)).json()["mine"]
    assert mine == {"pending_count": 0, "pending_fen": 0, "refunding_fen": 0, "refunded_fen": 0, "own_fen": 0,
                    "address": ADDRESS, "order_no": None, "can_cancel": True, "can_pay_rest": True}


@pytest.mark.parametrize("pk", [0, 999_999_999, 2**63, 10**30])
def test_an_unknown_crowdfund_is_404_for_everyone(db, api_client, user_client, pk):
    for client in (api_client, user_client):
        assert_error(client.get(detail_url(pk)), 404, "not_found")


def test_a_path_that_is_not_a_number_is_404_in_the_error_shape(db, api_client):
    for path in ("abc/", "-1/", "1.5/", "%20/"):
        assert_error(api_client.get(f"{CROWDFUNDS}{path}"), 404, "not_found")


def test_contributors_newest_first_top_three_by_total_anonymous_without_name(wechat_sandbox, api_client, client_for):
    initiator = UserFactory()
    a, b, c, d = (UserFactory(avatar_url=f"https://img.example.com/{n}.png") for n in "abcd")
    cf = start(initiator, price_fen=10_000)
    paid(wechat_sandbox, cf, 300, user=a, message="加油")
    paid(wechat_sandbox, cf, 200, user=b, anonymous=True, message="悄悄支持")
    paid(wechat_sandbox, cf, 500, user=c)
    paid(wechat_sandbox, cf, 400, user=a)
    paid(wechat_sandbox, cf, 100, user=d)
    chip_in(cf, 700, user=UserFactory())  # reserved, not paid: not shown

    body = api_client.get(detail_url(cf)).json()
    assert (body["raised_fen"], body["reserved_fen"], body["contributors"], body["progress_bps"]) \
        == (1500, 700, 5, 1500)
    assert [(r["user_id"], r["amount_fen"]) for r in body["recent"]] \
        == [(d.pk, 100), (a.pk, 400), (c.pk, 500), (None, 200), (a.pk, 300)]
    assert [(r["user_id"], r["amount_fen"]) for r in body["top"]] == [(a.pk, 700), (c.pk, 500), (None, 200)]
    hidden = body["recent"][3]
    assert hidden["anonymous"] is True and hidden["avatar_url"] == "" and hidden["message"] == "悄悄支持"
    assert hidden["nickname"] != b.nickname and b.nickname not in str(body) and b.avatar_url not in str(body)
    named = body["recent"][4]
    assert (named["nickname"], named["avatar_url"], named["message"]) == (a.nickname, a.avatar_url, "加油")

    mine = client_for(initiator).get(detail_url(cf)).json()["mine"]
    assert (mine["pending_count"], mine["pending_fen"], mine["own_fen"]) == (1, 700, 0)


@pytest.mark.parametrize("anonymous_first", [True, False], ids=["anonymous-then-named", "named-then-anonymous"])
def test_the_top_three_never_put_a_name_on_anonymous_money(wechat_sandbox, api_client, anonymous_first):
    """A friend who gave once anonymously and once by name: the top three must not show a
    total mixing both (under the name it discloses the anonymous gift; anonymously, the named
    one subtracted gives it away)."""
    friend, other = UserFactory(), UserFactory()
    cf = start(price_fen=10_000)
    gifts = [(500, True), (100, False)] if anonymous_first else [(100, False), (500, True)]
    for amount, anonymous in gifts:
        paid(wechat_sandbox, cf, amount, user=friend, anonymous=anonymous)
    paid(wechat_sandbox, cf, 200, user=other)
    top = api_client.get(detail_url(cf)).json()["top"]
    assert 600 not in [t["amount_fen"] for t in top], top
    assert all(t["amount_fen"] <= 100 for t in top if t["user_id"] == friend.pk), top


# --- chipping in ----------------------------------------------------------------------------


def test_a_friend_chips_in_and_pays(wechat_sandbox, client_for, api_client):
    cf = start(price_fen=3000)
    friend = UserFactory()
    res = client_for(friend).post(contributions_url(cf), {"amount_fen": 1200, "message": "生日快乐"}, format="json")
    assert res.status_code == 201, res.content
    body = res.json()
    assert (body["crowdfund_id"], body["amount_fen"], body["status"], body["anonymous"], body["message"]) \
        == (cf.pk, 1200, "pending_payment", False, "生日快乐")
    assert body["pay"]["prepay_id"] and body["pay"]["jsapi"]["package"] == f"prepay_id={body['pay']['prepay_id']}"
    assert _near(body["reserved_until"], timezone.now() + timedelta(minutes=10))
    contribution = Contribution.objects.get(pk=body["id"])
    assert contribution.user_id == friend.pk and contribution.no == body["no"] and not contribution.is_rest
    payment = WechatPayment.objects.get(out_trade_no=body["no"])
    assert (payment.purpose, payment.amount_fen, payment.openid) == ("campaigns.crowdfund", 1200, friend.openid)
    page = api_client.get(detail_url(cf)).json()
    assert (page["raised_fen"], page["reserved_fen"], page["missing_fen"]) == (0, 1200, 1800)

    sandbox_pay(wechat_sandbox, body["pay"])
    page = api_client.get(detail_url(cf)).json()
    assert (page["raised_fen"], page["reserved_fen"], page["missing_fen"], page["progress_bps"]) \
        == (1200, 0, 1800, 4000)
    assert page["recent"][0]["message"] == "生日快乐"


def test_the_last_friend_funds_it_and_the_order_places_itself(wechat_sandbox, client_for):
    initiator = UserFactory()
    cf = start(initiator, price_fen=2000)
    paid(wechat_sandbox, cf, 1500)
    res = client_for(UserFactory()).post(contributions_url(cf), {"amount_fen": 500}, format="json")
    assert res.status_code == 201, res.content
    sandbox_pay(wechat_sandbox, res.json()["pay"])
    body = client_for(initiator).get(detail_url(cf)).json()
    assert body["status"] == "ordered" and body["raised_fen"] == 2000 and body["progress_bps"] == 10000
    order = Order.objects.get(pk=Crowdfund.objects.get(pk=cf.pk).order_id)
    assert body["mine"]["order_no"] == order.no and order.status == OrderStatus.PAID
    assert body["mine"]["can_cancel"] is False and body["mine"]["can_pay_rest"] is False
    assert body["seconds_left"] == 0


def test_the_initiator_may_chip_in_too(wechat_sandbox, user_client, user):
    cf = start(user, price_fen=3000)
    res = user_client.post(contributions_url(cf), {"amount_fen": 1000}, format="json")
    assert res.status_code == 201, res.content
    sandbox_pay(wechat_sandbox, res.json()["pay"])
    assert user_client.get(detail_url(cf)).json()["mine"]["own_fen"] == 1000


def test_exactly_what_is_missing_may_be_below_the_minimum(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    paid(wechat_sandbox, cf, 950)
    res = user_client.post(contributions_url(cf), {"amount_fen": 50}, format="json")
    assert res.status_code == 201, res.content
    sandbox_pay(wechat_sandbox, res.json()["pay"])
    assert Crowdfund.objects.get(pk=cf.pk).status == S.ORDERED


def test_an_anonymous_contribution_answers_with_anonymous_true(wechat_sandbox, user_client):
    cf = start(price_fen=1000)
    res = user_client.post(contributions_url(cf), {"amount_fen": 300, "anonymous": True}, format="json")
    assert res.status_code == 201 and res.json()["anonymous"] is True
    assert Contribution.objects.get().anonymous is True


# --- finishing early ------------------------------------------------------------------------


def test_the_initiator_cancels_and_paid_friends_are_refunded(wechat_sandbox, user_client, user):
    cf = start(user, price_fen=3000, stock=4)
    friend_paid = paid(wechat_sandbox, cf, 1000)
    pending, _ = chip_in(cf, 500)
    res = user_client.post(finish_url(cf), {"action": "cancel"}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["action"] == "cancel" and body["contribution"] is None
    assert body["crowdfund"]["status"] == "cancelled" and body["crowdfund"]["reserved_fen"] == 0
    assert Sku.objects.get(pk=cf.sku_id).stock == 4  # given back
    assert CampaignRefund.objects.get().contribution_id == friend_paid.pk
    assert Contribution.objects.get(pk=pending.pk).status == K.EXPIRED


def test_cancelling_with_nothing_paid_is_refunded_at_once(user_client, user):
    cf = start(user)
    res = user_client.post(finish_url(cf), {"action": "cancel"}, format="json")
    assert res.status_code == 200 and res.json()["crowdfund"]["status"] == "refunded"


def test_the_initiator_pays_the_rest(wechat_sandbox, user_client, user):
    cf = start(user, price_fen=3000)
    paid(wechat_sandbox, cf, 1000)
    chip_in(cf, 500)  # a friend paying now: reserved, not part of the rest
    res = user_client.post(finish_url(cf), {"action": "pay_rest"}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["action"] == "pay_rest" and body["contribution"]["amount_fen"] == 1500
    assert body["contribution"]["pay"]["prepay_id"] and body["crowdfund"]["missing_fen"] == 0
    rest = Contribution.objects.get(pk=body["contribution"]["id"])
    assert rest.is_rest and rest.user_id == user.pk
    sandbox_pay(wechat_sandbox, body["contribution"]["pay"])
    cf.refresh_from_db()
    assert (cf.raised_fen, cf.reserved_fen, cf.status) == (2500, 500, S.OPEN)


# --- Idempotency-Key ------------------------------------------------------------------------


def test_starting_twice_with_one_key_starts_one_crowdfund(user_client):
    sku = make_sku(price_fen=1000, stock=5)
    first = user_client.post(CROWDFUNDS, create_body(sku), format="json", HTTP_IDEMPOTENCY_KEY="cf-1")
    again = user_client.post(CROWDFUNDS, create_body(sku), format="json", HTTP_IDEMPOTENCY_KEY="cf-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Crowdfund.objects.count() == 1 and Sku.objects.get(pk=sku.pk).stock == 4

    before = world()
    other = user_client.post(CROWDFUNDS, create_body(sku, quantity=2), format="json", HTTP_IDEMPOTENCY_KEY="cf-1")
    assert_error(other, 422, "idempotency_key_reused")
    assert world() == before


def test_chipping_in_twice_with_one_key_reserves_once(wechat_sandbox, client_for):
    cf = start(price_fen=3000)
    friend = client_for(UserFactory())
    first = friend.post(contributions_url(cf), {"amount_fen": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    again = friend.post(contributions_url(cf), {"amount_fen": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert Contribution.objects.count() == 1 and WechatPayment.objects.count() == 1
    assert Crowdfund.objects.get(pk=cf.pk).reserved_fen == 1000

    before = world()
    other = friend.post(contributions_url(cf), {"amount_fen": 2000}, format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert_error(other, 422, "idempotency_key_reused")
    elsewhere = friend.post(contributions_url(start(price_fen=3000)), {"amount_fen": 1000}, format="json",
                            HTTP_IDEMPOTENCY_KEY="c-1")  # the same body on another crowdfund
    assert_error(elsewhere, 422, "idempotency_key_reused")
    after = world()
    assert (after.contributions, after.payments) == (before.contributions, before.payments)
    assert Crowdfund.objects.get(pk=cf.pk).reserved_fen == 1000


def test_one_key_of_two_friends_is_two_contributions(wechat_sandbox, client_for):
    """Keys are per user: another friend's key never replays someone else's pay parameters."""
    cf = start(price_fen=3000)
    one, two = UserFactory(), UserFactory()
    a = client_for(one).post(contributions_url(cf), {"amount_fen": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    b = client_for(two).post(contributions_url(cf), {"amount_fen": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert a.status_code == b.status_code == 201 and "Idempotent-Replayed" not in b.headers
    assert a.json()["id"] != b.json()["id"] and a.json()["pay"]["prepay_id"] != b.json()["pay"]["prepay_id"]
    assert sorted(Contribution.objects.values_list("user_id", flat=True)) == sorted([one.pk, two.pk])


def test_without_a_key_the_same_contribution_twice_replaces_the_first_reservation(wechat_sandbox, user_client):
    """One open reservation per friend: the second request gives the unpaid first one back."""
    cf = start(price_fen=3000)
    for _ in range(2):
        assert user_client.post(contributions_url(cf), {"amount_fen": 1000}, format="json").status_code == 201
    assert Crowdfund.objects.get(pk=cf.pk).reserved_fen == 1000
    assert sorted(Contribution.objects.values_list("status", flat=True)) == ["expired", "pending_payment"]


def test_cancelling_twice_with_one_key_answers_the_first_response(user_client, user):
    cf = start(user)
    first = user_client.post(finish_url(cf), {"action": "cancel"}, format="json", HTTP_IDEMPOTENCY_KEY="f-1")
    again = user_client.post(finish_url(cf), {"action": "cancel"}, format="json", HTTP_IDEMPOTENCY_KEY="f-1")
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    before = world()
    # without the key, the second cancel is refused and changes nothing
    assert_error(user_client.post(finish_url(cf), {"action": "cancel"}, format="json"), 409, "crowdfund_closed")
    assert_error(user_client.post(finish_url(cf), {"action": "pay_rest"}, format="json",
                                  HTTP_IDEMPOTENCY_KEY="f-1"), 422, "idempotency_key_reused")
    assert world() == before


def test_paying_the_rest_twice_with_one_key_reserves_once(wechat_sandbox, user_client, user):
    cf = start(user, price_fen=2000)
    first = user_client.post(finish_url(cf), {"action": "pay_rest"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    again = user_client.post(finish_url(cf), {"action": "pay_rest"}, format="json", HTTP_IDEMPOTENCY_KEY="r-1")
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert Contribution.objects.count() == 1 and Crowdfund.objects.get(pk=cf.pk).reserved_fen == 2000
    # a second pay_rest without the key is a new request: the unpaid first one is given back
    # (one open reservation per person) and the rest reserved again, never twice
    assert user_client.post(finish_url(cf), {"action": "pay_rest"}, format="json").status_code == 200
    assert sorted(Contribution.objects.values_list("status", flat=True)) == ["expired", "pending_payment"]
    assert Crowdfund.objects.get(pk=cf.pk).reserved_fen == 2000

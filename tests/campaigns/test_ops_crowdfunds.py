"""The operators' crowdfund endpoints: the list and its filters, the detail (payments, refunds,
postings), the settings and per-product rules, and the crowdfund figures of the reports
overview. Rows are built through the ORM (tests/campaigns/ops_helpers.py)."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import (
    CampaignRefundStatus,
    ContributionStatus,
    CrowdfundProductRule,
    CrowdfundSettings,
    CrowdfundStatus,
    RefundReason,
)
from campaigns.selectors.ops import crowdfund_report
from commissions.selectors.reports import report_overview
from tests.factories import UserFactory
from tests.mall.orders_helpers import make_sku
from wechat.models import RefundStatus as WechatRefundStatus

from .ops_helpers import close, contribute, event, fund, make_crowdfund, refund, staff_with

pytestmark = pytest.mark.django_db

LIST = "/api/v1/ops/crowdfunds/"
SETTINGS = "/api/v1/ops/settings/crowdfunds/"
OVERVIEW = "/api/v1/ops/reports/overview/"
SH = ZoneInfo("Asia/Shanghai")
K = ContributionStatus
S = CrowdfundStatus
R = CampaignRefundStatus


def detail_url(pk: int) -> str:
    return f"/api/v1/ops/crowdfunds/{pk}/"


def rule_url(pk: int) -> str:
    return f"/api/v1/ops/products/{pk}/crowdfund-rule/"


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


# --- permissions --------------------------------------------------------------------------

ENDPOINTS = [  # (method, path builder, the permission it needs)
    ("get", lambda ids: LIST, "campaigns.view_crowdfund"),
    ("get", lambda ids: detail_url(ids["cf"]), "campaigns.view_crowdfund"),
    ("get", lambda ids: SETTINGS, "campaigns.change_crowdfundsettings"),
    ("put", lambda ids: SETTINGS, "campaigns.change_crowdfundsettings"),
    ("get", lambda ids: rule_url(ids["product"]), "campaigns.change_crowdfundproductrule"),
    ("put", lambda ids: rule_url(ids["product"]), "campaigns.change_crowdfundproductrule"),
]
BODY = {"min_goal_fen": 500}


@pytest.mark.parametrize(("method", "path", "perm"), ENDPOINTS)
def test_anonymous_401_non_staff_403_staff_without_the_permission_403_with_it_200(
        method, path, perm, api_client, client_for):
    cf = make_crowdfund()
    url = path({"cf": cf.pk, "product": cf.product_id})
    assert getattr(api_client, method)(url, BODY, format="json").status_code == 401
    shopper = client_for(UserFactory(is_staff=False))
    assert getattr(shopper, method)(url, BODY, format="json").status_code == 403
    others = {p for _, _, p in ENDPOINTS} - {perm}
    wrong = client_for(staff_with(*others))  # every other crowdfund permission, not this one
    res = getattr(wrong, method)(url, BODY, format="json")
    assert res.status_code == 403 and res.json()["code"] == "permission_denied"
    assert not CrowdfundProductRule.objects.exists() and not CrowdfundSettings.objects.exists()
    right = client_for(staff_with(perm))
    res = getattr(right, method)(url, BODY, format="json")
    assert res.status_code == 200, res.json()


def test_the_routes_sit_with_the_other_ops_routes():
    from django.urls import resolve

    for url in (LIST, detail_url(3), SETTINGS, rule_url(3)):
        assert resolve(url).url_name.startswith("ops-")


# --- the list -----------------------------------------------------------------------------

@pytest.fixture
def viewer(client_for):
    return client_for(staff_with("campaigns.view_crowdfund"))


def ids(res) -> list[int]:
    assert res.status_code == 200, res.json()
    return [row["id"] for row in res.json()["results"]]


def test_list_is_newest_first_with_each_rows_figures(viewer):
    alice = UserFactory(nickname="阿丽")
    old = make_crowdfund(initiator=alice, price_fen=3000, created_at=sh(2024, 3, 1, 9))
    contribute(old, 1000)
    contribute(old, 500, status=K.PENDING_PAYMENT)
    gone = contribute(old, 700, status=K.REFUNDING)
    refund(gone, status=R.FAILED, reason=RefundReason.NO_ROOM, attempt=3, wechat_status=WechatRefundStatus.FAILED)
    event(old, "refund_needs_operator", subject="contribution", contribution=gone)
    new = make_crowdfund(created_at=sh(2024, 3, 2, 9))
    res = viewer.get(LIST)
    assert ids(res) == [new.pk, old.pk]
    body = res.json()
    assert body["count"] == 2 and {"next", "previous"} <= set(body)
    row = body["results"][1]
    assert row["initiator"] == {"id": alice.pk, "username": alice.username, "nickname": "阿丽"}
    assert (row["goal_fen"], row["raised_fen"], row["reserved_fen"], row["missing_fen"]) == (3000, 1000, 500, 1500)
    assert row["order"] is None and row["status"] == "open"
    figures = row["figures"]
    assert figures["contributions"] == {"pending_payment": 1, "paid": 1, "expired": 0, "refunding": 1, "refunded": 0}
    assert figures["paid_fen"] == 1700 and figures["refunded_fen"] == 0
    assert figures["refunds"] == {"requested": 0, "succeeded": 0, "failed": 1, "settled": 0}
    assert figures["needs_operator"] is True
    assert body["results"][0]["figures"]["needs_operator"] is False
    assert body["results"][0]["figures"]["paid_fen"] == 0


def test_list_filters(viewer):
    alice, bob = UserFactory(), UserFactory()
    sku = make_sku(price_fen=1000)
    a = make_crowdfund(initiator=alice, sku=sku, created_at=sh(2024, 3, 1, 0, 0))
    b = make_crowdfund(initiator=bob, sku=sku, created_at=sh(2024, 3, 15, 12), status=S.EXPIRED)
    c = make_crowdfund(initiator=alice, created_at=sh(2024, 3, 31, 23, 59, 59))
    d = make_crowdfund(initiator=bob, created_at=sh(2024, 4, 1, 0, 0), status=S.CANCELLED)
    assert ids(viewer.get(LIST, {"status": "open"})) == [c.pk, a.pk]
    assert ids(viewer.get(LIST, {"status": "cancelled"})) == [d.pk]
    assert ids(viewer.get(LIST, {"status": "refunded"})) == []
    assert ids(viewer.get(LIST, {"product": sku.product_id})) == [b.pk, a.pk]
    assert ids(viewer.get(LIST, {"initiator": bob.pk})) == [d.pk, b.pk]
    # days are whole Shanghai days, both ends included
    assert ids(viewer.get(LIST, {"from": "2024-03-01", "to": "2024-03-31"})) == [c.pk, b.pk, a.pk]
    assert ids(viewer.get(LIST, {"from": "2024-03-02"})) == [d.pk, c.pk, b.pk]
    assert ids(viewer.get(LIST, {"to": "2024-02-29"})) == []
    assert ids(viewer.get(LIST, {"from": "2024-03-15T12:00:00+08:00", "to": "2024-03-15T12:00:00+08:00"})) == [b.pk]
    assert ids(viewer.get(LIST, {"initiator": alice.pk, "status": "open", "product": sku.product_id})) == [a.pk]
    assert ids(viewer.get(LIST, {"page_size": 1, "page": 2})) == [c.pk]


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "nope"}, "status"),
    ({"product": "x"}, "product"),
    ({"product": "0"}, "product"),
    ({"product": str(2**70)}, "product"),
    ({"initiator": "-1"}, "initiator"),
    ({"from": "2024-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2024-03-02", "to": "2024-03-01"}, "to"),
])
def test_list_refuses_bad_filters(viewer, params, field):
    res = viewer.get(LIST, params)
    assert res.status_code == 400
    assert res.json()["code"] == "invalid" and field in res.json()["extra"]["fields"]


def _busy_crowdfund(i: int):
    cf = make_crowdfund(price_fen=5000)
    paid = contribute(cf, 1000)
    contribute(cf, 500, status=K.PENDING_PAYMENT)
    back = contribute(cf, 300, status=K.REFUNDING)
    refund(back, status=R.REQUESTED, reason=RefundReason.NO_ROOM, wechat_status=None)
    event(cf, "refund_needs_operator", contribution=paid)
    return cf


def test_the_lists_query_count_does_not_grow_with_its_rows(viewer, settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0  # both requests authenticate the same way
    _busy_crowdfund(0)
    with CaptureQueriesContext(connection) as one:
        assert len(ids(viewer.get(LIST))) == 1
    for i in range(19):
        _busy_crowdfund(i + 1)
    with CaptureQueriesContext(connection) as twenty:
        assert len(ids(viewer.get(LIST))) == 20
    assert len(twenty.captured_queries) == len(one.captured_queries)
    assert len(one.captured_queries) <= 8  # token, user (+ perms), count, page, three figure queries


# --- the detail ---------------------------------------------------------------------------

@pytest.fixture
def funded(db):
    """An ordered crowdfund: two counted contributions, one refused for lack of room (refunded
    after a failed first attempt), an expired reservation, and part of the order refunded back."""
    cf = make_crowdfund(price_fen=3000)
    first = contribute(cf, 2000)
    second = contribute(cf, 1000)
    late = contribute(cf, 500, status=K.REFUNDED)
    refund(late, status=R.FAILED, reason=RefundReason.NO_ROOM, attempt=1, wechat_status=WechatRefundStatus.FAILED)
    refund(late, reason=RefundReason.NO_ROOM, attempt=2)
    unpaid = contribute(cf, 300, status=K.EXPIRED)
    event(cf, "paid", subject="contribution", contribution=first, frm=K.PENDING_PAYMENT, to=K.PAID)
    cf = fund(cf)
    part = refund(first, amount_fen=200, reason=RefundReason.ORDER_REFUND, wechat_status=WechatRefundStatus.PROCESSING,
                  status=R.REQUESTED, book=False)
    return {"cf": cf, "first": first, "second": second, "late": late, "unpaid": unpaid, "part": part}


def test_detail_shows_contributions_with_payments_and_refunds_events_and_postings(viewer, funded):
    cf = funded["cf"]
    res = viewer.get(detail_url(cf.pk))
    assert res.status_code == 200, res.json()
    body = res.json()
    assert body["status"] == "ordered" and body["goal_fen"] == 3000 and body["raised_fen"] == 3000
    assert body["order"]["no"] == cf.order.no and body["order"]["status"] == "paid"
    assert body["address"]["city"] == "深圳市"
    rows = {c["no"]: c for c in body["contributions"]}
    assert [c["no"] for c in body["contributions"]][0] == funded["unpaid"].no  # newest first
    first = rows[funded["first"].no]
    assert first["payment"]["status"] == "paid" and first["payment"]["amount_fen"] == 2000
    assert first["payment"]["out_trade_no"] == funded["first"].no
    assert [(r["reason"], r["status"], r["wechat"]["status"]) for r in first["refunds"]] == [
        ("order_refund", "requested", "processing")]
    late = rows[funded["late"].no]
    assert [(r["attempt"], r["status"], r["wechat"]["status"]) for r in late["refunds"]] == [
        (1, "failed", "failed"), (2, "succeeded", "succeeded")]
    assert late["refunded_fen"] == 500 and late["status"] == "refunded"
    unpaid = rows[funded["unpaid"].no]
    assert unpaid["payment"]["status"] == "prepaid" and unpaid["refunds"] == [] and unpaid["paid_at"] is None
    assert [e["kind"] for e in body["events"]] == ["paid", "funded", "ordered"]
    assert body["events"][0]["contribution_id"] == funded["first"].pk
    causes = sorted((p["cause_type"], p["kind"]) for p in body["postings"])
    assert causes == [
        ("campaigns.contribution", "campaigns.contribution_paid"),
        ("campaigns.contribution", "campaigns.contribution_paid"),
        ("campaigns.contribution", "campaigns.contribution_paid"),
        ("campaigns.contribution", "campaigns.contribution_refund"),
        ("campaigns.crowdfund", "campaigns.crowdfund_funded"),
        ("mall.order", "mall.payment"),
    ]
    for posting in body["postings"]:
        assert sum(e["amount_fen"] for e in posting["entries"]) == 0 and len(posting["entries"]) == 2
    funding = next(p for p in body["postings"] if p["cause_type"] == "campaigns.crowdfund")
    assert {e["kind"]: e["amount_fen"] for e in funding["entries"]} == {"campaign_escrow": -3000,
                                                                        "wechat_external": 3000}
    assert body["escrow_fen"] == 0  # 3500 in, 500 refunded, 3000 to the order
    assert body["figures"]["paid_fen"] == 3500 and body["figures"]["refunds"]["requested"] == 1


def test_detail_leaves_out_other_crowdfunds_postings(viewer, funded):
    other = make_crowdfund(price_fen=1000)
    contribute(other, 1000)
    fund(other)
    body = viewer.get(detail_url(funded["cf"].pk)).json()
    mine = {funded["cf"].order.no, str(funded["cf"].pk), *(funded[k].no for k in ("first", "second", "late"))}
    assert {p["cause_id"] for p in body["postings"]} == mine


def test_detail_of_an_unknown_crowdfund_is_404(viewer):
    res = viewer.get(detail_url(999999))
    assert res.status_code == 404 and res.json()["code"] == "not_found"


def test_the_details_query_count_does_not_grow_with_contributions(viewer, settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0  # both requests authenticate the same way
    small = make_crowdfund(price_fen=100_000)
    back = contribute(small, 100, status=K.REFUNDING)
    refund(back, reason=RefundReason.NO_ROOM)
    contribute(small, 100)
    with CaptureQueriesContext(connection) as few:
        assert viewer.get(detail_url(small.pk)).json()["escrow_fen"] == 100  # the paid one waits in escrow
    big = make_crowdfund(price_fen=100_000)
    for _ in range(20):
        back = contribute(big, 100, status=K.REFUNDING)
        refund(back, reason=RefundReason.NO_ROOM)
        contribute(big, 100)
    with CaptureQueriesContext(connection) as many:
        body = viewer.get(detail_url(big.pk)).json()
    assert len(body["contributions"]) == 40 and len(body["postings"]) == 60
    assert len(many.captured_queries) == len(few.captured_queries)


# --- settings -----------------------------------------------------------------------------

@pytest.fixture
def settings_client(client_for):
    return client_for(staff_with("campaigns.change_crowdfundsettings"))


def test_settings_get_shows_the_defaults_and_writes_nothing(settings_client):
    res = settings_client.get(SETTINGS)
    assert res.status_code == 200
    assert res.json() == {"enabled": True, "default_duration_hours": 24, "max_duration_hours": 168,
                          "min_contribution_fen": 100, "pay_window_minutes": 10, "min_goal_fen": 0,
                          "updated_at": None}
    assert not CrowdfundSettings.objects.exists()


def test_settings_put_changes_only_the_fields_sent(settings_client):
    res = settings_client.put(SETTINGS, {"min_contribution_fen": 200, "enabled": False}, format="json")
    assert res.status_code == 200, res.json()
    assert res.json()["min_contribution_fen"] == 200 and res.json()["enabled"] is False
    assert res.json()["default_duration_hours"] == 24 and res.json()["updated_at"]
    res = settings_client.put(SETTINGS, {"max_duration_hours": 48, "default_duration_hours": 12}, format="json")
    assert res.status_code == 200, res.json()
    row = CrowdfundSettings.objects.get()
    assert (row.min_contribution_fen, row.enabled, row.max_duration_hours, row.default_duration_hours) == (
        200, False, 48, 12)
    assert settings_client.get(SETTINGS).json()["max_duration_hours"] == 48


@pytest.mark.parametrize(("body", "field"), [
    ({"min_contribution_fen": "200"}, "min_contribution_fen"),  # a string
    ({"min_contribution_fen": 200.0}, "min_contribution_fen"),  # a float
    ({"pay_window_minutes": True}, "pay_window_minutes"),  # a boolean is no number
    ({"enabled": "false"}, "enabled"),
    ({"enabled": 0}, "enabled"),
    ({"min_goal_fen": -1}, "min_goal_fen"),
    ({"min_contribution_fen": 0}, "min_contribution_fen"),
    ({"min_goal_fen": 10**30}, "min_goal_fen"),
    ({"max_duration_hours": 7 * 24 + 1}, "max_duration_hours"),
    ({"pay_window_minutes": 121}, "pay_window_minutes"),
    ({"default_duration_hours": None}, "default_duration_hours"),
    ({"min_goal_fen": 100, "surprise": 1}, "surprise"),  # unknown: the valid field is not saved either
    ({"updated_at": "2024-01-01T00:00:00Z"}, "updated_at"),
    ({"default_duration_hours": 100, "max_duration_hours": 50}, "default_duration_hours"),
    ({"default_duration_hours": 169}, "default_duration_hours"),
])
@pytest.mark.parametrize("saved_before", [False, True])
def test_settings_put_refuses_bad_values_and_changes_nothing(settings_client, body, field, saved_before):
    if saved_before:
        assert settings_client.put(SETTINGS, {"min_goal_fen": 7}, format="json").status_code == 200
    before = list(CrowdfundSettings.objects.values())
    res = settings_client.put(SETTINGS, body, format="json")
    assert res.status_code == 400, res.json()
    assert res.json()["code"] == "invalid" and field in res.json()["extra"]["fields"]
    assert list(CrowdfundSettings.objects.values()) == before


def test_settings_put_default_above_the_saved_maximum_is_refused(settings_client):
    assert settings_client.put(SETTINGS, {"max_duration_hours": 30}, format="json").status_code == 200
    res = settings_client.put(SETTINGS, {"default_duration_hours": 31}, format="json")
    assert res.status_code == 400 and "default_duration_hours" in res.json()["extra"]["fields"]
    assert CrowdfundSettings.objects.get().default_duration_hours == 24


@pytest.mark.parametrize("body", [[1, 2], "enabled", 5])
def test_settings_put_needs_a_json_object(settings_client, body):
    res = settings_client.put(SETTINGS, body, format="json")
    assert res.status_code == 400 and res.json()["code"] == "invalid"
    assert not CrowdfundSettings.objects.exists()


# --- product rules ------------------------------------------------------------------------

@pytest.fixture
def rule_client(client_for):
    return client_for(staff_with("campaigns.change_crowdfundproductrule"))


def test_product_rule_defaults_then_set(rule_client):
    product = make_sku().product
    res = rule_client.get(rule_url(product.pk))
    assert res.json() == {"product_id": product.pk, "enabled": True, "min_goal_fen": 0, "updated_at": None}
    assert not CrowdfundProductRule.objects.exists()
    res = rule_client.put(rule_url(product.pk), {"enabled": False}, format="json")
    assert res.status_code == 200 and res.json()["enabled"] is False and res.json()["min_goal_fen"] == 0
    res = rule_client.put(rule_url(product.pk), {"min_goal_fen": 5000}, format="json")
    assert res.status_code == 200 and res.json()["enabled"] is False and res.json()["min_goal_fen"] == 5000
    rule = CrowdfundProductRule.objects.get()
    assert (rule.product_id, rule.enabled, rule.min_goal_fen) == (product.pk, False, 5000)
    assert rule_client.get(rule_url(product.pk)).json()["min_goal_fen"] == 5000


@pytest.mark.parametrize("method", ["get", "put"])
def test_product_rule_of_an_unknown_product_is_404(rule_client, method):
    res = getattr(rule_client, method)(rule_url(999999), {"enabled": "bad"}, format="json")
    assert res.status_code == 404 and res.json()["code"] == "not_found"
    assert not CrowdfundProductRule.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"enabled": "no"}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"min_goal_fen": -5}, "min_goal_fen"),
    ({"min_goal_fen": "100"}, "min_goal_fen"),
    ({"min_goal_fen": 1.5}, "min_goal_fen"),
    ({"min_goal_fen": 10**11}, "min_goal_fen"),
    ({"min_goal_fen": 100, "product_id": 3}, "product_id"),
    ([True], "non_field_errors"),
])
def test_product_rule_refuses_bad_input(rule_client, body, field):
    product = make_sku().product
    res = rule_client.put(rule_url(product.pk), body, format="json")
    assert res.status_code == 400, res.json()
    assert field in res.json()["extra"]["fields"]
    assert not CrowdfundProductRule.objects.exists()


# --- the reports overview -----------------------------------------------------------------

@pytest.fixture
def march(db):
    """Crowdfunds started in March 2024 (Shanghai) and around it; contributions paid and
    refunds finished on both sides of the month's edges."""
    inside = sh(2024, 3, 10, 12)
    a = make_crowdfund(price_fen=3000, created_at=sh(2024, 3, 1, 0, 0))  # funded
    friend = UserFactory()
    contribute(a, 2000, user=friend, paid_at=sh(2024, 2, 29, 23, 59))  # paid before the month
    contribute(a, 1000, user=friend, paid_at=inside)
    fund(a)
    b = make_crowdfund(price_fen=5000, created_at=inside)  # expired, refunds done
    gone = contribute(b, 800, status=K.REFUNDED, paid_at=inside)
    refund(gone, reason=RefundReason.EXPIRED, finished_at=sh(2024, 3, 31, 23, 59))
    close(b, S.EXPIRED, refunded=True)
    c = make_crowdfund(price_fen=5000, created_at=inside)  # expired, a refund still going
    back = contribute(c, 400, status=K.REFUNDING, paid_at=inside)
    refund(back, reason=RefundReason.EXPIRED, status=R.REQUESTED, wechat_status=None)
    close(c, S.EXPIRED)
    d = make_crowdfund(price_fen=5000, created_at=inside)  # cancelled, refund finished in April
    late = contribute(d, 600, status=K.REFUNDED, paid_at=sh(2024, 3, 31, 23, 59, 59))
    refund(late, reason=RefundReason.CANCELLED, finished_at=sh(2024, 4, 1, 0, 0))
    close(d, S.CANCELLED, refunded=True)
    e = make_crowdfund(price_fen=5000, created_at=sh(2024, 3, 31, 23, 59, 59))  # open
    contribute(e, 100, status=K.PENDING_PAYMENT)  # not paid: not contributed
    make_crowdfund(created_at=sh(2024, 4, 1, 0, 0))  # April
    make_crowdfund(created_at=sh(2024, 2, 29, 23, 59, 59), status=S.CANCELLED)  # February
    return {"a": a}


MARCH = {
    "started": 5, "open": 1, "funded": 1, "expired": 2, "cancelled": 1, "refunded": 2,
    "conversion_bps": 2000,  # 1 of 5
    "contributions": 4,  # 1000 (a), 800 (b), 400 (c), 600 (d)
    "contributed_fen": 2800,
    "contributors": 4,  # the friend paid twice, once in February
    "refunds": 1, "refunded_fen": 800,  # b's; c's is not done, d's finished in April
}


def test_crowdfund_report_figures(march, django_assert_num_queries):
    with django_assert_num_queries(3):
        figures = crowdfund_report(day_from=date(2024, 3, 1), day_to=date(2024, 3, 31))
    assert figures == MARCH
    assert crowdfund_report(day_from=date(2024, 4, 1), day_to=date(2024, 4, 1)) == {
        **dict.fromkeys(MARCH, 0), "started": 1, "open": 1, "refunds": 1, "refunded_fen": 600}
    feb = crowdfund_report(day_from=date(2024, 2, 29), day_to=date(2024, 2, 29))
    assert (feb["started"], feb["cancelled"], feb["contributed_fen"], feb["contributors"]) == (1, 0, 2000, 1)


def test_conversion_is_rounded_down_in_basis_points(db):
    day = sh(2024, 5, 5, 10)
    for i in range(3):
        cf = make_crowdfund(price_fen=100, created_at=day)
        if i == 0:
            contribute(cf, 100, paid_at=day)
            fund(cf)
    assert crowdfund_report(day_from=date(2024, 5, 5), day_to=date(2024, 5, 5))["conversion_bps"] == 3333


def test_overview_carries_the_crowdfund_figures_and_keeps_its_other_keys(march, operator_client):
    res = operator_client.get(OVERVIEW, {"from": "2024-03-01", "to": "2024-03-31"})
    assert res.status_code == 200, res.json()
    body = res.json()
    assert body["campaigns"]["crowdfunds"] == MARCH and set(body["campaigns"]) == {"crowdfunds", "red_envelopes"}
    rest = {k: v for k, v in body.items() if k != "campaigns"}
    expected = report_overview(day_from=date(2024, 3, 1), day_to=date(2024, 3, 31))
    assert set(rest) == {"from", "to", *expected.keys()} - {"campaigns"}
    assert rest["gmv"] == expected["gmv"] and rest["orders"]["paid"] == expected["orders"]["paid"]


def test_overview_of_an_empty_period_has_zero_crowdfund_figures(operator_client):
    body = operator_client.get(OVERVIEW, {"from": "2020-01-01", "to": "2020-01-31"}).json()
    assert body["campaigns"]["crowdfunds"] == dict.fromkeys(MARCH, 0)


def test_overview_still_needs_the_report_permission(client_for, march):
    viewer = client_for(staff_with("campaigns.view_crowdfund"))
    assert viewer.get(OVERVIEW).status_code == 403
    reporter = client_for(staff_with("commissions.view_commission"))
    assert reporter.get(OVERVIEW, {"from": "2024-03-01", "to": "2024-03-31"}).json()["campaigns"]["crowdfunds"][
        "started"] == 5


def test_the_schema_describes_the_endpoints(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert {p["name"] for p in paths[LIST]["get"]["parameters"]} >= {"status", "product", "from", "to", "initiator"}
    assert {"get", "put"} <= set(paths[SETTINGS])
    assert {"get", "put"} <= set(paths["/api/v1/ops/products/{id}/crowdfund-rule/"])
    assert "/api/v1/ops/crowdfunds/{id}/" in paths
    overview = paths[OVERVIEW]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    name = overview.rsplit("/", 1)[-1]
    assert "campaigns" in schema["components"]["schemas"][name]["properties"]


def test_a_day_is_a_shanghai_day(viewer):
    # 2024-03-01 00:30 in Shanghai is still 29 February in UTC
    cf = make_crowdfund(created_at=sh(2024, 3, 1, 0, 30))
    assert ids(viewer.get(LIST, {"from": "2024-03-01", "to": "2024-03-01"})) == [cf.pk]
    assert ids(viewer.get(LIST, {"to": "2024-02-29"})) == []
    assert ids(viewer.get(LIST, {"to": "2024-02-29T16:30:00Z"})) == [cf.pk]  # the same moment in UTC

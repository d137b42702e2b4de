"""Operators review withdrawals: the queue (filters, pagination, bounded queries), risk signals
(each one triggering and not), approve / reject / bulk through the API, the CSV report, and
the admin's actions — all through the services, with the ledger checked."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuthToken, User
from accounts.services import token_issue
from commissions.models import Withdrawal
from commissions.selectors.withdrawals_review import (
    NEW_ACCOUNT_DAYS,
    SHARED_IP_MIN_CUSTOMERS,
    withdrawal_risk_signals,
)
from commissions.services.withdrawals import withdrawal_approve, withdrawal_reject
from distributors.models import Distributor
from ledger.models import AccountKind, Entry, LedgerTransaction
from ledger.services import account_get_or_create, ledger_post
from mall.models import Order
from tests.factories import CustomerBindingFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import make_sku, order_payload

from .review_helpers import ADMIN, LIST, attributed_order, make_withdrawal, refund
from .wallet_helpers import fund, funded_distributor, platform_balance, wallet, withdrawal_settings

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/ops/withdrawals/export.csv"
BULK = "/api/v1/ops/withdrawals/bulk/"


@pytest.fixture(autouse=True)
def _limits():
    withdrawal_settings(withdrawal_daily_count=100)
    distribution_settings_set(default_level1_bps=1000, default_level2_bps=0, levels=1, freeze_days=7)


# --- helpers ------------------------------------------------------------------------------

def aged(distributor, days: int = 60) -> None:
    then = timezone.now() - timedelta(days=days)
    User.objects.filter(pk=distributor.user_id).update(date_joined=then)
    Distributor.objects.filter(pk=distributor.pk).update(approved_at=then)


def signals(withdrawal) -> dict[str, dict]:
    return {s["code"]: s for s in withdrawal_risk_signals(withdrawal_ids=[withdrawal.pk])[withdrawal.pk]}


def bind(distributor, customer) -> None:
    CustomerBindingFactory(customer=customer, distributor=distributor)


def login(user, ip: str, agent: str = "Mozilla/5.0 (iPhone) MicroMessenger/8.0") -> None:
    token_issue(user=user, user_agent=agent, ip=ip)


def staff_with(*codenames: str):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="commissions",
                                                         codename__in=codenames))
    return user


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


def state(w) -> tuple:
    w.refresh_from_db()
    return (w.status, w.reviewed_by_id, w.reason, w.events.count())


# --- IPs are recorded -----------------------------------------------------------------------

def test_logins_and_orders_record_the_client_ip(api_client, client_for):
    UserFactory(username="op1", is_staff=True)
    res = api_client.post("/api/v1/auth/login/", {"username": "op1", "password": "pw-Secret-123"}, format="json",
                          REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="OpsBrowser/1.0")
    assert res.status_code == 200, res.json()
    token = AuthToken.objects.get(user__username="op1")
    assert (token.ip, token.user_agent) == ("203.0.113.7", "OpsBrowser/1.0")

    buyer = UserFactory()
    sku = make_sku(price_fen=500)
    res = client_for(buyer).post("/api/v1/orders/", order_payload((sku, 1)), format="json",
                                 REMOTE_ADDR="2001:db8::5")
    assert res.status_code == 201, res.json()
    assert Order.objects.get(no=res.json()["no"]).client_ip == "2001:db8::5"


@pytest.mark.parametrize("raw", ["not-an-ip", "999.1.1.1", "", None, "1.2.3.4, 5.6.7.8", "x" * 300])
def test_a_garbled_ip_is_not_stored(raw):
    user = UserFactory()
    token_issue(user=user, ip=raw)
    assert AuthToken.objects.get(user=user).ip is None


# --- the queue: filters, ordering, pagination -------------------------------------------------

@pytest.fixture
def queue(operator):
    reviewer2 = UserFactory(is_staff=True, is_superuser=True)
    d1 = funded_distributor(0, nickname="甲乙")
    d2 = funded_distributor(0, nickname="丙丁")
    d3 = funded_distributor(0, nickname="戊己")
    Distributor.objects.filter(pk=d1.pk).update(real_name="李雷", phone="13911110001")
    Distributor.objects.filter(pk=d2.pk).update(real_name="韩梅梅", phone="13922220002")
    w1 = make_withdrawal(1_000, distributor=d1)
    w2 = make_withdrawal(5_000, distributor=d2)
    w3 = make_withdrawal(300, distributor=d3)
    withdrawal_approve(operator=operator, withdrawal_id=w1.pk)
    withdrawal_reject(operator=reviewer2, withdrawal_id=w2.pk, reason="资料不符")
    tz = timezone.get_current_timezone()
    Withdrawal.objects.filter(pk=w1.pk).update(requested_at=datetime(2026, 1, 5, 12, 0, tzinfo=tz))
    Withdrawal.objects.filter(pk=w2.pk).update(requested_at=datetime(2026, 2, 10, 12, 0, tzinfo=tz))
    Withdrawal.objects.filter(pk=w3.pk).update(requested_at=datetime(2026, 3, 1, 9, 0, tzinfo=tz))
    for w in (w1, w2, w3):
        w.refresh_from_db()
    return {"w1": w1, "w2": w2, "w3": w3, "d1": d1, "d2": d2, "d3": d3, "reviewer2": reviewer2}


def test_filters(operator_client, operator, queue):
    w1, w2, w3 = queue["w1"].pk, queue["w2"].pk, queue["w3"].pk

    def get(**params):
        return ids(operator_client.get(LIST, params))

    assert get() == [w3, w2, w1]  # newest first
    assert get(status="approved") == [w1]
    assert get(status="requested") == [w3]
    assert get(user=queue["d2"].user_id) == [w2]
    assert get(distributor=queue["d3"].pk) == [w3]
    assert get(min_fen=1_000) == [w2, w1]
    assert get(max_fen=1_000) == [w3, w1]
    assert get(min_fen=1_000, max_fen=1_000) == [w1]
    assert get(**{"from": "2026-02-01"}) == [w3, w2]
    assert get(to="2026-01-05") == [w1]  # a day: all of it
    assert get(**{"from": "2026-02-10T11:00:00+08:00", "to": "2026-02-10T13:00:00+08:00"}) == [w2]
    assert get(**{"from": "2026-02-10T13:00:00+08:00", "to": "2026-02-28"}) == []
    assert get(reviewed_by=operator.pk) == [w1]
    assert get(reviewed_by=queue["reviewer2"].pk) == [w2]
    assert get(q="李") == [w1]
    assert get(q="1392222") == [w2]
    assert get(q="戊己") == [w3]
    assert get(q=queue["w3"].transfer_no) == [w3]
    assert get(q="nobody-like-this") == []
    assert get(ordering="amount_fen") == [w3, w1, w2]
    assert get(ordering="-amount_fen") == [w2, w1, w3]
    assert get(ordering="requested_at") == [w1, w2, w3]
    assert get(ordering="reviewed_at")[-1] == w3  # never reviewed: last either way
    assert get(ordering="-reviewed_at")[-1] == w3
    assert get(status="paid") == []
    rows = operator_client.get(LIST, {"status": "rejected"}).json()["results"]
    row = rows[0]
    assert (row["reviewed_by"]["id"], row["reason"], row["amount_fen"], row["distributor"]["real_name"]) == (
        queue["reviewer2"].pk, "资料不符", 5_000, "韩梅梅")
    assert {"risk_level", "risk_codes", "transfer_no", "fee_fen", "net_fen"} <= set(row)


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "bogus"}, "status"),
    ({"user": "abc"}, "user"),
    ({"user": "-1"}, "user"),
    ({"user": "0"}, "user"),
    ({"distributor": "1.5"}, "distributor"),
    ({"min_fen": "-5"}, "min_fen"),
    ({"max_fen": "9" * 30}, "max_fen"),
    ({"min_fen": "500", "max_fen": "100"}, "max_fen"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2026-13-45"}, "to"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
    ({"reviewed_by": "x"}, "reviewed_by"),
    ({"q": "x" * 65}, "q"),
    ({"risk": "extreme"}, "risk"),
    ({"ordering": "password"}, "ordering"),
])
def test_bad_filters_are_400_with_the_field(operator_client, queue, params, field):
    for url in (LIST, EXPORT):
        res = operator_client.get(url, params)
        assert res.status_code == 400, (url, params)
        body = res.json()
        assert body["code"] == "invalid"
        assert field in body["extra"]["fields"]


def test_pagination(operator_client):
    d = funded_distributor(0)
    made = [make_withdrawal(100 + i, distributor=d).pk for i in range(25)]
    first = operator_client.get(LIST).json()
    assert (first["count"], len(first["results"]), first["previous"]) == (25, 20, None)
    assert first["next"]
    second = operator_client.get(LIST, {"page": 2}).json()
    assert len(second["results"]) == 5 and second["next"] is None
    assert sorted(r["id"] for r in first["results"] + second["results"]) == sorted(made)
    assert len(operator_client.get(LIST, {"page_size": 7}).json()["results"]) == 7
    assert operator_client.get(LIST, {"page": 9}).status_code == 404


def _risky_distributor(n: int):
    """A distributor with three customers on one device, an own order, and a withdrawal."""
    d = funded_distributor(0)
    for _ in range(SHARED_IP_MIN_CUSTOMERS):
        customer = UserFactory()
        bind(d, customer)
        login(customer, f"10.9.{n}.1")
    login(d.user, f"10.8.{n}.1")
    attributed_order(d.user, d, price_fen=1_000)
    return make_withdrawal(500, distributor=d)


def test_a_page_of_20_with_risk_signals_costs_a_bounded_number_of_queries(operator_client,
                                                                          django_assert_max_num_queries):
    made = [_risky_distributor(n) for n in range(21)]
    with django_assert_max_num_queries(16):
        res = operator_client.get(LIST, {"page_size": 20})
    rows = res.json()["results"]
    assert len(rows) == 20
    assert all({"shared_ip", "self_referral", "new_account"} <= set(r["risk_codes"]) for r in rows)
    assert {r["risk_level"] for r in rows} == {"danger"}
    # And the count does not grow with the page: 2 rows cost what 20 do.
    with CaptureQueriesContext(connection) as small:
        assert len(operator_client.get(LIST, {"page_size": 2}).json()["results"]) == 2
    with CaptureQueriesContext(connection) as big:
        assert len(operator_client.get(LIST, {"page_size": 20}).json()["results"]) == 20
    assert len(small.captured_queries) == len(big.captured_queries)
    assert len(made) == 21


def test_the_risk_filter(operator_client, operator):
    calm = make_withdrawal(500)
    aged(Distributor.objects.get(user_id=calm.user_id))
    make_withdrawal(100, distributor=Distributor.objects.get(user_id=calm.user_id))  # history → calm has none
    calm_second = Withdrawal.objects.filter(user_id=calm.user_id).order_by("-pk").first()
    indebted = make_withdrawal(500)
    debt_user = indebted.user
    ledger_post(kind="test.debt", idempotency_key="test.debt:risk-filter",
                legs=[(account_get_or_create(kind=AccountKind.USER_DEBT, owner=debt_user), -70),
                      (account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE, ref="test"), 70)])
    assert signals(calm_second) == {}
    assert set(ids(operator_client.get(LIST, {"risk": "danger"}))) == {indebted.pk}
    assert set(ids(operator_client.get(LIST, {"risk": "warning"}))) == {indebted.pk}
    assert set(ids(operator_client.get(LIST, {"risk": "info"}))) == {indebted.pk, calm.pk}
    row = next(r for r in operator_client.get(LIST).json()["results"] if r["id"] == calm_second.pk)
    assert (row["risk_level"], row["risk_codes"]) == (None, [])


# --- risk signals, one by one -----------------------------------------------------------------

def test_new_account(operator):
    w = make_withdrawal(500)
    s = signals(w)["new_account"]
    assert (s["level"], s["value"]["user_days"], s["value"]["distributor_days"]) == ("warning", 0, 0)
    d = Distributor.objects.get(user_id=w.user_id)
    aged(d, days=NEW_ACCOUNT_DAYS)
    assert "new_account" not in signals(w)
    Distributor.objects.filter(pk=d.pk).update(approved_at=timezone.now() - timedelta(days=2))
    assert signals(w)["new_account"]["value"]["distributor_days"] == 2  # an old user, a new distributor


def test_recent_refunds_grow_with_the_share_taken_back(operator):
    d = funded_distributor(0)
    big = attributed_order(UserFactory(), d, price_fen=10_000)  # commission 1000
    small = attributed_order(UserFactory(), d, price_fen=1_000)  # commission 100
    w = make_withdrawal(500, distributor=d)
    assert "recent_refunds" not in signals(w)
    refund(small, 1_000, operator)  # 100 of 1100 back: 9 %
    s = signals(w)["recent_refunds"]
    assert (s["level"], s["value"]["count"], s["value"]["reversed_fen"], s["value"]["share_bps"]) == (
        "info", 1, 100, 909)
    refund(big, 2_000, operator)  # 300 of 1100: 27 %
    s = signals(w)["recent_refunds"]
    assert (s["level"], s["value"]["count"], s["value"]["reversed_fen"]) == ("warning", 2, 300)
    refund(big, 8_000, operator)  # all of it
    assert signals(w)["recent_refunds"]["level"] == "danger"
    # Refunds older than the window do not count.
    reversals = LedgerTransaction.objects.filter(kind="commission.reverse")
    Entry.objects.filter(transaction__in=reversals).update(created_at=timezone.now() - timedelta(days=31))
    assert "recent_refunds" not in signals(w)


def test_many_customers_on_one_device_or_ip(operator):
    d = funded_distributor(0)
    w = make_withdrawal(500, distributor=d)
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    bind(d, a)
    bind(d, b)
    login(a, "10.0.0.9", "UA-1")
    login(b, "10.0.0.9", "UA-1")
    login(d.user, "10.0.0.9", "UA-1")  # the distributor is not their own customer
    login(c, "10.0.0.9", "UA-1")  # logged in there, but not their customer
    assert "shared_ip" not in signals(w)
    attributed_order(a, d)  # a customer who also bought is counted once
    attributed_order(c, d, paid=False)  # an unpaid order's buyer is not a customer yet
    assert "shared_ip" not in signals(w)
    attributed_order(c, d)  # now three customers share the device
    s = signals(w)["shared_ip"]
    assert (s["level"], s["value"]["customers"], s["value"]["by"], s["value"]["ip"]) == ("danger", 3, "device",
                                                                                      "10.0.0.9")
    # Same IP, different browsers: only the IP is shared — a warning.
    AuthToken.objects.filter(user=c).update(user_agent="UA-2")
    s = signals(w)["shared_ip"]
    assert (s["level"], s["value"]["customers"], s["value"]["by"]) == ("warning", 3, "ip")
    # Another distributor's customer on that IP does not count for this one.
    e = UserFactory()
    bind(funded_distributor(0), e)
    login(e, "10.0.0.9", "UA-2")
    assert signals(w)["shared_ip"]["value"]["customers"] == 3


def test_self_referrals(operator):
    d = funded_distributor(0)
    w = make_withdrawal(500, distributor=d)
    login(d.user, "172.16.5.5")
    stranger = UserFactory()
    login(stranger, "172.16.9.9")
    attributed_order(stranger, d)
    attributed_order(d.user, d, paid=False)
    assert "self_referral" not in signals(w)

    attributed_order(d.user, d, price_fen=2_000)  # bought through their own link
    s = signals(w)["self_referral"]
    assert (s["level"], s["value"]["own_orders"], s["value"]["own_fen"], s["value"]["shared_ip_orders"]) == (
        "warning", 1, 2_000, 0)

    friend = UserFactory()
    login(friend, "172.16.5.5")  # logs in from the distributor's IP
    attributed_order(friend, d, price_fen=3_000)
    placed = UserFactory()
    attributed_order(placed, d, price_fen=4_000, client_ip="172.16.5.5")  # ordered from their IP
    s = signals(w)["self_referral"]["value"]
    assert (s["shared_ip_orders"], s["shared_ip_fen"], s["shared_ip_buyers"]) == (2, 7_000, 2)
    assert signals(w)["self_referral"]["level"] == "warning"
    third = UserFactory()
    login(third, "172.16.5.5")
    attributed_order(third, d)
    assert signals(w)["self_referral"]["level"] == "danger"


def test_large_amount_against_their_history():
    d = funded_distributor(0)
    first = make_withdrawal(200, distributor=d)
    assert signals(first)["first_withdrawal"]["level"] == "info"
    assert "large_amount" not in signals(first)
    fair = make_withdrawal(600, distributor=d)  # 3 × 200: not more than
    assert "large_amount" not in signals(fair) and "first_withdrawal" not in signals(fair)
    big = make_withdrawal(1_201, distributor=d)  # average of 200 and 600 is 400: 3 × 400 = 1200
    s = signals(big)["large_amount"]
    assert (s["level"], s["value"]["average_fen"], s["value"]["previous"]) == ("warning", 400, 2)
    # Rejected withdrawals are not history of money taken out.
    other = funded_distributor(0)
    rejected = make_withdrawal(100, distributor=other)
    withdrawal_reject(operator=UserFactory(is_staff=True), withdrawal_id=rejected.pk, reason="no")
    assert "first_withdrawal" in signals(make_withdrawal(5_000, distributor=other))


def test_debt_outstanding():
    w = make_withdrawal(500)
    assert "debt_outstanding" not in signals(w)
    ledger_post(kind="test.debt", idempotency_key="test.debt:signal",
                legs=[(account_get_or_create(kind=AccountKind.USER_DEBT, owner=w.user), -150),
                      (account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE, ref="test"), 150)])
    s = signals(w)["debt_outstanding"]
    assert (s["level"], s["value"]) == ("danger", {"debt_fen": 150})


# --- detail -------------------------------------------------------------------------------------

def test_detail_has_events_history_and_risk(operator_client, operator):
    d = funded_distributor(0)
    attributed_order(UserFactory(), d, price_fen=5_000)  # 500 pending commission
    old = make_withdrawal(300, distributor=d)
    withdrawal_reject(operator=operator, withdrawal_id=old.pk, reason="重复")
    paid_before = make_withdrawal(400, distributor=d)
    Withdrawal.objects.filter(pk=paid_before.pk).update(status="paid")
    w = make_withdrawal(1_500, distributor=d)
    fund(d.user, 250)
    body = operator_client.get(f"{LIST}{w.pk}/").json()
    assert (body["id"], body["status"], body["amount_fen"]) == (w.pk, "requested", 1_500)
    assert [(e["from_status"], e["to_status"], e["actor"]["id"]) for e in body["events"]] == [
        ("", "requested", d.user_id)]
    history = body["history"]
    assert history["previous_withdrawals"]["count"] == 2
    assert history["previous_withdrawals"]["by_status"]["rejected"] == {"count": 1, "amount_fen": 300, "net_fen": 300}
    assert history["previous_withdrawals"]["by_status"]["paid"]["amount_fen"] == 400
    assert history["commissions"]["by_status"]["pending"] == {"count": 1, "amount_fen": 500}
    assert history["commissions"]["accrued_fen"] == 500
    assert history["wallet"] == {"available_fen": 550, "frozen_fen": 500, "withdrawing_fen": 1_900, "debt_fen": 0}
    assert {s["code"] for s in body["risk_signals"]} >= {"new_account", "large_amount"}
    assert body["risk_level"] == "warning"
    assert all(set(s) == {"code", "level", "message", "value"} for s in body["risk_signals"])

    rejected = operator_client.get(f"{LIST}{old.pk}/").json()
    assert [(e["to_status"], e["reason"], e["actor"]["id"]) for e in rejected["events"]] == [
        ("requested", "", d.user_id), ("rejected", "重复", operator.pk)]


# --- approve / reject / bulk through the API ------------------------------------------------------

def test_approve(operator_client, operator):
    w = make_withdrawal(1_000)
    res = operator_client.post(f"{LIST}{w.pk}/approve/", {"reason": "核对无误"}, format="json")
    assert res.status_code == 200, res.json()
    body = res.json()
    assert (body["status"], body["reviewed_by"]["id"]) == ("approved", operator.pk)  # payout after commit
    assert body["events"][-1]["reason"] == "核对无误"
    assert wallet(w.user) == {"user_wallet": 0, "user_withdrawing": 1_000, "user_debt": 0}
    again = operator_client.post(f"{LIST}{w.pk}/approve/", {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    late = operator_client.post(f"{LIST}{w.pk}/reject/", {"reason": "晚了"}, format="json")
    assert (late.status_code, late.json()["code"]) == (409, "invalid_transition")
    assert state(w) == ("approved", operator.pk, "", 2)


def test_approve_refused_with_debt_changes_nothing(operator_client):
    w = make_withdrawal(1_000)
    ledger_post(kind="test.debt", idempotency_key="test.debt:approve",
                legs=[(account_get_or_create(kind=AccountKind.USER_DEBT, owner=w.user), -150),
                      (account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE, ref="test"), 150)])
    res = operator_client.post(f"{LIST}{w.pk}/approve/", {}, format="json")
    assert (res.status_code, res.json()["code"]) == (409, "debt_outstanding")
    assert state(w) == ("requested", None, "", 1)


def test_reject_puts_the_money_back(operator_client, operator):
    w = make_withdrawal(1_000)
    assert wallet(w.user) == {"user_wallet": 0, "user_withdrawing": 1_000, "user_debt": 0}
    res = operator_client.post(f"{LIST}{w.pk}/reject/", {"reason": "  信息不符  "}, format="json")
    assert res.status_code == 200, res.json()
    body = res.json()
    assert (body["status"], body["reason"], body["reviewed_by"]["id"]) == ("rejected", "信息不符", operator.pk)
    assert body["history"]["wallet"]["available_fen"] == 1_000
    assert wallet(w.user) == {"user_wallet": 1_000, "user_withdrawing": 0, "user_debt": 0}
    again = operator_client.post(f"{LIST}{w.pk}/reject/", {"reason": "再次"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_transition")
    assert wallet(w.user)["user_wallet"] == 1_000
    assert LedgerTransaction.objects.filter(kind="withdrawal.reject").count() == 1


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": 123}, {"reason": ["x"]},
                                  {"reason": None}, {"reason": "长" * 201}])
def test_reject_needs_a_reason(operator_client, body):
    w = make_withdrawal(1_000)
    res = operator_client.post(f"{LIST}{w.pk}/reject/", body, format="json")
    assert (res.status_code, res.json()["code"]) == (400, "invalid")
    assert "reason" in res.json()["extra"]["fields"]
    assert state(w) == ("requested", None, "", 1)
    assert wallet(w.user) == {"user_wallet": 0, "user_withdrawing": 1_000, "user_debt": 0}


@pytest.mark.parametrize("body", [{"reason": 5}, {"reason": "长" * 201}, {"reason": {"a": 1}}])
def test_approve_note_is_checked(operator_client, body):
    w = make_withdrawal(1_000)
    res = operator_client.post(f"{LIST}{w.pk}/approve/", body, format="json")
    assert res.status_code == 400
    assert state(w) == ("requested", None, "", 1)


def test_nobody_reviews_their_own_withdrawal(client_for):
    boss = funded_distributor(0, is_staff=True, is_superuser=True)
    w = make_withdrawal(1_000, distributor=boss)
    client = client_for(boss.user)
    for action, body in (("approve", {}), ("reject", {"reason": "自己"})):
        res = client.post(f"{LIST}{w.pk}/{action}/", body, format="json")
        assert (res.status_code, res.json()["code"]) == (403, "self_approval")
    res = client.post(BULK, {"ids": [w.pk], "action": "approve"}, format="json")
    assert res.json()["errors"] == {str(w.pk): {"code": "self_approval", "message": "Nobody may review their own "
                                                                                    "withdrawal."}}
    assert state(w) == ("requested", None, "", 1)
    assert wallet(boss.user) == {"user_wallet": 0, "user_withdrawing": 1_000, "user_debt": 0}


def test_unknown_ids_are_404(operator_client):
    for method, url, body in (("get", f"{LIST}999999/", None), ("post", f"{LIST}999999/approve/", {}),
                              ("post", f"{LIST}999999/reject/", {"reason": "x"}),
                              ("post", f"{LIST}999999/reject/", {})):
        res = getattr(operator_client, method)(url, body, format="json") if body is not None else \
            operator_client.get(url)
        assert (res.status_code, res.json()["code"]) == (404, "not_found"), url


ENDPOINTS = [
    ("get", LIST, None), ("get", EXPORT, None), ("get", "{w}", None), ("post", "{w}approve/", {}),
    ("post", "{w}reject/", {"reason": "x"}), ("post", BULK, {"ids": [1], "action": "approve"}),
]


def _call(client, method, url, body, w):
    url = url.format(w=f"{LIST}{w.pk}/")
    return client.get(url) if method == "get" else client.post(url, body, format="json")


@pytest.mark.parametrize(("method", "url", "body"), ENDPOINTS)
def test_every_endpoint_needs_a_logged_in_operator_with_the_permission(api_client, client_for, method, url, body):
    w = make_withdrawal(1_000)
    assert _call(api_client, method, url, body, w).status_code == 401
    shopper = client_for(UserFactory())
    res = _call(shopper, method, url, body, w)
    assert (res.status_code, res.json()["code"]) == (403, "permission_denied")
    bare_staff = client_for(staff_with())
    assert _call(bare_staff, method, url, body, w).status_code == 403
    viewer = client_for(staff_with("view_withdrawal"))
    reviewer = client_for(staff_with("review_withdrawal"))
    if method == "get":
        assert _call(viewer, method, url, body, w).status_code == 200
        assert _call(reviewer, method, url, body, w).status_code == 403
    else:
        assert _call(viewer, method, url, body, w).status_code == 403
    assert state(w) == ("requested", None, "", 1)
    assert wallet(w.user) == {"user_wallet": 0, "user_withdrawing": 1_000, "user_debt": 0}


def test_a_reviewer_with_the_permission_may_approve(client_for):
    w = make_withdrawal(1_000)
    reviewer = staff_with("review_withdrawal")
    res = client_for(reviewer).post(f"{LIST}{w.pk}/approve/", {}, format="json")
    assert res.status_code == 200, res.json()
    assert state(w)[:2] == ("approved", reviewer.pk)


def test_bulk(operator_client, operator):
    a, b, c = make_withdrawal(1_000), make_withdrawal(2_000), make_withdrawal(3_000)
    withdrawal_reject(operator=operator, withdrawal_id=c.pk, reason="早就拒了")
    res = operator_client.post(BULK, {"ids": [b.pk, a.pk, a.pk, c.pk, 999_999], "action": "approve",
                                      "reason": "批量"}, format="json")
    assert res.status_code == 200, res.json()
    body = res.json()
    assert body["done"] == [a.pk, b.pk]
    assert body["errors"] == {str(c.pk): {"code": "invalid_transition",
                                          "message": "A rejected withdrawal cannot be approved."},
                              "999999": {"code": "not_found", "message": "Withdrawal not found."}}
    assert [state(w)[0] for w in (a, b, c)] == ["approved", "approved", "rejected"]

    d, e = make_withdrawal(500), make_withdrawal(600)
    res = operator_client.post(BULK, {"ids": [d.pk, e.pk, a.pk], "action": "reject", "reason": "资料不全"},
                               format="json")
    assert res.json()["done"] == [d.pk, e.pk]
    assert res.json()["errors"][str(a.pk)]["code"] == "invalid_transition"
    assert wallet(d.user)["user_wallet"] == 500 and wallet(e.user)["user_wallet"] == 600
    assert state(a)[0] == "approved"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "ids"),
    ({"ids": [], "action": "approve"}, "ids"),
    ({"ids": "1,2", "action": "approve"}, "ids"),
    ({"ids": ["1"], "action": "approve"}, "ids"),
    ({"ids": [1.0], "action": "approve"}, "ids"),
    ({"ids": [True], "action": "approve"}, "ids"),
    ({"ids": [-3], "action": "approve"}, "ids"),
    ({"ids": [0], "action": "approve"}, "ids"),
    ({"ids": [10**30], "action": "approve"}, "ids"),
    ({"ids": list(range(1, 202)), "action": "approve"}, "ids"),
    ({"ids": ["W"], "action": "delete"}, "action"),
    ({"ids": ["W"]}, "action"),
    ({"ids": ["W"], "action": "reject"}, "reason"),
    ({"ids": ["W"], "action": "reject", "reason": "  "}, "reason"),
    ({"ids": ["W"], "action": "reject", "reason": 7}, "reason"),
    ({"ids": ["W"], "action": "approve", "reason": "长" * 201}, "reason"),
])
def test_bulk_bad_input_changes_nothing(operator_client, body, field):
    w = make_withdrawal(1_000)
    body = {k: ([w.pk] if v == ["W"] else v) for k, v in body.items()}
    res = operator_client.post(BULK, body, format="json")
    assert (res.status_code, res.json()["code"]) == (400, "invalid")
    assert field in res.json()["extra"]["fields"]
    assert state(w) == ("requested", None, "", 1)


def test_approval_pays_out_through_the_sandbox(wechat_sandbox, client_for):
    withdrawal_settings(withdrawal_fee_bps=100, withdrawal_min_fee_fen=0, withdrawal_daily_count=100)
    operator = UserFactory(is_staff=True, is_superuser=True)
    w = make_withdrawal(5_000)
    res = client_for(operator).post(f"{LIST}{w.pk}/approve/", {}, format="json")
    assert res.status_code == 200, res.json()
    assert res.json()["status"] == "paid"  # Celery is eager: the payout ran after the commit
    w.refresh_from_db()
    assert (w.status, w.reviewed_by_id) == ("paid", operator.pk) and w.paid_at is not None
    assert wallet(w.user) == {"user_wallet": 0, "user_withdrawing": 0, "user_debt": 0}
    assert platform_balance("fee_income") == 50
    detail = client_for(operator).get(f"{LIST}{w.pk}/").json()
    assert [e["to_status"] for e in detail["events"]] == ["requested", "approved", "paying", "paid"]
    rows = list(csv.DictReader(io.StringIO(b"".join(client_for(operator).get(EXPORT).streaming_content)
                                           .decode())))
    assert (rows[0]["status"], rows[0]["net_fen"], rows[0]["reviewed_by"]) == ("paid", "4950", operator.username)
    assert rows[0]["paid_at"]


# --- the CSV report ------------------------------------------------------------------------------

def test_csv_export(operator_client, operator, queue):
    User.objects.filter(pk=queue["d3"].user_id).update(nickname='=HYPERLINK("http://evil")')
    Distributor.objects.filter(pk=queue["d3"].pk).update(real_name="-2+3")
    res = operator_client.get(EXPORT)
    assert res.status_code == 200
    assert res["Content-Type"].startswith("text/csv")
    assert res["Content-Disposition"].startswith('attachment; filename="withdrawals-')
    rows = list(csv.DictReader(io.StringIO(b"".join(res.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == [queue["w1"].pk, queue["w2"].pk, queue["w3"].pk]  # oldest first
    w1 = rows[0]
    assert (w1["status"], w1["amount_fen"], w1["reviewed_by"], w1["reviewed_by_id"]) == (
        "approved", "1000", operator.username, str(operator.pk))
    assert w1["reviewed_at"].startswith(str(timezone.localtime(queue["w1"].reviewed_at).date()))
    assert w1["transfer_no"] == queue["w1"].transfer_no
    assert (rows[1]["status"], rows[1]["reason"]) == ("rejected", "资料不符")
    assert rows[2]["nickname"] == "'=HYPERLINK(\"http://evil\")"  # not a formula in a spreadsheet
    assert rows[2]["real_name"] == "'-2+3"
    assert (rows[2]["reviewed_at"], rows[2]["paid_at"]) == ("", "")
    filtered = operator_client.get(EXPORT, {"status": "rejected"})
    assert [r["id"] for r in csv.DictReader(io.StringIO(b"".join(filtered.streaming_content).decode()))] == [
        str(queue["w2"].pk)]
    assert operator_client.get(EXPORT, HTTP_ACCEPT="text/csv").status_code == 200


# --- the admin ---------------------------------------------------------------------------------

def test_admin_lists_with_risk_and_opens_read_only(admin_client, operator, queue):
    page = admin_client.get(ADMIN)
    assert page.status_code == 200
    text = page.content.decode()
    assert "new_account" in text and "approve_selected" in text and "reject_selected" in text
    assert "export_csv" in text and "delete_selected" not in text
    assert admin_client.get(ADMIN, {"status__exact": "rejected"}).status_code == 200
    assert admin_client.get(ADMIN, {"q": "李雷"}).status_code == 200
    assert admin_client.get(ADMIN, {"reviewed_by__id__exact": operator.pk}).status_code == 200
    change = admin_client.get(f"{ADMIN}{queue['w2'].pk}/change/")
    assert change.status_code == 200
    assert "资料不符" in change.content.decode() and 'name="_save"' not in change.content.decode()
    assert 'name="amount_fen"' not in change.content.decode()
    assert admin_client.get(f"{ADMIN}add/").status_code == 403
    assert admin_client.get(f"{ADMIN}{queue['w3'].pk}/delete/").status_code == 403
    posted = admin_client.post(f"{ADMIN}{queue['w3'].pk}/change/", {"amount_fen": 1, "status": "paid"})
    assert posted.status_code == 403
    queue["w3"].refresh_from_db()
    assert (queue["w3"].amount_fen, queue["w3"].status) == (300, "requested")


def test_admin_approve_action(admin_client, operator):
    w = make_withdrawal(1_000)
    res = admin_client.post(ADMIN, {"action": "approve_selected", "_selected_action": [w.pk]}, follow=True)
    assert res.status_code == 200
    assert "Approved: 1" in res.content.decode()
    assert state(w)[:2] == ("approved", operator.pk)
    again = admin_client.post(ADMIN, {"action": "approve_selected", "_selected_action": [w.pk]}, follow=True)
    assert "invalid_transition" in again.content.decode()
    assert state(w) == ("approved", operator.pk, "", 2)


def test_admin_reject_action_asks_for_a_reason(admin_client, operator):
    w = make_withdrawal(1_000)
    asked = admin_client.post(ADMIN, {"action": "reject_selected", "_selected_action": [w.pk]})
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    assert state(w) == ("requested", None, "", 1)
    blank = admin_client.post(ADMIN, {"action": "reject_selected", "_selected_action": [w.pk], "apply": "1",
                                  "reason": ""})
    assert blank.status_code == 200  # the form again
    assert state(w) == ("requested", None, "", 1)
    done = admin_client.post(ADMIN, {"action": "reject_selected", "_selected_action": [w.pk], "apply": "1",
                                 "reason": "实名不符"})
    assert done.status_code == 302
    assert state(w) == ("rejected", operator.pk, "实名不符", 2)
    assert wallet(w.user) == {"user_wallet": 1_000, "user_withdrawing": 0, "user_debt": 0}


def test_admin_refuses_self_review(client):
    boss = funded_distributor(0, is_staff=True, is_superuser=True)
    w = make_withdrawal(1_000, distributor=boss)
    client.force_login(boss.user)
    res = client.post(ADMIN, {"action": "approve_selected", "_selected_action": [w.pk]}, follow=True)
    assert "self_approval" in res.content.decode()
    assert state(w) == ("requested", None, "", 1)


def test_admin_export_action(admin_client, queue):
    res = admin_client.post(ADMIN, {"action": "export_csv", "_selected_action": [queue["w1"].pk, queue["w3"].pk]})
    assert res.status_code == 200 and res["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(res.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == [queue["w1"].pk, queue["w3"].pk]
    assert rows[0]["reviewed_by"] == "operator"


def test_admin_viewer_without_review_permission_cannot_act(client):
    viewer = staff_with("view_withdrawal")
    w = make_withdrawal(1_000)
    client.force_login(viewer)
    page = client.get(ADMIN)
    assert page.status_code == 200
    assert b"approve_selected" not in page.content and b"export_csv" in page.content
    client.post(ADMIN, {"action": "approve_selected", "_selected_action": [w.pk]})
    client.post(ADMIN, {"action": "reject_selected", "_selected_action": [w.pk], "apply": "1", "reason": "x"})
    assert state(w) == ("requested", None, "", 1)


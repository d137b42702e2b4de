"""Operators' reports: the overview of a period and the commission statements (CSV).

One hand-built March 2024 (Asia/Shanghai) with rows on both sides of every boundary: orders
paid and refunded through the mall's services, commissions accrued, frozen, settled and
reversed through the real flow, withdrawals in every status as rows with the ledger postings
the withdrawal services make. Then every figure is checked against sums worked out by hand.
"""
from __future__ import annotations

import csv
import io
import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from commissions.models import Commission, Withdrawal
from commissions.selectors.reports import (
    commission_statement_rows,
    commission_statement_summary_rows,
    report_overview,
    report_range_parse,
    yuan,
)
from commissions.services.settlement import commissions_settle
from core.errors import InvalidInput
from distributors.models import Distributor
from ledger.models import AccountKind, LedgerTransaction
from ledger.services import account_get_or_create, ledger_post
from mall.models import Order, Refund
from mall.services.orders import order_cancel, order_confirm_receipt, order_ship
from mall.services.refunds import refund_approve, refund_finalize, refund_reject, refund_request
from tests.factories import DistributorFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import make_sku

from .accrual_helpers import attributed_order, pay

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
TINY = timedelta(microseconds=1)
START = datetime(2024, 3, 1, tzinfo=SH)  # 2024-02-29 16:00 UTC: still February in UTC
END = datetime(2024, 4, 1, tzinfo=SH)  # the first moment after the period
PERIOD = {"from": "2024-03-01", "to": "2024-03-31"}
OVERVIEW = "/api/v1/ops/reports/overview/"
STATEMENT = "/api/v1/ops/reports/commission-statement.csv"

_keys = itertools.count()
_txns = itertools.count(1)


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


# --- building the month ------------------------------------------------------------------

def paid_order(mid, top, price_fen: int, paid_at: datetime, *, created_at: datetime | None = None) -> Order:
    """An order through the mall (attributed to mid, top on level 2), paid; its own and its
    commissions' timestamps moved to `paid_at`."""
    order = attributed_order(UserFactory(), [(make_sku(price_fen=price_fen), 1)], level1=mid, level2=top)
    pay(order, txn=f"4200000000000000000{next(_txns):09d}")
    Order.objects.filter(pk=order.pk).update(created_at=created_at or paid_at - timedelta(minutes=1), paid_at=paid_at)
    Commission.objects.filter(order=order).update(created_at=paid_at)
    return Order.objects.get(pk=order.pk)


def refund(order: Order, amount_fen: int, *, requested_at: datetime, completed_at: datetime | None = None,
           operator, succeeded: bool = True) -> Refund:
    """A refund requested and then rejected (no `completed_at`), or approved and finished by WeChat."""
    r = refund_request(user=order.user, order_no=order.no, amount_fen=amount_fen, reason="退货")
    if completed_at is None:
        refund_reject(operator=operator, refund_id=r.pk, note="no")
    else:
        refund_approve(operator=operator, refund_id=r.pk)
        refund_finalize(refund_no=r.no, succeeded=succeeded)
    Refund.objects.filter(pk=r.pk).update(created_at=requested_at, completed_at=completed_at)
    return r


def complete(order: Order, operator) -> None:
    order_ship(operator=operator, order_no=order.no, carrier="SF", tracking_no="SF1")
    order_confirm_receipt(user=order.user, order_no=order.no)


def fund(user, amount_fen: int) -> None:
    """Money in the wallet as settled commissions bring it."""
    ledger_post(kind="test.fund", idempotency_key=f"test.fund:{next(_keys)}",
                legs=[(account_get_or_create(kind=AccountKind.COMMISSION_EXPENSE, ref="test"), -amount_fen),
                      (account_get_or_create(kind=AccountKind.USER_WALLET, owner=user), amount_fen)])


def withdrawal(distributor, amount_fen: int, fee_fen: int, status: str, *, requested_at: datetime,
               paid_at: datetime | None = None, reason: str = "") -> Withdrawal:
    """A withdrawal row in `status` with the postings commissions/services/withdrawals.py makes
    on the way there (request; paid | rejected | failed)."""
    user = distributor.user
    w = Withdrawal.objects.create(user=user, distributor=distributor, amount_fen=amount_fen, fee_fen=fee_fen,
                                  net_fen=amount_fen - fee_fen, status=status, openid=user.openid, reason=reason,
                                  transfer_no=f"T{next(_keys):020d}")
    wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)
    withdrawing = account_get_or_create(kind=AccountKind.USER_WITHDRAWING, owner=user)
    fees = account_get_or_create(kind=AccountKind.FEE_INCOME)
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    net = amount_fen - fee_fen

    def post(step, legs):
        ledger_post(kind=f"withdrawal.{step}", idempotency_key=f"withdrawal.{step}:{w.pk}",
                    legs=[leg for leg in legs if leg[1]])

    post("request", [(wallet, -amount_fen), (withdrawing, amount_fen)])
    if status == "paid":
        post("paid", [(withdrawing, -amount_fen), (outside, net), (fees, fee_fen)])
    if status == "rejected":
        post("reject", [(withdrawing, -amount_fen), (wallet, amount_fen)])
    if status == "failed":
        post("fail", [(withdrawing, -amount_fen), (wallet, amount_fen)])
    Withdrawal.objects.filter(pk=w.pk).update(requested_at=requested_at, paid_at=paid_at)
    return w


@pytest.fixture
def month(operator):
    """March 2024 in Shanghai, with a row just outside each end of it."""
    distribution_settings_set(default_level1_bps=1000, default_level2_bps=500, levels=2, freeze_days=7)
    top = DistributorFactory()
    mid = DistributorFactory(inviter=top)
    Distributor.objects.filter(pk=mid.pk).update(real_name='=HYPERLINK("http://e.x/","x")')
    Distributor.objects.filter(pk=top.pk).update(applied_at=sh(2024, 2, 20), approved_at=START - TINY)
    Distributor.objects.filter(pk=mid.pk).update(applied_at=START, approved_at=sh(2024, 3, 2, 9))
    for applied_at in (END - TINY, END):  # one applies on the last moment, one just after; neither approved
        d = DistributorFactory()
        Distributor.objects.filter(pk=d.pk).update(status="pending", applied_at=applied_at, approved_at=None)

    # Orders (mid level 1 at 10 %, top level 2 at 5 %).
    a = paid_order(mid, top, 1000, START, created_at=START - timedelta(minutes=2))  # placed before, paid on the edge
    b = paid_order(mid, top, 2000, sh(2024, 3, 10, 12))
    c = paid_order(mid, top, 3000, sh(2024, 3, 15, 8))
    d = paid_order(mid, top, 500, sh(2024, 3, 20, 9))
    e = paid_order(mid, top, 4000, END - TINY)  # the last moment of the period
    paid_order(mid, top, 700, START - TINY)  # just before: not counted anywhere
    paid_order(mid, top, 900, END, created_at=END - timedelta(seconds=30))  # placed in, paid just after
    unpaid = attributed_order(UserFactory(), [(make_sku(price_fen=600), 1)], level1=mid, level2=top)
    cancelled = attributed_order(UserFactory(), [(make_sku(price_fen=800), 1)], level1=mid, level2=top)
    order_cancel(user=cancelled.user, order_no=cancelled.no)
    Order.objects.filter(pk=unpaid.pk).update(created_at=sh(2024, 3, 5))
    Order.objects.filter(pk=cancelled.pk).update(created_at=sh(2024, 3, 6))

    # A settled, B frozen (its refund failed at WeChat), C pending (its refund rejected), D reversed (full refund),
    # E pending with a quarter reversed (its refund succeeds just after the period).
    complete(a, operator)
    Commission.objects.filter(order=a).update(settles_at=timezone.now() - timedelta(minutes=1))
    complete(b, operator)
    assert commissions_settle()["settled"] == 2
    refund(b, 2000, requested_at=sh(2024, 3, 11), completed_at=sh(2024, 3, 12), succeeded=False, operator=operator)
    refund(c, 3000, requested_at=sh(2024, 3, 16), operator=operator)
    refund(d, 500, requested_at=sh(2024, 3, 20, 10), completed_at=sh(2024, 3, 21, 10), operator=operator)
    refund(e, 1000, requested_at=END - timedelta(hours=1), completed_at=END, operator=operator)

    # Withdrawals.
    fund(mid.user, 20_000)
    fund(top.user, 1_000)
    withdrawal(mid, 1000, 10, "paid", requested_at=sh(2024, 3, 2), paid_at=sh(2024, 3, 3))
    withdrawal(mid, 2000, 20, "paid", requested_at=START - TINY, paid_at=START)  # paid in, requested before
    withdrawal(mid, 500, 0, "rejected", requested_at=sh(2024, 3, 5), reason="=1+1")
    withdrawal(mid, 3000, 30, "failed", requested_at=sh(2024, 3, 6), reason="-SYSTEMERROR")
    withdrawal(mid, 1500, 15, "requested", requested_at=sh(2024, 3, 7))
    withdrawal(mid, 1200, 12, "approved", requested_at=sh(2024, 3, 8))
    withdrawal(mid, 800, 8, "paying", requested_at=sh(2024, 3, 9))
    withdrawal(top, 100, 0, "paid", requested_at=END - TINY, paid_at=END)  # requested in, paid just after
    return {"mid": Distributor.objects.get(pk=mid.pk), "top": top, "orders": (a, b, c, d, e)}


# --- the overview ------------------------------------------------------------------------

EXPECTED_OVERVIEW = {
    "from": "2024-03-01",
    "to": "2024-03-31",
    "time_zone": "Asia/Shanghai",
    "gmv": {"orders": 5, "gmv_fen": 10_500, "refunded_fen": 1_500, "net_gmv_fen": 9_000},
    "orders": {
        "placed": 7,  # B C D E, the unpaid, the cancelled, the one paid after the period
        "paid": 5,  # A B C D E
        "by_status": {"pending_payment": 1, "paid": 2, "shipped": 0, "completed": 1, "closed": 1,
                      "refunding": 0, "refunded": 1, "partially_refunded": 1},
    },
    "refunds": {"count": 1, "refunded_fen": 500, "requested": 4,  # B's failed at WeChat, C's rejected, D's, E's
                "requested_by_status": {"requested": 0, "approved": 0, "succeeded": 2, "rejected": 1, "failed": 1}},
    "commissions": {
        "count": 10, "amount_fen": 1575, "reversed_fen": 225, "net_fen": 1350,
        "by_status": {
            "pending": {"count": 4, "amount_fen": 1050, "reversed_fen": 150, "net_fen": 900},
            "frozen": {"count": 2, "amount_fen": 300, "reversed_fen": 0, "net_fen": 300},
            "settled": {"count": 2, "amount_fen": 150, "reversed_fen": 0, "net_fen": 150},
            "reversed": {"count": 2, "amount_fen": 75, "reversed_fen": 75, "net_fen": 0},
        },
    },
    "withdrawals": {
        "requested": {"count": 7, "amount_fen": 8100},
        "by_status": {
            "requested": {"count": 1, "amount_fen": 1500},
            "approved": {"count": 1, "amount_fen": 1200},
            "paying": {"count": 1, "amount_fen": 800},
            "confirming": {"count": 0, "amount_fen": 0},
            "paid": {"count": 2, "amount_fen": 1100},
            "rejected": {"count": 1, "amount_fen": 500},
            "failed": {"count": 1, "amount_fen": 3000},
            "cancelled": {"count": 0, "amount_fen": 0},
        },
        "paid": {"count": 2, "amount_fen": 3000, "net_fen": 2970, "fee_fen": 30},
        "fees_collected_fen": 30,
    },
    "distributors": {"applied": 2, "approved": 1},
    # the month has no crowdfunds: zeros (their figures: tests/campaigns/test_ops_crowdfunds.py)
    "campaigns": {"crowdfunds": {
        "started": 0, "open": 0, "funded": 0, "expired": 0, "cancelled": 0, "refunded": 0, "conversion_bps": 0,
        "contributions": 0, "contributed_fen": 0, "contributors": 0, "refunds": 0, "refunded_fen": 0,
    }, "red_envelopes": {  # none either (their figures: tests/campaigns/test_ops_envelopes.py)
        "created": 0, "opened": 0, "empty": 0, "expired": 0, "cancelled": 0, "funded_fen": 0, "topped_up_fen": 0,
        "grabbed_fen": 0, "grabs": 0, "grabbers": 0, "returned_fen": 0,
    }},
}


def test_overview_figures_match_the_hand_built_month(month, operator_client):
    res = operator_client.get(OVERVIEW, PERIOD)
    assert res.status_code == 200, res.json()
    assert res.json() == EXPECTED_OVERVIEW


def test_overview_is_a_fixed_number_of_aggregate_queries(month, django_assert_num_queries,
                                                         django_assert_max_num_queries, operator_client):
    with django_assert_num_queries(5):  # orders, refunds, commissions, withdrawals, distributors
        report_overview(day_from=date(2024, 3, 1), day_to=date(2024, 3, 31))
    # More rows of every kind cost no more queries.
    mid, top = month["mid"], month["top"]
    for i in range(5):
        paid_order(mid, top, 1000 + i, sh(2024, 3, 12, i))
        withdrawal(mid, 100 + i, 0, "requested", requested_at=sh(2024, 3, 12, i))
    with django_assert_num_queries(5):
        figures = report_overview(day_from=date(2024, 3, 1), day_to=date(2024, 3, 31))
    assert figures["gmv"]["orders"] == 10 and figures["withdrawals"]["by_status"]["requested"]["count"] == 6
    # + the token, the user, the three crowdfund and the three red-envelope aggregates
    with django_assert_max_num_queries(14):
        assert operator_client.get(OVERVIEW, PERIOD).status_code == 200


@pytest.mark.parametrize(("params", "expected"), [
    ({"from": "2024-03-01", "to": "2024-03-01"}, {"paid": 1, "placed": 0}),  # only A (paid at 00:00)
    ({"from": "2024-02-29", "to": "2024-02-29"}, {"paid": 1, "placed": 2}),  # the one at 23:59:59.999999; A placed
    ({"from": "2024-03-31", "to": "2024-03-31"}, {"paid": 1, "placed": 2}),  # E; E and the one paid after
    ({"from": "2024-04-01", "to": "2024-04-01"}, {"paid": 1, "placed": 0}),  # the one paid at 00:00 on 1 April
])
def test_overview_days_are_shanghai_days(month, operator_client, params, expected):
    body = operator_client.get(OVERVIEW, params).json()
    assert {k: body["orders"][k] for k in expected} == expected


def test_overview_of_an_empty_period_is_zeros(month, operator_client):
    body = operator_client.get(OVERVIEW, {"from": "2023-01-01", "to": "2023-01-31"}).json()
    assert body["gmv"] == {"orders": 0, "gmv_fen": 0, "refunded_fen": 0, "net_gmv_fen": 0}
    assert body["commissions"]["by_status"]["settled"] == {"count": 0, "amount_fen": 0, "reversed_fen": 0,
                                                           "net_fen": 0}
    assert body["withdrawals"]["fees_collected_fen"] == 0 and body["distributors"] == {"applied": 0, "approved": 0}


def test_overview_defaults_to_the_last_30_days(operator_client):
    today = timezone.now().astimezone(SH).date()
    body = operator_client.get(OVERVIEW).json()
    assert (body["from"], body["to"]) == ((today - timedelta(days=29)).isoformat(), today.isoformat())
    only_to = operator_client.get(OVERVIEW, {"to": "2024-03-31"}).json()
    assert (only_to["from"], only_to["to"]) == ("2024-03-02", "2024-03-31")


BAD_PERIODS = [
    {"from": "2024-13-01"},
    {"from": "2024-02-30", "to": "2024-03-01"},
    {"from": "yesterday"},
    {"from": "2024-3-1", "to": "2024-03-31"},
    {"to": "2024-03-31T00:00:00"},
    {"from": "2024-04-01", "to": "2024-03-31"},  # from after to
    {"from": "2023-03-31", "to": "2024-03-31"},  # 367 days
    {"from": "0001-01-01", "to": "0001-01-02"},
    {"from": "9999-12-30", "to": "9999-12-31"},
    {"from": "-2024-03-01"},
    {"from": "2024-03-01" * 100},
]


@pytest.mark.parametrize("params", BAD_PERIODS)
def test_bad_periods_are_400(operator_client, params):
    for url in (OVERVIEW, STATEMENT):
        res = operator_client.get(url, params)
        assert res.status_code == 400, (url, params)
        assert res.json()["code"] == "invalid"
        assert set(res.json()["extra"]["fields"]) <= {"from", "to"}


def test_a_repeated_parameter_is_400(operator_client):
    for url in (OVERVIEW, STATEMENT):
        res = operator_client.get(f"{url}?from=2024-03-01&from=2024-03-02&to=2024-03-31", HTTP_ACCEPT_LANGUAGE="en")
        assert res.status_code == 400 and res.json()["extra"]["fields"] == {"from": ["Give it once."]}
    res = operator_client.get(f"{STATEMENT}?distributor=1&distributor=2")
    assert res.status_code == 400 and "distributor" in res.json()["extra"]["fields"]


def test_366_days_are_allowed_and_367_not():
    assert report_range_parse(date_from="2023-04-01", date_to="2024-03-31") == (date(2023, 4, 1), date(2024, 3, 31))
    with pytest.raises(InvalidInput):
        report_range_parse(date_from="2023-03-31", date_to="2024-03-31")


# --- who may read the reports --------------------------------------------------------------

@pytest.mark.parametrize("url", [OVERVIEW, STATEMENT])
def test_anonymous_401_non_staff_and_staff_without_the_permission_403(url, api_client, client_for, month):
    assert api_client.get(url, PERIOD).status_code == 401
    shopper = UserFactory()
    shopper.user_permissions.add(Permission.objects.get(codename="view_commission"))  # a perm is not enough
    assert client_for(shopper).get(url, PERIOD).status_code == 403
    assert client_for(month["mid"].user).get(url, PERIOD).status_code == 403  # a distributor is not an operator
    clerk = UserFactory(is_staff=True)
    res = client_for(clerk).get(url, PERIOD)
    assert res.status_code == 403 and res.json()["code"] == "permission_denied"
    clerk.user_permissions.add(Permission.objects.get(codename="view_commissionrule"))  # the wrong one
    assert client_for(UserFactory._meta.model.objects.get(pk=clerk.pk)).get(url, PERIOD).status_code == 403
    clerk.user_permissions.add(Permission.objects.get(codename="view_commission"))
    res = client_for(UserFactory._meta.model.objects.get(pk=clerk.pk)).get(url, PERIOD)
    assert res.status_code == 200
    if url == OVERVIEW:
        assert res.json() == EXPECTED_OVERVIEW


def test_reports_write_nothing(month, operator_client):
    before = (LedgerTransaction.objects.count(), list(Commission.objects.order_by("pk").values()),
              list(Withdrawal.objects.order_by("pk").values()))
    operator_client.get(OVERVIEW, PERIOD)
    b"".join(operator_client.get(STATEMENT, {**PERIOD, "distributor": month["mid"].pk}).streaming_content)
    b"".join(operator_client.get(STATEMENT, PERIOD).streaming_content)
    after = (LedgerTransaction.objects.count(), list(Commission.objects.order_by("pk").values()),
             list(Withdrawal.objects.order_by("pk").values()))
    assert after == before


# --- the statement ---------------------------------------------------------------------------

def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content)
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def sections(rows: list[list[str]]) -> dict[str, list[list[str]]]:
    """Title row, then the rows up to the next empty row."""
    out, current = {}, None
    for row in rows:
        if not row:
            current = None
        elif current is None:
            assert len(row) == 1, row
            current = out.setdefault(row[0], [])
        else:
            current.append(row)
    return out


def as_dicts(section: list[list[str]]) -> list[dict[str, str]]:
    header, *rows = section
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_statement_of_one_distributor(month, operator_client):
    mid = month["mid"]
    a, b, c, d, e = month["orders"]
    res = operator_client.get(STATEMENT, {**PERIOD, "distributor": mid.pk})
    assert res["Content-Disposition"] == f'attachment; filename="commission-statement-{mid.pk}-20240301-20240331.csv"'
    parts = sections(read_csv(res))
    assert list(parts) == ["statement", "commissions", "commission totals", "withdrawals", "withdrawal totals"]

    head = as_dicts(parts["statement"])
    assert head == [{"distributor_id": str(mid.pk), "distributor": "'" + mid.real_name,  # a formula, quoted
                     "invite_code": mid.invite_code, "from": "2024-03-01", "to": "2024-03-31",
                     "time_zone": "Asia/Shanghai"}]

    lines = as_dicts(parts["commissions"])
    assert [(r["date"], r["order_no"], r["level"], r["base_fen"], r["rate_bps"], r["fixed_fen"], r["amount_fen"],
             r["reversed_fen"], r["net_fen"], r["status"], r["net_yuan"]) for r in lines] == [
        ("2024-03-01", a.no, "1", "1000", "1000", "", "100", "0", "100", "settled", "1.00"),
        ("2024-03-10", b.no, "1", "2000", "1000", "", "200", "0", "200", "frozen", "2.00"),
        ("2024-03-15", c.no, "1", "3000", "1000", "", "300", "0", "300", "pending", "3.00"),
        ("2024-03-20", d.no, "1", "500", "1000", "", "50", "50", "0", "reversed", "0.00"),
        ("2024-03-31", e.no, "1", "4000", "1000", "", "400", "100", "300", "pending", "3.00"),
    ]
    settles_at = Commission.objects.get(order=b, level=1).settles_at
    assert lines[1]["settles_at"] == settles_at.astimezone(SH).isoformat()
    assert lines[2]["settles_at"] == ""

    totals = {r["status"]: r for r in as_dicts(parts["commission totals"])}
    assert {k: (v["lines"], v["base_fen"], v["amount_fen"], v["reversed_fen"], v["net_fen"], v["net_yuan"])
            for k, v in totals.items()} == {
        "pending": ("2", "7000", "700", "100", "600", "6.00"),
        "frozen": ("1", "2000", "200", "0", "200", "2.00"),
        "settled": ("1", "1000", "100", "0", "100", "1.00"),
        "reversed": ("1", "500", "50", "50", "0", "0.00"),
        "all": ("5", "10500", "1050", "150", "900", "9.00"),
    }

    withdrawals = as_dicts(parts["withdrawals"])
    assert [(r["date"], r["status"], r["amount_fen"], r["fee_fen"], r["net_fen"], r["reason"])
            for r in withdrawals] == [
        ("2024-03-02", "paid", "1000", "10", "990", ""),
        ("2024-03-05", "rejected", "500", "0", "500", "'=1+1"),
        ("2024-03-06", "failed", "3000", "30", "2970", "'-SYSTEMERROR"),
        ("2024-03-07", "requested", "1500", "15", "1485", ""),
        ("2024-03-08", "approved", "1200", "12", "1188", ""),
        ("2024-03-09", "paying", "800", "8", "792", ""),
    ]  # not the one requested a moment before the period, though paid in it
    assert withdrawals[0]["paid_at"] == "2024-03-03T00:00:00+08:00"
    assert withdrawals[0]["requested_at"] == "2024-03-02T00:00:00+08:00"
    wtotals = {r["status"]: (r["count"], r["amount_fen"], r["fee_fen"], r["net_fen"])
               for r in as_dicts(parts["withdrawal totals"])}
    assert wtotals == {"requested": ("1", "1500", "15", "1485"), "approved": ("1", "1200", "12", "1188"),
                       "paying": ("1", "800", "8", "792"), "paid": ("1", "1000", "10", "990"),
                       "rejected": ("1", "500", "0", "500"), "failed": ("1", "3000", "30", "2970"),
                       "confirming": ("0", "0", "0", "0"), "cancelled": ("0", "0", "0", "0"),
                       "all": ("6", "8000", "75", "7925")}


def test_statement_of_all_distributors(month, operator_client):
    mid, top = month["mid"], month["top"]
    res = operator_client.get(STATEMENT, PERIOD)
    assert res["Content-Disposition"] == 'attachment; filename="commission-statement-all-20240301-20240331.csv"'
    rows = as_dicts(read_csv(res))
    figures = ["commission_lines", "amount_fen", "reversed_fen", "net_fen", "pending_fen", "frozen_fen",
               "settled_fen", "withdrawals", "withdrawals_amount_fen", "paid_amount_fen", "paid_fee_fen",
               "paid_net_fen", "net_yuan"]
    got = {r["distributor_id"]: [r["distributor"], r["invite_code"]] + [r[f] for f in figures] for r in rows}
    assert got == {
        str(top.pk): [top.real_name, top.invite_code,
                      "5", "525", "75", "450", "300", "100", "50", "1", "100", "100", "0", "100", "4.50"],
        str(mid.pk): ["'" + mid.real_name, mid.invite_code,
                      "5", "1050", "150", "900", "600", "200", "100", "6", "8000", "1000", "10", "990", "9.00"],
        "total": ["", "",
                  "10", "1575", "225", "1350", "900", "300", "150", "7", "8100", "1100", "10", "1090", "13.50"],
    }
    assert [r["distributor_id"] for r in rows] == sorted([str(top.pk), str(mid.pk)], key=int) + ["total"]


def test_all_distributors_merges_those_with_only_commissions_or_only_withdrawals(month, operator_client):
    """One distributor with withdrawals and no commissions in March, one the other way round."""
    only_w = DistributorFactory()
    fund(only_w.user, 500)
    withdrawal(only_w, 300, 3, "requested", requested_at=sh(2024, 3, 4))
    only_c = DistributorFactory()
    paid_order(only_c, None, 1000, sh(2024, 3, 4))
    rows = {r["distributor_id"]: r for r in as_dicts(read_csv(operator_client.get(STATEMENT, PERIOD)))}
    assert (rows[str(only_w.pk)]["commission_lines"], rows[str(only_w.pk)]["withdrawals"]) == ("0", "1")
    assert (rows[str(only_c.pk)]["commission_lines"], rows[str(only_c.pk)]["withdrawals"]) == ("1", "0")
    assert rows["total"]["withdrawals_amount_fen"] == "8400" and rows["total"]["amount_fen"] == "1675"
    assert list(rows) == sorted([k for k in rows if k != "total"], key=int) + ["total"]


def test_statement_queries_do_not_grow_with_the_rows(month, django_assert_num_queries):
    mid = month["mid"]
    with django_assert_num_queries(2):  # commission lines, withdrawals
        n = len(list(commission_statement_rows(distributor=mid, day_from=date(2024, 3, 1), day_to=date(2024, 3, 31))))
    with django_assert_num_queries(2):  # commissions and withdrawals grouped by distributor
        assert len(list(commission_statement_summary_rows(day_from=date(2024, 3, 1), day_to=date(2024, 3, 31)))) == 4
    for i in range(6):
        paid_order(mid, month["top"], 1000, sh(2024, 3, 12, i))
    with django_assert_num_queries(2):
        more = list(commission_statement_rows(distributor=mid, day_from=date(2024, 3, 1), day_to=date(2024, 3, 31)))
    assert len(more) == n + 6


def test_statement_request_is_bounded_in_queries(month, operator_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):  # token, distributor, commission lines, withdrawals
        read_csv(operator_client.get(STATEMENT, {**PERIOD, "distributor": month["mid"].pk}))


def test_statement_for_an_empty_period_has_zero_totals(month, operator_client):
    parts = sections(read_csv(operator_client.get(STATEMENT, {"from": "2023-01-01", "to": "2023-01-31",
                                                              "distributor": month["mid"].pk})))
    assert as_dicts(parts["commissions"]) == [] and as_dicts(parts["withdrawals"]) == []
    assert {r["status"]: r["lines"] for r in as_dicts(parts["commission totals"])} == {
        "pending": "0", "frozen": "0", "settled": "0", "reversed": "0", "all": "0"}
    assert as_dicts(read_csv(operator_client.get(STATEMENT, {"from": "2023-01-01", "to": "2023-01-31"})))[-1][
        "commission_lines"] == "0"


def test_the_csv_ignores_the_accept_header(month, operator_client):
    rows = read_csv(operator_client.get(STATEMENT, PERIOD, HTTP_ACCEPT="text/csv"))
    assert rows[-1][0] == "total"
    res = operator_client.get(STATEMENT, {"from": "nope"}, HTTP_ACCEPT="text/csv")
    assert res.status_code == 400 and res.json()["code"] == "invalid"  # errors stay JSON


@pytest.mark.parametrize("value", ["abc", "-1", "0", "1.5", "1e3", str(2**63), "9" * 40, "１", " 1"])
def test_bad_distributor_is_400(operator_client, value):
    res = operator_client.get(STATEMENT, {"distributor": value}, HTTP_ACCEPT_LANGUAGE="en")
    assert res.status_code == 400
    assert res.json()["extra"]["fields"] == {"distributor": ["Not an id."]}


def test_unknown_distributor_is_404(month, operator_client):
    missing = Distributor.objects.order_by("-pk").first().pk + 1000
    res = operator_client.get(STATEMENT, {**PERIOD, "distributor": missing})
    assert res.status_code == 404 and res.json()["code"] == "not_found"
    assert operator_client.get(STATEMENT, {**PERIOD, "distributor": ""}).status_code == 200  # empty = all


@pytest.mark.parametrize("name", ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_quoted(operator_client, name):
    d = DistributorFactory()
    Distributor.objects.filter(pk=d.pk).update(real_name=name)
    today = timezone.now().astimezone(SH).date().isoformat()
    rows = read_csv(operator_client.get(STATEMENT, {"distributor": d.pk, "from": today, "to": today}))
    assert rows[2][1] == "'" + name
    assert rows[2][0] == str(d.pk)  # numbers stay numbers


def test_yuan_is_formatted_from_integers():
    assert [yuan(v) for v in (0, 1, 99, 100, 12345, 10**15 + 1, -5, -12345)] == [
        "0.00", "0.01", "0.99", "1.00", "123.45", "10000000000000.01", "-0.05", "-123.45"]


def test_the_schema_describes_the_reports(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    overview = schema["paths"][OVERVIEW]["get"]
    assert {p["name"] for p in overview["parameters"]} >= {"from", "to"}
    statement = schema["paths"][STATEMENT]["get"]
    assert "text/csv" in statement["responses"]["200"]["content"]
    assert {p["name"] for p in statement["parameters"]} >= {"distributor", "from", "to"}

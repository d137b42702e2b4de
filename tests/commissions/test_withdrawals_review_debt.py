"""The review queue shows the requester's outstanding commission debt (fen) on every row and
in the detail — loaded once per page, not per row (issue 9, "Also")."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from commissions.services.settlement import commissions_settle
from commissions.services.withdrawals import withdrawal_request
from mall.services.orders import order_confirm_receipt, order_ship
from tests.factories import UserFactory

from .review_helpers import ADMIN, LIST, attributed_order, make_withdrawal, refund
from .wallet_helpers import balance, funded_distributor

pytestmark = pytest.mark.django_db


def indebted_withdrawal(operator, *, price_fen=10_000):
    """The real way debt meets a waiting withdrawal: commission settled, all of it asked for,
    then the order refunded — the settled commission comes back as debt."""
    d = funded_distributor(0)
    buyer = UserFactory()
    order = attributed_order(buyer, d, price_fen=price_fen)  # 10 % level 1 → 1,000 fen
    order_ship(operator=operator, order_no=order.no, carrier="SF", tracking_no="SF100")
    order_confirm_receipt(user=buyer, order_no=order.no)
    commissions_settle(now=timezone.now() + timedelta(days=8))
    w = withdrawal_request(user=d.user, amount_fen=balance(d.user, "user_wallet"))
    refund(order, order.paid_fen, operator)
    assert balance(d.user, "user_debt") == -1_000
    return w


def test_rows_and_detail_carry_the_debt(operator_client, operator):
    calm = make_withdrawal(500)
    owing = indebted_withdrawal(operator)
    rows = {r["id"]: r for r in operator_client.get(LIST).json()["results"]}
    assert (rows[owing.pk]["debt_fen"], rows[calm.pk]["debt_fen"]) == (1_000, 0)
    assert "debt_outstanding" in rows[owing.pk]["risk_codes"]
    detail = operator_client.get(f"{LIST}{owing.pk}/").json()
    assert detail["debt_fen"] == 1_000 == detail["history"]["wallet"]["debt_fen"]
    assert operator_client.get(f"{LIST}{calm.pk}/").json()["debt_fen"] == 0


def test_the_debt_costs_no_query_per_row(operator_client, operator, settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0  # both requests authenticate the same way
    for _ in range(2):
        indebted_withdrawal(operator)
    with CaptureQueriesContext(connection) as small:
        assert [r["debt_fen"] for r in operator_client.get(LIST, {"page_size": 1}).json()["results"]] == [1_000]
    for _ in range(3):
        indebted_withdrawal(operator)
        make_withdrawal(300)
    with CaptureQueriesContext(connection) as big:
        rows = operator_client.get(LIST, {"page_size": 20}).json()["results"]
    assert sorted(r["debt_fen"] for r in rows) == [0] * 3 + [1_000] * 5
    assert len(small.captured_queries) == len(big.captured_queries)


def test_the_admin_list_shows_the_debt(client, operator):
    owing = indebted_withdrawal(operator)
    client.force_login(operator)
    text = client.get(ADMIN).content.decode()
    assert "column-debt" in text
    assert 'class="field-debt">¥10.00<' in text, owing.pk  # 1000 fen, shown as yuan (core/admin_money.py)

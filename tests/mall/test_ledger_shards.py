"""Order money is booked on sharded platform accounts: an order's payment and refunds on one shard."""
import pytest
from django.db.models import Sum

from ledger.models import Account, Entry
from mall.services.orders import order_create, order_mark_paid, platform_accounts

from .orders_helpers import ADDRESS, make_sku

pytestmark = pytest.mark.django_db


def test_orders_spread_over_shards_and_the_sums_are_the_platform_figures(user, settings):
    settings.MALL_LEDGER_SHARDS = 4
    sku = make_sku(price_fen=100, stock=100)
    orders = [order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS) for _ in range(12)]
    for i, order in enumerate(orders):
        order_mark_paid(order_no=order.no, amount_fen=100, transaction_id=f"42000000000000000000{i:08d}")
    shards = {platform_accounts(order_no=o.no)[0].code for o in orders}
    assert len(shards) > 1
    assert all(code.startswith("mall0") and code.endswith(":platform_cash") for code in shards)
    assert Account.objects.filter(kind="platform_cash").aggregate(t=Sum("balance_fen"))["t"] == 1200
    assert Account.objects.filter(kind="sales_revenue").aggregate(t=Sum("balance_fen"))["t"] == -1200
    for order in orders:  # each order's payment sits on its own shard's account
        cash, _ = platform_accounts(order_no=order.no)
        assert Entry.objects.filter(transaction__cause_id=order.no, account=cash, amount_fen=100).exists()

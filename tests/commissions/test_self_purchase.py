"""Issue 9 item 3: the buyer never earns commission on their own order — at level 1 or at
level 2 — unless the operator turned `self_purchase_commission` on. Through the real path:
the order is created with a share code (the attributor stores the snapshot), then paid
(order_mark_paid → the PAID moment → accrual and the ledger)."""
from __future__ import annotations

import pytest

from commissions.models import Commission
from ledger.models import Account
from mall.services.orders import order_create, order_mark_paid
from tests.factories import DistributorFactory, ShareLinkFactory, distribution_settings_set
from tests.mall.orders_helpers import ADDRESS, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain():
    """A recruited B: A is level 2 of every order B brings."""
    distribution_settings_set(levels=2, default_level1_bps=1000, default_level2_bps=500, binding_mode="days",
                              binding_days=10)
    a = DistributorFactory()
    b = DistributorFactory(inviter=a)
    return a, b


def buy_and_pay(buyer, through, *, price_fen=10_000):
    sku = make_sku(price_fen=price_fen)
    order = order_create(user=buyer, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS,
                         share_code=ShareLinkFactory(distributor=through).code)
    order_mark_paid(order_no=order.no, amount_fen=order.total_fen, transaction_id=f"42{order.no}")
    return order


def earned(order) -> dict[int, tuple[int, int]]:
    """{beneficiary user id: (level, fen)} of the order's commissions."""
    return {c.beneficiary_id: (c.level, c.amount_fen) for c in Commission.objects.filter(order=order)}


def frozen(user) -> int:
    account = Account.objects.filter(owner=user, kind="user_frozen").first()
    return account.balance_fen if account else 0


def test_off_level2_the_inviter_buying_through_their_recruit_earns_nothing_on_it(chain):
    a, b = chain
    distribution_settings_set(self_purchase_commission=False)
    order = buy_and_pay(a.user, through=b)
    assert earned(order) == {b.user_id: (1, 1000)}  # B brought the order and earns level 1
    assert order.attribution["level2_distributor_id"] is None
    assert frozen(a.user) == 0 and frozen(b.user) == 1000


def test_off_level1_buying_through_ones_own_link_earns_nobody_anything(chain):
    a, b = chain
    distribution_settings_set(self_purchase_commission=False)
    order = buy_and_pay(b.user, through=b)
    assert earned(order) == {}
    assert order.attribution["self_referral"] is True
    assert frozen(a.user) == 0 and frozen(b.user) == 0


def test_on_level2_the_inviter_buying_through_their_recruit_earns_level2(chain):
    a, b = chain
    distribution_settings_set(self_purchase_commission=True)
    order = buy_and_pay(a.user, through=b)
    assert earned(order) == {b.user_id: (1, 1000), a.user_id: (2, 500)}
    assert frozen(a.user) == 500 and frozen(b.user) == 1000


def test_on_level1_buying_through_ones_own_link_earns_both_levels(chain):
    a, b = chain
    distribution_settings_set(self_purchase_commission=True)
    order = buy_and_pay(b.user, through=b)
    assert earned(order) == {b.user_id: (1, 1000), a.user_id: (2, 500)}


def test_off_level2_through_a_binding_too(chain):
    """The binding path (A bound to B as a customer) follows the same rule."""
    from distributors.services.binding import binding_bind

    a, b = chain
    distribution_settings_set(self_purchase_commission=False)
    binding_bind(customer=a.user, distributor=b, source="click")
    sku = make_sku(price_fen=10_000)
    order = order_create(user=a.user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    order_mark_paid(order_no=order.no, amount_fen=order.total_fen, transaction_id=f"42{order.no}")
    order.refresh_from_db()
    assert order.attribution["source"] == "binding"
    assert earned(order) == {b.user_id: (1, 1000)}

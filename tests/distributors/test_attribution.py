"""Order attribution: share code > binding > cookie; forged and expired cookies; self-referral
with self-purchase on and off; unapproved and frozen distributors; level 2; binding by order."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.utils import timezone

from distributors.models import BindingEvent, CustomerBinding
from distributors.services.attribution import (
    ATTRIBUTION_COOKIE,
    attribution_token_make,
    attribution_token_read,
    order_attribute,
)
from distributors.services.binding import binding_bind
from mall.services.orders import order_create
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import ADDRESS, make_sku, order_payload

pytestmark = pytest.mark.django_db

KEYS = {"source", "distributor_id", "link_id", "link_code", "binding_id", "level1_distributor_id",
        "level2_distributor_id", "self_referral"}


@pytest.fixture(autouse=True)
def _settings():
    distribution_settings_set(binding_mode="days", binding_days=10, protection_days=2, levels=2,
                              self_purchase_commission=False)


@pytest.fixture
def sku():
    return make_sku(price_fen=5000, stock=100)


def buy(user, sku, *, share_code="", hint=""):
    order = order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS,
                         share_code=share_code, attribution_hint=hint)
    order.refresh_from_db()
    return order.attribution


def test_precedence_share_code_then_binding_then_cookie(sku):
    parent = DistributorFactory()
    a, b, c = DistributorFactory(inviter=parent), DistributorFactory(), DistributorFactory()
    la, lb, lc = ShareLinkFactory(distributor=a), ShareLinkFactory(distributor=b), ShareLinkFactory(distributor=c)
    customer = UserFactory()
    bound = binding_bind(customer=customer, link=lb, source="click").binding
    cookie = attribution_token_make(link_id=lc.pk)

    snap = buy(customer, sku, share_code=la.code, hint=cookie)
    assert set(snap) == KEYS
    assert snap == {
        "source": "share_code", "distributor_id": a.pk, "link_id": la.pk, "link_code": la.code, "binding_id": None,
        "level1_distributor_id": a.pk, "level2_distributor_id": parent.pk, "self_referral": False,
    }
    snap = buy(customer, sku, hint=cookie)
    assert snap == {
        "source": "binding", "distributor_id": b.pk, "link_id": lb.pk, "link_code": lb.code, "binding_id": bound.pk,
        "level1_distributor_id": b.pk, "level2_distributor_id": None, "self_referral": False,
    }
    newcomer = UserFactory()
    snap = buy(newcomer, sku, hint=cookie)
    assert (snap["source"], snap["distributor_id"], snap["link_id"], snap["binding_id"]) == ("cookie", c.pk, lc.pk,
                                                                                             None)
    assert buy(UserFactory(), sku) == {}


def test_unknown_or_garbage_share_code_falls_through(sku):
    b = DistributorFactory()
    customer = UserFactory()
    binding_bind(customer=customer, distributor=b, source="scan")
    for code in ("ZZZZZZZZ", "not a code!", "x" * 30):
        assert buy(customer, sku, share_code=code)["source"] == "binding"
    assert buy(UserFactory(), sku, share_code="ZZZZZZZZ") == {}


def test_expired_binding_is_not_used(sku):
    b = DistributorFactory()
    customer = UserFactory()
    binding_bind(customer=customer, distributor=b, source="scan", now=timezone.now() - timedelta(days=11))
    assert buy(customer, sku) == {}


def test_forged_expired_and_dangling_cookies_are_ignored(sku):
    c = DistributorFactory()
    lc = ShareLinkFactory(distributor=c)
    good = attribution_token_make(link_id=lc.pk)
    value, sig = good.rsplit(":", 1)
    forged = [
        f"{lc.pk + 1}.{value.split('.')[1]}:{sig}",  # another link id under the old signature
        value + ":" + ("A" * len(sig)),
        signing.Signer(salt="something-else").sign(value),  # signed for another purpose
        signing.Signer(key="not-our-secret", salt="distributors.attribution").sign(value),
        "garbage", "", "x" * 5000,
    ]
    for hint in forged:
        assert attribution_token_read(token=hint) is None
        assert buy(UserFactory(), sku, hint=hint) == {}
    expired = attribution_token_make(link_id=lc.pk, now=timezone.now() - timedelta(days=10, minutes=1))
    assert buy(UserFactory(), sku, hint=expired) == {}
    fresh_enough = attribution_token_make(link_id=lc.pk, now=timezone.now() - timedelta(days=9))
    assert buy(UserFactory(), sku, hint=fresh_enough)["source"] == "cookie"
    from_the_future = attribution_token_make(link_id=lc.pk, now=timezone.now() + timedelta(days=1))
    assert buy(UserFactory(), sku, hint=from_the_future) == {}
    gone = ShareLinkFactory()
    dangling = attribution_token_make(link_id=gone.pk)
    gone.delete()
    assert buy(UserFactory(), sku, hint=dangling) == {}
    assert CustomerBinding.objects.count() == 1  # only the valid cookie's order bound its buyer


@pytest.mark.parametrize("self_purchase", [True, False])
def test_self_referral(sku, self_purchase):
    distribution_settings_set(self_purchase_commission=self_purchase, levels=2)
    parent = DistributorFactory()
    me = DistributorFactory(inviter=parent)
    mine = ShareLinkFactory(distributor=me)
    snap = buy(me.user, sku, share_code=mine.code)
    assert snap["distributor_id"] == me.pk and snap["source"] == "share_code"
    if self_purchase:
        assert (snap["level1_distributor_id"], snap["level2_distributor_id"], snap["self_referral"]) == (
            me.pk, parent.pk, False)
    else:
        assert (snap["level1_distributor_id"], snap["level2_distributor_id"], snap["self_referral"]) == (
            None, None, True)
    # The cookie path is the same rule.
    snap = buy(me.user, sku, hint=attribution_token_make(link_id=mine.pk))
    assert snap["self_referral"] is (not self_purchase)
    assert not CustomerBinding.objects.filter(customer=me.user).exists()  # nobody binds to themselves


@pytest.mark.parametrize("status", ["pending", "frozen", "rejected"])
def test_unapproved_or_frozen_distributor_gets_no_commission_levels(sku, status):
    parent = DistributorFactory()
    d = DistributorFactory(inviter=parent, status=status)
    snap = buy(UserFactory(), sku, share_code=ShareLinkFactory(distributor=d).code)
    assert snap["distributor_id"] == d.pk  # still records who brought the order
    assert snap["level1_distributor_id"] is None and snap["level2_distributor_id"] is None
    assert snap["self_referral"] is False


def test_a_binding_to_a_distributor_frozen_since_gives_no_levels(sku):
    d = DistributorFactory()
    customer = UserFactory()
    binding_bind(customer=customer, distributor=d, source="click")
    d.status = "frozen"
    d.save(update_fields=["status"])
    snap = buy(customer, sku)
    assert (snap["source"], snap["distributor_id"], snap["level1_distributor_id"]) == ("binding", d.pk, None)


def test_level2_only_for_an_approved_inviter_and_two_levels(sku):
    parent = DistributorFactory()
    child = DistributorFactory(inviter=parent)
    code = ShareLinkFactory(distributor=child).code
    assert buy(UserFactory(), sku, share_code=code)["level2_distributor_id"] == parent.pk
    distribution_settings_set(levels=1)
    assert buy(UserFactory(), sku, share_code=code)["level2_distributor_id"] is None
    distribution_settings_set(levels=2)
    parent.status = "frozen"
    parent.save(update_fields=["status"])
    snap = buy(UserFactory(), sku, share_code=code)
    assert snap["level1_distributor_id"] == child.pk and snap["level2_distributor_id"] is None


def test_ordering_through_a_link_binds_the_customer_by_the_rules(sku):
    a, b = DistributorFactory(), DistributorFactory()
    customer = UserFactory()
    buy(customer, sku, share_code=ShareLinkFactory(distributor=a).code)
    row = CustomerBinding.objects.get(customer=customer)
    assert (row.distributor_id, row.source) == (a.pk, "order")
    # Bound to a (days mode, not expired): b's link gets the order's credit but not the customer.
    snap = buy(customer, sku, share_code=ShareLinkFactory(distributor=b).code)
    assert snap["distributor_id"] == b.pk
    row.refresh_from_db()
    assert row.distributor_id == a.pk
    assert list(BindingEvent.objects.filter(customer=customer).values_list("kind", flat=True)) == ["bound"]
    # The cookie path binds too.
    other = UserFactory()
    buy(other, sku, hint=attribution_token_make(link_id=ShareLinkFactory(distributor=b, channel="c").pk))
    assert CustomerBinding.objects.get(customer=other).distributor_id == b.pk


def test_the_attributor_is_registered_and_stored_on_the_order(sku):
    d = DistributorFactory()
    order = order_create(user=UserFactory(), items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS,
                         share_code=ShareLinkFactory(distributor=d).code)
    order.refresh_from_db()
    assert order.attribution["distributor_id"] == d.pk
    assert order_attribute(user=UserFactory(), share_code="", hint="") == {}


def test_order_api_passes_the_attribution_cookie(client_for, sku, settings):
    d = DistributorFactory()
    store = ShareLinkFactory(distributor=d)
    customer = UserFactory()
    api = client_for(customer)
    click = api.get(f"/s/{store.code}")
    assert click.status_code == 302
    customer_binding = CustomerBinding.objects.get(customer=customer)
    customer_binding.delete()  # leave only the cookie to attribute by
    api.cookies[ATTRIBUTION_COOKIE] = click.cookies[ATTRIBUTION_COOKIE].value
    res = api.post("/api/v1/orders/", order_payload((sku, 1)), format="json")
    assert res.status_code == 201, res.json()
    assert res.json()["distributor"]["source"] == "cookie"
    assert res.json()["distributor"]["link_id"] == store.pk
    # A tampered cookie gives nothing.
    api.cookies[ATTRIBUTION_COOKIE] = click.cookies[ATTRIBUTION_COOKIE].value[:-2] + "zz"
    CustomerBinding.objects.filter(customer=customer).delete()
    res = api.post("/api/v1/orders/", order_payload((sku, 1)), format="json")
    assert res.status_code == 201 and res.json()["distributor"] is None

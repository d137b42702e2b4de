"""Distributors: recruitment modes, review, the recruiter tree (no cycles), settings, tiers."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from core.errors import DomainError
from distributors.models import (
    Distributor,
    DistributorEvent,
    Tier,
)
from distributors.services import distributors as svc
from distributors.services.settings import distribution_settings_update
from tests.concurrency import run_at_once
from tests.factories import CustomerBindingFactory, DistributorFactory, UserFactory, distribution_settings_set

pytestmark = pytest.mark.django_db

APPLY = {"real_name": "李四", "phone": "13900139000"}


@pytest.mark.parametrize(("mode", "status"), [("open", "approved"), ("application", "pending")])
def test_apply_follows_the_recruitment_mode(user_client, user, mode, status):
    distribution_settings_set(recruitment_mode=mode)
    res = user_client.post("/api/v1/distributors/apply/", APPLY, format="json")
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["status"] == status
    assert len(body["invite_code"]) == 8
    assert body["inviter"] is None
    assert user_client.get("/api/v1/me/").json()["distributor"]["status"] == status
    again = user_client.post("/api/v1/distributors/apply/", APPLY, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "already_applied"
    assert Distributor.objects.count() == 1


def test_purchase_mode_needs_completed_purchases(user_client, user):
    from mall.services.orders import order_complete_overdue, order_create, order_mark_paid, order_ship
    from tests.mall.orders_helpers import ADDRESS, make_sku

    distribution_settings_set(recruitment_mode="purchase", recruitment_threshold_fen=5000)
    res = user_client.post("/api/v1/distributors/apply/", APPLY, format="json")
    assert res.status_code == 409
    assert res.json()["code"] == "recruitment_threshold_not_met"
    assert res.json()["extra"] == {"needed_fen": 5000, "spent_fen": 0}
    assert not Distributor.objects.exists()

    sku = make_sku(price_fen=6000, stock=3)
    order = order_create(user=user, items=[{"sku_id": sku.pk, "quantity": 1}], address=ADDRESS)
    order_mark_paid(order_no=order.no, amount_fen=6000, transaction_id="4200000000000000000000000009")
    order_ship(operator=None, order_no=order.no, carrier="SF", tracking_no="SF0009")
    from mall.models import Order

    Order.objects.filter(pk=order.pk).update(shipped_at=timezone.now() - timedelta(days=30))
    order_complete_overdue(order_no=order.no)
    res = user_client.post("/api/v1/distributors/apply/", APPLY, format="json")
    assert res.status_code == 201
    assert res.json()["status"] == "approved"


def test_invite_codes(user_client, user):
    distribution_settings_set(recruitment_mode="open")
    inviter = DistributorFactory()
    bad = user_client.post("/api/v1/distributors/apply/", {**APPLY, "invite_code": "ZZZZZZZZ"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_invite_code"
    for junk in ("<script>", "0O1IL", "x" * 13, 12345):
        res = user_client.post("/api/v1/distributors/apply/", {**APPLY, "invite_code": junk}, format="json")
        assert res.status_code == 400, junk
    assert not Distributor.objects.filter(user=user).exists()
    res = user_client.post("/api/v1/distributors/apply/", {**APPLY, "invite_code": inviter.invite_code.lower()},
                           format="json")
    assert res.status_code == 201
    assert res.json()["inviter"]["invite_code"] == inviter.invite_code
    mine = Distributor.objects.get(user=user)
    # set once: naming another inviter later is refused
    other = DistributorFactory()
    res = user_client.post("/api/v1/distributors/me/inviter/", {"invite_code": other.invite_code}, format="json")
    assert res.status_code == 409
    mine.refresh_from_db()
    assert mine.inviter_id == inviter.pk


@pytest.mark.parametrize("field", ["real_name", "phone"])
def test_apply_bad_input(user_client, field):
    for value in ("", None, "x" * 40, 123):
        res = user_client.post("/api/v1/distributors/apply/", {**APPLY, field: value}, format="json")
        assert res.status_code == 400, (field, value)
    assert not Distributor.objects.exists()


def test_own_code_and_cycles_are_refused(client_for):
    a = DistributorFactory()
    b = DistributorFactory(inviter=a)
    c = DistributorFactory(inviter=b)
    with pytest.raises(DomainError) as own:
        svc.distributor_set_inviter(user=a.user, invite_code=a.invite_code)
    assert own.value.code == "self_referral"
    for descendant in (b, c):  # a ← b ← c: a may not name b or c
        res = client_for(a.user).post("/api/v1/distributors/me/inviter/", {"invite_code": descendant.invite_code},
                                      format="json")
        assert res.status_code == 409
        assert res.json()["code"] == "invite_cycle"
    a.refresh_from_db()
    assert a.inviter_id is None
    d = DistributorFactory()
    svc.distributor_set_inviter(user=a.user, invite_code=d.invite_code)  # an outsider is fine
    assert svc.distributor_ancestor_ids(distributor_id=c.pk) == [b.pk, a.pk, d.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_opposite_invitations_at_once_make_no_cycle():
    for _ in range(5):  # a few rounds: the race must never produce a loop
        a, b = DistributorFactory(), DistributorFactory()
        pairs = [(a, b), (b, a)]

        def name(i, pairs=pairs):
            who, whom = pairs[i]
            svc.distributor_set_inviter(user=who.user, invite_code=whom.invite_code)
            return "ok"

        outcomes = run_at_once(name, 2)  # DomainErrors come back as their code
        assert sorted(outcomes) == ["invite_cycle", "ok"]
        a.refresh_from_db(), b.refresh_from_db()
        assert (a.inviter_id == b.pk) != (b.inviter_id == a.pk)


def test_operator_review(operator_client, user_client, user):
    distribution_settings_set(recruitment_mode="application")
    user_client.post("/api/v1/distributors/apply/", APPLY, format="json")
    d = Distributor.objects.get(user=user)
    listed = operator_client.get("/api/v1/ops/distributors/?status=pending").json()
    assert [row["id"] for row in listed["results"]] == [d.pk]
    assert operator_client.get("/api/v1/ops/distributors/?status=bogus").status_code == 400
    no_reason = operator_client.post(f"/api/v1/ops/distributors/{d.pk}/reject/", {}, format="json")
    assert no_reason.status_code == 400
    assert Distributor.objects.get(pk=d.pk).status == "pending"
    assert operator_client.post(f"/api/v1/ops/distributors/{d.pk}/freeze/", {"reason": "x"},
                                format="json").status_code == 409
    ok = operator_client.post(f"/api/v1/ops/distributors/{d.pk}/approve/", {}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    frozen = operator_client.post(f"/api/v1/ops/distributors/{d.pk}/freeze/", {"reason": "刷单"}, format="json")
    assert frozen.json()["status"] == "frozen" and frozen.json()["reason"] == "刷单"
    assert user_client.get("/api/v1/distributors/me/").json()["status"] == "frozen"
    assert operator_client.post(f"/api/v1/ops/distributors/{d.pk}/unfreeze/", {}, format="json").json()["status"] \
        == "approved"
    assert operator_client.post("/api/v1/ops/distributors/999999/approve/", {}, format="json").status_code == 404
    kinds = list(DistributorEvent.objects.filter(distributor=d).values_list("kind", flat=True))
    assert kinds == ["applied", "approved", "frozen", "unfrozen"]


def test_rejected_may_apply_again(operator_client, user_client, user):
    distribution_settings_set(recruitment_mode="application")
    user_client.post("/api/v1/distributors/apply/", APPLY, format="json")
    d = Distributor.objects.get(user=user)
    operator_client.post(f"/api/v1/ops/distributors/{d.pk}/reject/", {"reason": "资料不全"}, format="json")
    assert user_client.get("/api/v1/distributors/me/").json()["reason"] == "资料不全"
    again = user_client.post("/api/v1/distributors/apply/", {**APPLY, "real_name": "李四四"}, format="json")
    assert again.status_code == 201
    assert again.json()["status"] == "pending"
    assert Distributor.objects.count() == 1


def test_ops_endpoints_need_staff_and_permission(user_client, client_for):
    d = DistributorFactory()
    paths = ["/api/v1/ops/distributors/", "/api/v1/ops/settings/distribution/", "/api/v1/ops/tiers/"]
    for path in paths:
        assert user_client.get(path).status_code == 403
    assert user_client.post(f"/api/v1/ops/distributors/{d.pk}/freeze/", {"reason": "x"},
                            format="json").status_code == 403
    staff = UserFactory(is_staff=True)
    assert client_for(staff).get(paths[0]).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_distributor"))
    assert client_for(staff).get(paths[0]).status_code == 200
    assert client_for(staff).post(f"/api/v1/ops/distributors/{d.pk}/freeze/", {"reason": "x"},
                                  format="json").status_code == 403
    assert Distributor.objects.get(pk=d.pk).status == "approved"


def test_not_a_distributor(user_client):
    for path in ("/api/v1/distributors/me/", "/api/v1/distributors/me/team/", "/api/v1/distributors/me/customers/"):
        res = user_client.get(path)
        assert res.status_code == 403
        assert res.json()["code"] == "not_a_distributor"
    assert user_client.get("/api/v1/me/").json()["distributor"] is None


def test_team_and_customers(client_for):
    me = DistributorFactory()
    kid1, kid2 = DistributorFactory(inviter=me), DistributorFactory(inviter=me)
    grandkid = DistributorFactory(inviter=kid1)
    DistributorFactory(inviter=grandkid)  # level 3: not mine
    client = client_for(me.user)
    team = client.get("/api/v1/distributors/me/team/").json()
    assert sorted((row["id"], row["level"]) for row in team["results"]) == sorted(
        [(kid1.pk, 1), (kid2.pk, 1), (grandkid.pk, 2)]
    )
    assert [r["id"] for r in client.get("/api/v1/distributors/me/team/?level=2").json()["results"]] == [grandkid.pk]
    assert client.get("/api/v1/distributors/me/team/?level=3").status_code == 400
    now = timezone.now()
    alive = UserFactory()
    CustomerBindingFactory(customer=alive, distributor=me, bound_at=now, expires_at=now + timedelta(days=3),
                           protected_until=now)
    CustomerBindingFactory(distributor=me, bound_at=now - timedelta(days=40), expires_at=now - timedelta(days=10),
                           protected_until=now - timedelta(days=33))
    customers = client.get("/api/v1/distributors/me/customers/").json()
    assert [c["user_id"] for c in customers["results"]] == [alive.pk]
    assert customers["results"][0]["expires_at"] is not None
    summary = client.get("/api/v1/distributors/me/").json()["summary"]
    assert (summary["team_level1"], summary["team_level2"], summary["bound_customers"]) == (2, 1, 1)


def test_settings_validate_together_and_change_nothing_when_wrong(operator_client):
    before = operator_client.get("/api/v1/ops/settings/distribution/").json()
    bad_bodies = [
        {"levels": 3},
        {"levels": "2"},
        {"default_level1_bps": 9000, "default_level2_bps": 2000},
        {"binding_mode": "forever"},
        {"binding_days": -1},
        {"self_purchase_commission": "yes"},
        {"withdrawal_min_fen": 1.5},
        {"no_such_setting": 1},
        {"binding_days": 10**9},
    ]
    for body in bad_bodies:
        res = operator_client.put("/api/v1/ops/settings/distribution/", {**body, "protection_days": 3},
                                  format="json")
        assert res.status_code == 400, body
        assert res.json()["code"] == "invalid"
    assert operator_client.get("/api/v1/ops/settings/distribution/").json() == before
    ok = operator_client.put("/api/v1/ops/settings/distribution/",
                             {"binding_mode": "last_click", "protection_days": 3, "levels": 1}, format="json")
    assert ok.status_code == 200
    assert (ok.json()["binding_mode"], ok.json()["protection_days"], ok.json()["levels"]) == ("last_click", 3, 1)


def test_tiers_crud_and_upgrades(operator_client, operator):
    res = operator_client.post("/api/v1/ops/tiers/", {"name": "普通", "rank": 0}, format="json")
    assert res.status_code == 201
    gold = operator_client.post("/api/v1/ops/tiers/", {
        "name": "金牌", "rank": 10, "level1_bps": 1500, "min_invited_count": 2, "min_own_gmv_fen": 10_000,
        "match": "any"}, format="json")
    assert gold.status_code == 201, gold.json()
    for body in ({"name": "普通", "rank": 5}, {"name": "x", "rank": 10}):
        assert operator_client.post("/api/v1/ops/tiers/", body, format="json").status_code == 409
    for body in ({"name": "y", "rank": 1, "level1_bps": 9000, "level2_bps": 2000}, {"name": "z", "rank": -1},
                 {"name": "", "rank": 2}, {"name": "w", "rank": 2, "min_order_count": 1.5}):
        assert operator_client.post("/api/v1/ops/tiers/", body, format="json").status_code == 400, body
    assert Tier.objects.count() == 2

    me = DistributorFactory()
    Distributor.objects.filter(pk=me.pk).update(tier=Tier.objects.get(rank=0))
    call_command("run_job", "distributors.evaluate_tiers")
    assert Distributor.objects.get(pk=me.pk).tier.rank == 0
    DistributorFactory(inviter=me)
    DistributorFactory(inviter=me)
    call_command("run_job", "distributors.evaluate_tiers")
    me.refresh_from_db()
    assert me.tier.name == "金牌"
    event = DistributorEvent.objects.get(distributor=me, kind="tier_upgraded")
    assert "invited_count=2" in event.reason
    in_use = operator_client.delete(f"/api/v1/ops/tiers/{me.tier_id}/")
    assert in_use.status_code == 409
    assert operator_client.patch(f"/api/v1/ops/tiers/{me.tier_id}/", {"level2_bps": 600},
                                 format="json").json()["level2_bps"] == 600


def test_settings_service_rejects_unknown_fields():
    with pytest.raises(DomainError):
        distribution_settings_update(actor=None, levels=2, colour="red")

"""Bargains (砍价): offers, starting, friends' helps (the race on PostgreSQL), expiry.
campaigns/services/bargains.py; the cut plan itself is tested in test_bargain_cuts.py."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import Bargain, BargainEvent, BargainHelp, BargainOffer, BargainSettings, BargainStatus
from campaigns.services import bargains as svc
from core.errors import DomainError, InvalidInput, NotFound
from core.jobs import job_run
from tests.concurrency import run_at_once
from tests.factories import UserFactory
from tests.mall.factories import SkuFactory

B = BargainStatus
LANES = 8  # threads (database connections) at once: the shared server's budget


def offer_make(**overrides) -> BargainOffer:
    sku = overrides.pop("sku", None) or SkuFactory(price_fen=10_000)
    fields = {"actor": None, "product_id": sku.product_id, "sku_id": sku.pk, "start_price_fen": 10_000,
              "floor_price_fen": 1_000, "helps_needed": 5, "hours": 24, "stock": 10,
              "ends_at": timezone.now() + timedelta(days=3)}
    fields.update(overrides)
    return svc.bargain_offer_create(**fields)


def started(**offer_fields) -> Bargain:
    return svc.bargain_start(user=UserFactory(), offer_id=offer_make(**offer_fields).pk)


def snapshot(bargain: Bargain) -> tuple:
    b = Bargain.objects.get(pk=bargain.pk)
    return (b.status, b.current_price_fen, b.helps_done, BargainHelp.objects.filter(bargain=b).count(),
            BargainOffer.objects.get(pk=b.offer_id).stock_left, BargainEvent.objects.filter(bargain=b).count())


def settings_set(**fields) -> None:
    BargainSettings.objects.update_or_create(pk=1, defaults=fields)


# --- offers ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_offer_is_created_with_its_stock_left_full():
    offer = offer_make(stock=7, per_user_limit=2)
    row = BargainOffer.objects.get(pk=offer.pk)
    assert (row.stock, row.stock_left, row.per_user_limit, row.active) == (7, 7, 2, True)
    assert row.starts_at <= timezone.now() < row.ends_at


@pytest.mark.django_db
@pytest.mark.parametrize(("field", "value"), [
    ("start_price_fen", -1), ("start_price_fen", 10**11), ("start_price_fen", True), ("start_price_fen", 100.0),
    ("start_price_fen", "10000"), ("floor_price_fen", 0), ("floor_price_fen", -5), ("floor_price_fen", False),
    ("helps_needed", 0), ("helps_needed", 501), ("helps_needed", True), ("hours", 0), ("hours", 10**6),
    ("stock", 0), ("stock", -1), ("stock", 10**9), ("per_user_limit", 0), ("per_user_limit", True),
    ("sku_id", True), ("product_id", -1), ("active", 1), ("ends_at", "2030-01-01"),
])
def test_a_bad_offer_field_is_named_and_nothing_is_written(field, value):
    sku = SkuFactory()
    with pytest.raises(InvalidInput) as exc:
        offer_make(sku=sku, **{field: value})
    assert field in exc.value.extra["fields"]
    assert BargainOffer.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(("overrides", "field"), [
    ({"start_price_fen": 1_000, "floor_price_fen": 1_000}, "start_price_fen"),
    ({"start_price_fen": 999, "floor_price_fen": 1_000}, "start_price_fen"),
    ({"start_price_fen": 1_004, "floor_price_fen": 1_000, "helps_needed": 5}, "helps_needed"),
    ({"ends_at": "past"}, "ends_at"),
    ({"starts_at": "after_end"}, "ends_at"),
    ({"starts_at": "naive"}, "starts_at"),
    ({"sku_id": "other_product"}, "sku_id"),
    ({"product_id": 10**12}, "product_id"),
])
def test_offer_relations_are_checked_and_nothing_is_written(overrides, field):
    sku = SkuFactory()
    now = timezone.now()
    replace = {"past": now - timedelta(minutes=1), "after_end": now + timedelta(days=5),
               "naive": now.replace(tzinfo=None), "other_product": SkuFactory().pk}
    fields = {k: replace.get(v, v) if isinstance(v, str) else v for k, v in overrides.items()}
    count = BargainOffer.objects.count()
    with pytest.raises(InvalidInput) as exc:
        offer_make(sku=sku, **fields)
    assert field in exc.value.extra["fields"], exc.value.extra
    assert BargainOffer.objects.count() == count


# --- starting --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_starting_takes_one_unit_draws_the_plan_and_sets_the_deadline():
    offer = offer_make(hours=6)
    owner = UserFactory()
    before = timezone.now()
    b = svc.bargain_start(user=owner, offer_id=offer.pk)
    b.refresh_from_db()
    assert (b.status, b.current_price_fen, b.helps_done, b.helps_needed) == (B.ACTIVE, 10_000, 0, 5)
    assert (b.start_price_fen, b.floor_price_fen) == (10_000, 1_000)
    assert len(b.cuts) == 5 and sum(b.cuts) == 9_000 and min(b.cuts) >= 1
    assert before + timedelta(hours=6) <= b.deadline <= timezone.now() + timedelta(hours=6)
    assert BargainOffer.objects.get(pk=offer.pk).stock_left == 9
    assert list(BargainEvent.objects.filter(bargain=b).values_list("kind", "to_status")) == [("started", B.ACTIVE)]
    assert len(b.share_code) == 10


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["ended", "inactive", "not_started", "sold_out"])
def test_a_closed_or_empty_offer_cannot_be_started_and_nothing_changes(case):
    offer = offer_make(stock=1)
    now = timezone.now()
    if case == "ended":
        BargainOffer.objects.filter(pk=offer.pk).update(starts_at=now - timedelta(days=2),
                                                        ends_at=now - timedelta(seconds=1))
    elif case == "inactive":
        BargainOffer.objects.filter(pk=offer.pk).update(active=False)
    elif case == "not_started":
        BargainOffer.objects.filter(pk=offer.pk).update(starts_at=now + timedelta(hours=1))
    else:
        svc.bargain_start(user=UserFactory(), offer_id=offer.pk)
    before = (BargainOffer.objects.get(pk=offer.pk).stock_left, Bargain.objects.count(), BargainEvent.objects.count())
    with pytest.raises(DomainError) as exc:
        svc.bargain_start(user=UserFactory(), offer_id=offer.pk)
    assert exc.value.code == ("bargain_sold_out" if case == "sold_out" else "bargain_offer_closed")
    assert (BargainOffer.objects.get(pk=offer.pk).stock_left, Bargain.objects.count(),
            BargainEvent.objects.count()) == before


@pytest.mark.django_db
def test_the_per_user_limit_counts_every_bargain_of_the_user_on_the_offer():
    offer = offer_make(per_user_limit=2)
    owner = UserFactory()
    svc.bargain_start(user=owner, offer_id=offer.pk)
    svc.bargain_start(user=owner, offer_id=offer.pk)
    with pytest.raises(DomainError) as exc:
        svc.bargain_start(user=owner, offer_id=offer.pk)
    assert exc.value.code == "bargain_limit_reached"
    assert Bargain.objects.filter(owner=owner).count() == 2
    assert BargainOffer.objects.get(pk=offer.pk).stock_left == 8


@pytest.mark.django_db
@pytest.mark.parametrize("offer_id", [True, "1", 1.0, None, 10**12])
def test_starting_an_unknown_or_ill_typed_offer_is_not_found(offer_id):
    with pytest.raises(NotFound):
        svc.bargain_start(user=UserFactory(), offer_id=offer_id)
    assert Bargain.objects.count() == 0


# --- helping ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_help_takes_the_planned_cut_of_its_position():
    b = started()
    first, second = UserFactory(), UserFactory()
    h1 = svc.bargain_help(bargain_id=b.pk, helper=first)
    h2 = svc.bargain_help(bargain_id=b.pk, helper=second)
    b.refresh_from_db()
    assert (h1.position, h1.cut_fen, h1.price_after_fen) == (0, b.cuts[0], 10_000 - b.cuts[0])
    assert (h2.position, h2.cut_fen) == (1, b.cuts[1])
    assert (b.helps_done, b.current_price_fen, b.status) == (2, 10_000 - b.cuts[0] - b.cuts[1], B.ACTIVE)


@pytest.mark.django_db
def test_the_last_planned_help_lands_on_the_floor_and_moves_it_once():
    b = started(helps_needed=3, start_price_fen=5_000, floor_price_fen=2_000)
    for _ in range(3):
        svc.bargain_help(bargain_id=b.pk, helper=UserFactory())
    b.refresh_from_db()
    assert (b.status, b.current_price_fen, b.helps_done) == (B.FLOOR_REACHED, 2_000, 3)
    assert b.floor_reached_at is not None
    assert BargainEvent.objects.filter(bargain=b, to_status=B.FLOOR_REACHED).count() == 1
    before = snapshot(b)
    with pytest.raises(DomainError) as exc:
        svc.bargain_help(bargain_id=b.pk, helper=UserFactory())
    assert exc.value.code == "bargain_floor_reached"
    assert snapshot(b) == before


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["owner", "twice", "no_openid", "blank_openid", "inactive", "anonymous",
                                  "past_deadline", "expired", "ordered", "unknown", "bool_id", "str_id"])
def test_a_refused_help_changes_nothing(case):
    from django.contrib.auth.models import AnonymousUser

    b = started()
    helper = UserFactory()
    bargain_id = b.pk
    expected = {"owner": "own_bargain", "twice": "already_helped", "no_openid": "wechat_user_required",
                "blank_openid": "wechat_user_required", "inactive": "wechat_user_required",
                "anonymous": "wechat_user_required", "past_deadline": "bargain_expired",
                "expired": "bargain_expired", "ordered": "bargain_closed", "unknown": "not_found",
                "bool_id": "not_found", "str_id": "not_found"}[case]
    if case == "owner":
        helper = b.owner
    elif case == "twice":
        svc.bargain_help(bargain_id=b.pk, helper=helper)
    elif case == "no_openid":
        helper = UserFactory(openid=None)
    elif case == "blank_openid":
        helper = UserFactory(openid="")
    elif case == "inactive":
        helper = UserFactory(is_active=False)
    elif case == "anonymous":
        helper = AnonymousUser()
    elif case == "past_deadline":
        Bargain.objects.filter(pk=b.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    elif case == "expired":
        Bargain.objects.filter(pk=b.pk).update(deadline=timezone.now() - timedelta(seconds=1))
        svc.bargains_expire()
    elif case == "ordered":
        Bargain.objects.filter(pk=b.pk).update(status=B.ORDERED)  # buying is a later session's
    elif case == "unknown":
        bargain_id = b.pk + 10_000
    elif case == "bool_id":
        bargain_id = True
    else:
        bargain_id = str(b.pk)
    before = snapshot(b)
    with pytest.raises(DomainError) as exc:
        svc.bargain_help(bargain_id=bargain_id, helper=helper)
    assert exc.value.code == expected
    assert snapshot(b) == before


@pytest.mark.django_db
def test_a_new_account_is_refused_when_the_operator_says_so():
    settings_set(new_account_minutes=30)
    b = started()
    fresh = UserFactory()
    before = snapshot(b)
    with pytest.raises(DomainError) as exc:
        svc.bargain_help(bargain_id=b.pk, helper=fresh)
    assert exc.value.code == "account_too_new"
    assert snapshot(b) == before
    old = UserFactory(date_joined=timezone.now() - timedelta(minutes=31))
    assert svc.bargain_help(bargain_id=b.pk, helper=old).position == 0


@pytest.mark.django_db
def test_helps_per_user_per_day_are_limited():
    settings_set(helps_per_user_per_day=2)
    offer = offer_make()
    bargains = [svc.bargain_start(user=UserFactory(), offer_id=offer.pk) for _ in range(3)]
    helper = UserFactory()
    svc.bargain_help(bargain_id=bargains[0].pk, helper=helper)
    svc.bargain_help(bargain_id=bargains[1].pk, helper=helper)
    before = snapshot(bargains[2])
    with pytest.raises(DomainError) as exc:
        svc.bargain_help(bargain_id=bargains[2].pk, helper=helper)
    assert exc.value.code == "help_limit_reached"
    assert snapshot(bargains[2]) == before
    # yesterday's helps do not count
    BargainHelp.objects.filter(helper=helper).update(created_at=timezone.now() - timedelta(days=1, hours=1))
    assert svc.bargain_help(bargain_id=bargains[2].pk, helper=helper).position == 0


# --- expiry ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_expiry_gives_the_stock_back_once_and_leaves_the_others_alone():
    offer = offer_make(helps_needed=1, start_price_fen=2_000, floor_price_fen=1_000)
    due, floor, later = (svc.bargain_start(user=UserFactory(), offer_id=offer.pk) for _ in range(3))
    svc.bargain_help(bargain_id=floor.pk, helper=UserFactory())
    past = timezone.now() - timedelta(seconds=1)
    Bargain.objects.filter(pk__in=[due.pk, floor.pk]).update(deadline=past)
    assert BargainOffer.objects.get(pk=offer.pk).stock_left == 7
    assert job_run(name="campaigns.expire_bargains") == {"expired": 2}
    assert svc.bargains_expire() == {"expired": 0}
    assert svc.bargain_expire(bargain_id=due.pk) is False
    statuses = dict(Bargain.objects.values_list("pk", "status"))
    assert statuses == {due.pk: B.EXPIRED, floor.pk: B.EXPIRED, later.pk: B.ACTIVE}
    assert BargainOffer.objects.get(pk=offer.pk).stock_left == 9
    assert not Bargain.objects.get(pk=due.pk).stock_held and Bargain.objects.get(pk=later.pk).stock_held
    assert BargainEvent.objects.filter(kind="expired").count() == 2


@pytest.mark.django_db
def test_an_ordered_bargain_never_expires():
    b = started()
    Bargain.objects.filter(pk=b.pk).update(status=B.ORDERED, deadline=timezone.now() - timedelta(hours=1))
    before = snapshot(b)
    assert svc.bargains_expire() == {"expired": 0}
    assert snapshot(b) == before


# --- the race (PostgreSQL row locks) ---------------------------------------------------------


def _flood(bargain_id: int, helpers) -> list:
    """Every helper helps at once, LANES threads at a time (each its own connection)."""
    def lane(i):
        out = []
        for helper in helpers[i::LANES]:
            try:
                out.append(svc.bargain_help(bargain_id=bargain_id, helper=helper).position)
            except DomainError as exc:
                out.append(exc.code)
        connection.close()
        return out

    return [x for chunk in run_at_once(lane, LANES) for x in chunk]


def _assert_books(b: Bargain) -> list[BargainHelp]:
    b.refresh_from_db()
    helps = list(BargainHelp.objects.filter(bargain=b).order_by("position"))
    assert [h.position for h in helps] == list(range(len(helps))) == list(range(b.helps_done))
    assert [h.cut_fen for h in helps] == b.cuts[: len(helps)]
    assert sum(h.cut_fen for h in helps) == b.start_price_fen - b.current_price_fen
    assert b.current_price_fen >= b.floor_price_fen
    assert len({h.helper_id for h in helps}) == len(helps)
    price = b.start_price_fen
    for h in helps:  # each help's recorded price follows from the ones before it
        price -= h.cut_fen
        assert h.price_after_fen == price
    return helps


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_50_friends_at_once_cut_exactly_to_the_floor():
    b = started(helps_needed=50, start_price_fen=100_000, floor_price_fen=10_000)
    helpers = [UserFactory() for _ in range(50)]
    results = _flood(b.pk, helpers)
    assert sorted(results) == list(range(50))
    helps = _assert_books(b)
    assert len(helps) == 50
    assert (b.status, b.current_price_fen, b.helps_done) == (B.FLOOR_REACHED, 10_000, 50)
    assert BargainEvent.objects.filter(bargain=b, to_status=B.FLOOR_REACHED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_50_friends_at_once_on_a_bargain_needing_more_never_lose_a_cut():
    b = started(helps_needed=80, start_price_fen=100_000, floor_price_fen=10_000)
    results = _flood(b.pk, [UserFactory() for _ in range(50)])
    assert sorted(results) == list(range(50))
    assert len(_assert_books(b)) == 50
    assert b.status == B.ACTIVE and b.current_price_fen > b.floor_price_fen


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_60_friends_on_a_bargain_needing_50_exactly_50_succeed():
    b = started(helps_needed=50, start_price_fen=100_000, floor_price_fen=10_000)
    helpers = [UserFactory() for _ in range(60)]
    results = _flood(b.pk, helpers)
    assert sorted(r for r in results if isinstance(r, int)) == list(range(50))
    assert [r for r in results if not isinstance(r, int)] == ["bargain_floor_reached"] * 10
    assert len(_assert_books(b)) == 50
    assert (b.status, b.current_price_fen) == (B.FLOOR_REACHED, 10_000)
    assert BargainEvent.objects.filter(bargain=b, to_status=B.FLOOR_REACHED).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_friend_helping_8_times_at_once_helps_once():
    b = started()
    helper = UserFactory()
    results = run_at_once(lambda i: svc.bargain_help(bargain_id=b.pk, helper=helper).position, LANES)
    assert sorted(results, key=str) == [0] + ["already_helped"] * (LANES - 1)
    assert len(_assert_books(b)) == 1
    # the refused attempts rolled their claims back: the next friend takes position 1
    assert svc.bargain_help(bargain_id=b.pk, helper=UserFactory()).position == 1
    assert len(_assert_books(b)) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_day_limit_holds_when_one_friend_helps_many_bargains_at_once():
    settings_set(helps_per_user_per_day=3)
    offer = offer_make()
    bargains = [svc.bargain_start(user=UserFactory(), offer_id=offer.pk) for _ in range(LANES)]
    helper = UserFactory()
    results = run_at_once(lambda i: svc.bargain_help(bargain_id=bargains[i].pk, helper=helper).position, LANES)
    assert sorted(results, key=str) == [0, 0, 0] + ["help_limit_reached"] * (LANES - 3)
    assert BargainHelp.objects.filter(helper=helper).count() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_last_unit_of_stock_goes_to_one_starter():
    offer = offer_make(stock=3)
    results = run_at_once(lambda i: svc.bargain_start(user=UserFactory(), offer_id=offer.pk).pk, LANES)
    assert sorted(r for r in results if r == "bargain_sold_out") == ["bargain_sold_out"] * (LANES - 3)
    assert Bargain.objects.filter(offer=offer).count() == 3
    assert BargainOffer.objects.get(pk=offer.pk).stock_left == 0

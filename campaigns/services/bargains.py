"""Bargains (砍价): the operator's offer, starting a bargain, friends' helps, expiry.

* `bargain_offer_create`: strictly typed and bounded (bool is not an int), relations checked
  (the SKU belongs to the product, start > floor, start − floor ≥ helps_needed, a real window);
  the database's CHECK constraints repeat the rules.
* `bargain_start`: the offer must be active and in its window; one unit of the offer's stock is
  taken with ONE conditional UPDATE (`stock_left = stock_left − 1 WHERE stock_left ≥ 1 AND
  active AND in window`), the owner's user row is locked first so their per-user limit is
  counted without a race; the cut plan (campaigns/bargain_cuts.py) is drawn and stored; the
  deadline is now + the offer's hours.
* `bargain_help`: the race-critical one. The helper's user row is locked (their per-day count
  is exact even when they help many bargains at once), then the position is claimed with ONE
  conditional UPDATE of the bargain that also reads that position's cut:
  on PostgreSQL `helps_done = helps_done + 1, current_price_fen = current_price_fen −
  (cuts->>helps_done)::bigint WHERE active AND helps_done < helps_needed AND deadline > now
  RETURNING ...`. PostgreSQL evaluates SET from the row version it locked (a waiting writer
  re-reads the committed row and re-checks the WHERE), so 50 friends at once each take a
  different position with its own cut: no overshoot, no lost cut, no position twice, and no
  lock held while Python runs (the row lock lasts from the UPDATE to the commit of the help
  row). Elsewhere (SQLite) the row is read under select_for_update and the UPDATE is a
  compare-and-set on `helps_done = <the value read>`; SQLite serialises writers, and should
  the read be stale the CAS updates nothing and the help reads again. The help row (unique on
  (bargain, helper) and on (bargain, position)) is written in the same transaction: a second
  help by the same friend fails on the constraint and rolls its claim back (AlreadyHelped).
  The help that takes the last planned position moves the bargain to floor_reached, in its
  transaction (core.transitions).
* `bargains_expire` (beat job campaigns.expire_bargains): active or floor_reached bargains past
  their deadline become expired and give their unit of stock back, once (`stock_held`).

Lock order: user row → bargain row → offer row. Nothing here calls out over HTTP; no money moves.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import InvalidInput, NotFound
from core.transitions import transition, transition_sources
from distributors.codes import code_generate
from mall.models import Product, Sku

from ..bargain_cuts import MAX_HELPS, MAX_TOTAL_FEN, cuts_plan
from ..errors import (
    AccountTooNew,
    AlreadyHelped,
    BargainClosed,
    BargainExpired,
    BargainFloorReached,
    BargainLimitReached,
    BargainOfferClosed,
    BargainSoldOut,
    HelpLimitReached,
    OwnBargain,
    WechatUserRequired,
)
from ..models_bargain import (
    BARGAIN_TRANSITIONS,
    Bargain,
    BargainEvent,
    BargainHelp,
    BargainOffer,
    BargainSettings,
    BargainStatus,
)

logger = logging.getLogger(__name__)

B = BargainStatus
SHARE_CODE_LENGTH = 10
CODE_ATTEMPTS = 5
CAS_ATTEMPTS = 20
MAX_HOURS = 7 * 24
MAX_STOCK = 1_000_000
MAX_PER_USER = 100
MAX_ID = 2**62
EXPIRE_BATCH = 500


def bargain_settings_get() -> BargainSettings:
    """The settings row (unsaved defaults until an operator first saves; reading writes nothing)."""
    return BargainSettings.objects.filter(pk=1).first() or BargainSettings(pk=1)


def _event(bargain_id: int, *, kind: str, actor=None, prev: str = "", to: str = "", data: dict | None = None):
    BargainEvent.objects.create(bargain_id=bargain_id, kind=kind, from_status=prev, to_status=to,
                                actor=actor, data=data or {})


def _recorder(*, kind: str, actor=None, data: dict | None = None):
    def record(obj: Bargain, prev: str, to: str) -> None:
        _event(obj.pk, kind=kind, actor=actor, prev=prev, to=to, data=data)
    return record


def _move(bargain: Bargain, to: str, *, kind: str, fields: dict | None = None, actor=None,
          data: dict | None = None) -> bool:
    """Move a bargain whose row this transaction holds (strict=False: False if the table refuses)."""
    return transition(bargain, to, table=BARGAIN_TRANSITIONS, locked=True, strict=False, what="bargain",
                      fields=fields, record=_recorder(kind=kind, actor=actor, data=data))


# --- offers --------------------------------------------------------------------------------


def _int_field(errors: dict, name: str, value, *, low: int, high: int) -> int | None:
    if type(value) is not int or not low <= value <= high:
        errors[name] = [f"A whole number from {low} to {high}."]
        return None
    return value


def _when_field(errors: dict, name: str, value) -> datetime | None:
    if not isinstance(value, datetime) or timezone.is_naive(value):
        errors[name] = ["A date and time with its time zone."]
        return None
    return value


def bargain_offer_create(
    *, actor, product_id, sku_id, start_price_fen, floor_price_fen, helps_needed, hours, stock,
    ends_at, starts_at=None, per_user_limit=1, active=True,
) -> BargainOffer:
    """A new bargain offer (an operator's; the API layer checks the permission). Every bad
    field is named in InvalidInput(extra={"fields": ...}) and nothing is written."""
    errors: dict[str, list[str]] = {}
    product_id = _int_field(errors, "product_id", product_id, low=1, high=MAX_ID)
    sku_id = _int_field(errors, "sku_id", sku_id, low=1, high=MAX_ID)
    start = _int_field(errors, "start_price_fen", start_price_fen, low=2, high=MAX_TOTAL_FEN)
    floor = _int_field(errors, "floor_price_fen", floor_price_fen, low=1, high=MAX_TOTAL_FEN)
    helps = _int_field(errors, "helps_needed", helps_needed, low=1, high=MAX_HELPS)
    hours = _int_field(errors, "hours", hours, low=1, high=MAX_HOURS)
    stock = _int_field(errors, "stock", stock, low=1, high=MAX_STOCK)
    per_user_limit = _int_field(errors, "per_user_limit", per_user_limit, low=1, high=MAX_PER_USER)
    now = timezone.now()
    starts_at = now if starts_at is None else _when_field(errors, "starts_at", starts_at)
    ends_at = _when_field(errors, "ends_at", ends_at)
    if type(active) is not bool:
        errors["active"] = ["true or false."]
    if start is not None and floor is not None:
        if start <= floor:
            errors["start_price_fen"] = ["Must be above the floor price."]
        elif helps is not None and start - floor < helps:
            errors["helps_needed"] = ["Every help cuts at least 1 fen: at most start price − floor price helps."]
    if starts_at is not None and ends_at is not None:
        if ends_at <= starts_at:
            errors["ends_at"] = ["Must be after the start."]
        elif ends_at <= now:
            errors["ends_at"] = ["Must be in the future."]
    if product_id is not None and sku_id is not None and "sku_id" not in errors:
        if not Product.objects.filter(pk=product_id).exists():
            errors["product_id"] = ["No such product."]
        elif not Sku.objects.filter(pk=sku_id, product_id=product_id).exists():
            errors["sku_id"] = ["No such SKU of this product."]
    if errors:
        raise InvalidInput(extra={"fields": errors})
    offer = BargainOffer.objects.create(
        product_id=product_id, sku_id=sku_id, start_price_fen=start, floor_price_fen=floor, helps_needed=helps,
        hours=hours, stock=stock, stock_left=stock, per_user_limit=per_user_limit, starts_at=starts_at,
        ends_at=ends_at, active=active, created_by=actor if getattr(actor, "pk", None) else None,
    )
    logger.info("bargain_offer.created id=%s sku=%s start=%s floor=%s helps=%s", offer.pk, sku_id, start, floor,
                helps)
    return offer


# --- starting ------------------------------------------------------------------------------


def _lock_user(user_id: int) -> None:
    get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True).first()


def _offer_open(offer: BargainOffer, now) -> bool:
    return offer.active and offer.starts_at <= now < offer.ends_at


def bargain_start(*, user, offer_id) -> Bargain:
    """Start a bargain on an offer for `user` (authenticated by the caller)."""
    if type(offer_id) is not int:
        raise NotFound("Bargain offer not found.")
    with transaction.atomic():
        _lock_user(user.pk)  # the per-user count below cannot race with the same user's other start
        offer = BargainOffer.objects.filter(pk=offer_id).first()
        if offer is None:
            raise NotFound("Bargain offer not found.")
        now = timezone.now()
        if not _offer_open(offer, now):
            raise BargainOfferClosed(extra={"offer_id": offer.pk})
        started = Bargain.objects.filter(offer_id=offer.pk, owner_id=user.pk).count()
        if started >= offer.per_user_limit:
            raise BargainLimitReached(extra={"per_user_limit": offer.per_user_limit})
        taken = BargainOffer.objects.filter(pk=offer.pk, active=True, stock_left__gte=1, starts_at__lte=now,
                                            ends_at__gt=now).update(stock_left=F("stock_left") - 1,
                                                                    updated_at=now)
        if not taken:
            offer.refresh_from_db()
            if not _offer_open(offer, now):
                raise BargainOfferClosed(extra={"offer_id": offer.pk})
            raise BargainSoldOut(extra={"offer_id": offer.pk})
        total = offer.start_price_fen - offer.floor_price_fen
        cuts = cuts_plan(total_fen=total, helps=offer.helps_needed)
        bargain = None
        for _ in range(CODE_ATTEMPTS):
            try:
                with transaction.atomic():
                    bargain = Bargain.objects.create(
                        offer=offer, owner=user, start_price_fen=offer.start_price_fen,
                        floor_price_fen=offer.floor_price_fen, helps_needed=offer.helps_needed,
                        current_price_fen=offer.start_price_fen, cuts=cuts, deadline=now + timedelta(hours=offer.hours),
                        share_code=code_generate(SHARE_CODE_LENGTH),
                    )
                break
            except IntegrityError:  # a share code collision: draw again
                continue
        if bargain is None:  # pragma: no cover - 5 collisions in 31^10 codes
            raise RuntimeError("could not draw a unique bargain code")
        _event(bargain.pk, kind="started", actor=user, to=B.ACTIVE,
               data={"offer_id": offer.pk, "deadline": bargain.deadline.isoformat()})
    logger.info("bargain.started id=%s offer=%s user=%s", bargain.pk, offer.pk, user.pk)
    return bargain


# --- helping -------------------------------------------------------------------------------

_HELP_SQL = """
UPDATE {table} SET {done} = {done} + 1, {price} = {price} - ({cuts} ->> {done})::bigint, {updated} = %(now)s
WHERE {pk} = %(id)s AND {status} = %(active)s AND {done} < {needed} AND {deadline} > %(now)s
RETURNING {done}, {price}, ({cuts} ->> ({done} - 1))::bigint
"""
_help_sql_text: str | None = None


def _help_sql() -> str:
    global _help_sql_text
    if _help_sql_text is None:
        def col(name):
            return connection.ops.quote_name(Bargain._meta.get_field(name).column)
        _help_sql_text = _HELP_SQL.format(
            table=connection.ops.quote_name(Bargain._meta.db_table), done=col("helps_done"),
            price=col("current_price_fen"), cuts=col("cuts"), updated=col("updated_at"), pk=col("id"),
            status=col("status"), needed=col("helps_needed"), deadline=col("deadline"))
    return _help_sql_text


def _claim(bargain_id: int, now) -> tuple[int, int, int] | None:
    """Take the next position of the bargain: (position, price after, cut), or None when it
    cannot be helped now (not active, every planned help given, past its deadline)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_help_sql(), {"now": now, "id": bargain_id, "active": B.ACTIVE})
            row = cursor.fetchone()
        if row is None:
            return None
        done, price, cut = row
        return done - 1, price, cut
    for _ in range(CAS_ATTEMPTS):
        seen = (Bargain.objects.select_for_update().filter(pk=bargain_id)
                .values("status", "helps_done", "helps_needed", "current_price_fen", "cuts", "deadline").first())
        if (seen is None or seen["status"] != B.ACTIVE or seen["helps_done"] >= seen["helps_needed"]
                or seen["deadline"] <= now):
            return None
        position = seen["helps_done"]
        cut = int(seen["cuts"][position])
        moved = Bargain.objects.filter(pk=bargain_id, status=B.ACTIVE, helps_done=position, deadline__gt=now).update(
            helps_done=position + 1, current_price_fen=F("current_price_fen") - cut, updated_at=now)
        if moved:
            return position, seen["current_price_fen"] - cut, cut
    raise RuntimeError(f"bargain {bargain_id}: the help could not claim a position")  # pragma: no cover


def _refusal(bargain_id: int, *, helper_id: int, now) -> Exception:
    """Why this helper cannot help this bargain now (read after a claim found nothing)."""
    b = Bargain.objects.filter(pk=bargain_id).values("status", "deadline", "helps_done", "helps_needed").first()
    if b is None:
        return NotFound("Bargain not found.")
    if BargainHelp.objects.filter(bargain_id=bargain_id, helper_id=helper_id).exists():
        return AlreadyHelped()
    if b["status"] == B.FLOOR_REACHED or (b["status"] == B.ACTIVE and b["helps_done"] >= b["helps_needed"]):
        return BargainFloorReached()
    if b["status"] == B.EXPIRED or (b["status"] == B.ACTIVE and b["deadline"] <= now):
        return BargainExpired()
    return BargainClosed(extra={"status": b["status"]})


def _helper_check(helper, *, config: BargainSettings, now) -> None:
    if not getattr(helper, "is_authenticated", False) or not helper.is_active or not (helper.openid or "").strip():
        raise WechatUserRequired()
    if config.new_account_minutes and helper.date_joined > now - timedelta(minutes=config.new_account_minutes):
        raise AccountTooNew(extra={"new_account_minutes": config.new_account_minutes})


def _day_start(now):
    """Midnight of the shop's day (settings.TIME_ZONE) that `now` falls in."""
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def bargain_help(*, bargain_id, helper) -> BargainHelp:
    """One friend's cut of a bargain (see the module docstring); the help row, committed."""
    if type(bargain_id) is not int:
        raise NotFound("Bargain not found.")
    now = timezone.now()
    config = bargain_settings_get()
    _helper_check(helper, config=config, now=now)
    owner_id = Bargain.objects.filter(pk=bargain_id).values_list("owner_id", flat=True).first()
    if owner_id is None:
        raise NotFound("Bargain not found.")
    if owner_id == helper.pk:
        raise OwnBargain()
    if BargainHelp.objects.filter(bargain_id=bargain_id, helper_id=helper.pk).exists():
        raise AlreadyHelped()
    try:
        with transaction.atomic():
            _lock_user(helper.pk)  # one helper's helps at once queue here: the day's count is exact
            given = BargainHelp.objects.filter(helper_id=helper.pk, created_at__gte=_day_start(now)).count()
            if given >= config.helps_per_user_per_day:
                raise HelpLimitReached(extra={"helps_per_user_per_day": config.helps_per_user_per_day})
            claimed = _claim(bargain_id, now)
            if claimed is None:
                raise _refusal(bargain_id, helper_id=helper.pk, now=now)
            position, price_after, cut = claimed
            help_row = BargainHelp.objects.create(bargain_id=bargain_id, helper=helper, position=position,
                                                  cut_fen=cut, price_after_fen=price_after)
            bargain = Bargain.objects.only("pk", "status", "helps_done", "helps_needed").get(pk=bargain_id)
            if bargain.helps_done >= bargain.helps_needed:
                _move(bargain, B.FLOOR_REACHED, kind="floor_reached", actor=helper,
                      fields={"floor_reached_at": now}, data={"helps": bargain.helps_done})
    except IntegrityError:
        # The same friend helping from two requests at once: the second fails on the
        # (bargain, helper) constraint and its claim is rolled back with it.
        if BargainHelp.objects.filter(bargain_id=bargain_id, helper_id=helper.pk).exists():
            raise AlreadyHelped() from None
        raise
    logger.info("bargain.helped id=%s position=%s cut=%s helper=%s", bargain_id, position, cut, helper.pk)
    return help_row


# --- expiry --------------------------------------------------------------------------------


def bargain_expire(*, bargain_id: int, now=None) -> bool:
    """Expire one bargain past its deadline (not ordered): its unit of stock goes back, once."""
    now = now or timezone.now()
    with transaction.atomic():
        bargain = Bargain.objects.select_for_update().filter(pk=bargain_id).first()
        if bargain is None or bargain.deadline > now:
            return False
        held = bargain.stock_held
        if not _move(bargain, B.EXPIRED, kind="expired", fields={"closed_at": now, "stock_held": False},
                     data={"price_fen": bargain.current_price_fen, "helps": bargain.helps_done}):
            return False
        if held:
            BargainOffer.objects.filter(pk=bargain.offer_id).update(stock_left=F("stock_left") + 1, updated_at=now)
    return True


def bargains_expire(*, now=None) -> dict:
    """Beat job campaigns.expire_bargains: every active or floor_reached bargain past its
    deadline becomes expired (stock back to its offer)."""
    now = now or timezone.now()
    sources = sorted(transition_sources(BARGAIN_TRANSITIONS, B.EXPIRED))
    expired = 0
    last_id = 0
    while True:
        ids = list(Bargain.objects.filter(status__in=sources, deadline__lte=now, pk__gt=last_id)
                   .order_by("pk").values_list("pk", flat=True)[:EXPIRE_BATCH])
        if not ids:
            break
        for bargain_id in ids:
            expired += bargain_expire(bargain_id=bargain_id, now=now)
        last_id = ids[-1]
    if expired:
        logger.info("bargains.expired count=%s", expired)
    return {"expired": expired}


"""Crowdfunds (好友众筹): starting one, chipping in, paying the rest, cancelling, expiring.

* Starting takes the item's stock at once (mall's `sku_stock_hold`, the same conditional
  UPDATE an order uses) and fixes the goal (the price at that moment × quantity), the
  address and who gets credit for the final order (the mall's attributor: share code,
  binding or attribution cookie). When a distributor is credited — the initiator when they
  are an approved distributor, otherwise the one the attribution names — the crowdfund's
  share code is that distributor's share link (target `crowdfund`), so every friend who opens
  it is that distributor's click and visitor under the operator's binding rules.
* A contribution *reserves* its amount with one conditional UPDATE of the crowdfund
  (`raised + reserved + amount ≤ goal`, open, before the deadline): concurrent friends can
  never together take more than the goal (a CHECK constraint is the last line). Then its
  WeChat JSAPI order is created (purpose campaigns.crowdfund); money counts only when
  WeChat's payment notification (or a query) arrives: crowdfund_payments.py.
* An unpaid reservation expires after the pay window; its WeChat order is closed and the
  amount freed (`contributions_expire_due`, beat job `campaigns.expire_reservations`).
* Ending without an order (deadline: `crowdfunds_expire_due`; the initiator's cancel)
  releases the stock and refunds every paid contribution (crowdfund_refunds.py).

Lock order everywhere: WeChat's row (payment / refund, taken by the wechat app) → the
crowdfund → its contributions → its refunds → every ledger account in one statement.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.services import ip_or_none
from core.errors import DomainError, InvalidInput, NotFound
from distributors.codes import code_generate
from distributors.models import Distributor, DistributorStatus
from distributors.services.links import share_link_get_or_create
from mall.hooks import attribute
from mall.services.orders import MAX_ORDER_TOTAL_FEN
from mall.services.stock import sku_stock_hold, sku_stock_release
from wechat import content as wechat_content
from wechat import services as wechat_services

from .. import notifications
from ..errors import (
    AmountTooLarge,
    AmountTooSmall,
    CrowdfundClosed,
    CrowdfundFull,
    CrowdfundingOff,
    NotInitiator,
)
from ..models import (
    CROWDFUND_PURPOSE,
    MAX_MESSAGE_CHARS,
    Contribution,
    ContributionStatus,
    Crowdfund,
    CrowdfundStatus,
    RefundReason,
)
from ..tasks import contribution_close_payment_task
from .crowdfund_refunds import refund_open
from .crowdfund_state import (
    contribution_lock,
    contribution_move,
    contribution_no_generate,
    crowdfund_event,
    crowdfund_lock,
    crowdfund_move,
)
from .settings import crowdfund_product_rule_get, crowdfund_settings_get

logger = logging.getLogger(__name__)

S = CrowdfundStatus
K = ContributionStatus
BATCH = 200
SHARE_CODE_LENGTH = 10
CODE_ATTEMPTS = 5


def _message_clean(message, *, user, field: str = "message") -> str:
    """A short message that passed WeChat's content check (HTTP: call outside a transaction)."""
    if message is None:
        return ""
    if not isinstance(message, str):
        raise InvalidInput(extra={"fields": {field: ["A string."]}})
    message = message.strip()
    if len(message) > MAX_MESSAGE_CHARS:
        raise InvalidInput(f"A message has at most {MAX_MESSAGE_CHARS} characters.",
                           extra={"fields": {field: [f"At most {MAX_MESSAGE_CHARS} characters."]}})
    if message:
        # v1 (no openid): msgSecCheck v2 wants the writer's *mini-program* openid, and our
        # shoppers' openids are the official account's (H5 OAuth); with one of those v2 answers
        # 40003 and every message would be refused.
        wechat_content.text_check(content=message)
    return message


def _positive_int(value, *, field: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(extra={"fields": {field: [f"A whole number from {low} to {high}."]}})
    return value


def _credited_distributor(*, user, attribution: dict) -> Distributor | None:
    """Whose clicks the friends opening this crowdfund are: the initiator when an approved
    distributor, else the distributor the attribution credits (approved), else nobody."""
    own = Distributor.objects.select_related("user").filter(user=user, status=DistributorStatus.APPROVED).first()
    if own is not None:
        return own
    distributor_id = (attribution or {}).get("distributor_id")
    if not distributor_id:
        return None
    return Distributor.objects.select_related("user").filter(pk=distributor_id,
                                                              status=DistributorStatus.APPROVED).first()


def crowdfund_create(
    *,
    user,
    sku_id,
    quantity,
    address: dict,
    message=None,
    duration_hours=None,
    share_code: str = "",
    attribution_hint: str = "",
    client_ip: str | None = None,
) -> Crowdfund:
    """Start a crowdfund for one SKU × quantity; the stock is held from now on."""
    config = crowdfund_settings_get()
    _positive_int(sku_id, field="sku_id", low=1, high=2**62)
    _positive_int(quantity, field="quantity", low=1, high=settings.MALL_MAX_QUANTITY_PER_ITEM)
    if duration_hours is None:
        duration_hours = config.default_duration_hours
    _positive_int(duration_hours, field="duration_hours", low=1, high=config.max_duration_hours)
    message = _message_clean(message, user=user)
    with transaction.atomic():
        sku = sku_stock_hold(sku_id=sku_id, quantity=quantity)  # SkuUnavailable / OutOfStock
        rule = crowdfund_product_rule_get(product_id=sku.product_id)
        if not config.enabled or not rule.enabled:
            raise CrowdfundingOff(extra={"product_id": sku.product_id})
        goal = sku.price_fen * quantity
        minimum = max(config.min_goal_fen, rule.min_goal_fen)
        if goal < minimum:
            raise AmountTooSmall("This item is below the smallest price that can be crowdfunded.",
                                 extra={"goal_fen": goal, "min_goal_fen": minimum})
        if goal > MAX_ORDER_TOTAL_FEN:
            raise AmountTooLarge("The total is too large.", extra={"goal_fen": goal})
        attribution = attribute(user=user, share_code=share_code or "", hint=attribution_hint or "")
        now = timezone.now()
        cf = None
        for _ in range(CODE_ATTEMPTS):
            try:
                with transaction.atomic():
                    cf = Crowdfund.objects.create(
                        initiator=user, product_id=sku.product_id, sku=sku, quantity=quantity,
                        price_fen=sku.price_fen, goal_fen=goal, title=sku.product.title, sku_name=sku.name,
                        image=(sku.product.images or [""])[0] if isinstance(sku.product.images, list) else "",
                        address=address, message=message, share_code=code_generate(SHARE_CODE_LENGTH),
                        attribution=attribution, client_ip=ip_or_none(client_ip),
                        deadline=now + timedelta(hours=duration_hours),
                    )
                break
            except IntegrityError:  # a share code collision: draw again
                continue
        if cf is None:  # pragma: no cover - 5 collisions in 32^10 codes
            raise RuntimeError("could not draw a unique crowdfund code")
        distributor = _credited_distributor(user=user, attribution=attribution)
        if distributor is not None:
            link, _ = share_link_get_or_create(user=distributor.user, target_type="crowdfund", target_id=cf.pk)
            Crowdfund.objects.filter(pk=cf.pk).update(share_link=link, share_code=link.code)
            cf.share_link, cf.share_code = link, link.code
        crowdfund_event(cf.pk, kind="created", actor=user,
                        data={"goal_fen": goal, "sku_id": sku.pk, "quantity": quantity,
                              "deadline": cf.deadline.isoformat(),
                              "distributor_id": distributor.pk if distributor else None})
    logger.info("crowdfund.created id=%s goal=%s user=%s", cf.pk, goal, user.pk)
    return cf


# --- contributions -----------------------------------------------------------------------


def _reserve(*, crowdfund_id: int, amount_fen: int) -> None:
    """Take `amount_fen` of the room left with ONE conditional UPDATE, or say why not."""
    now = timezone.now()
    taken = Crowdfund.objects.filter(
        pk=crowdfund_id, status=S.OPEN, deadline__gt=now,
        goal_fen__gte=F("raised_fen") + F("reserved_fen") + amount_fen,
    ).update(reserved_fen=F("reserved_fen") + amount_fen, updated_at=now)
    if taken:
        return
    cf = Crowdfund.objects.filter(pk=crowdfund_id).first()
    if cf.status != S.OPEN or cf.deadline <= now:
        raise CrowdfundClosed(extra={"status": cf.status})
    if cf.missing_fen <= 0:
        raise CrowdfundFull(extra={"goal_fen": cf.goal_fen, "raised_fen": cf.raised_fen,
                                   "reserved_fen": cf.reserved_fen})
    raise AmountTooLarge(extra={"missing_fen": cf.missing_fen})


def contribution_create(
    *,
    user,
    crowdfund_id: int,
    amount_fen,
    message=None,
    anonymous=False,
    client_ip: str,
    is_rest: bool = False,
) -> tuple[Contribution, dict]:
    """Reserve `amount_fen` on the crowdfund and open its WeChat JSAPI payment; (contribution,
    {"prepay_id", "jsapi"}). The amount is at least the operator's minimum (or exactly what is
    missing when less is missing) and at most what is missing."""
    if not getattr(user, "openid", ""):
        raise InvalidInput("Chipping in needs a WeChat login.", code="no_openid")
    if type(amount_fen) is not int:
        raise InvalidInput(extra={"fields": {"amount_fen": ["A whole number of fen."]}})
    if type(anonymous) is not bool:
        raise InvalidInput(extra={"fields": {"anonymous": ["true or false."]}})
    if amount_fen <= 0:
        raise AmountTooSmall("The amount must be at least 1 fen.", extra={"amount_fen": amount_fen})
    cf = Crowdfund.objects.filter(pk=crowdfund_id).first() if type(crowdfund_id) is int else None
    if cf is None:
        raise NotFound("Crowdfund not found.")
    if cf.status != S.OPEN or cf.deadline <= timezone.now():
        raise CrowdfundClosed(extra={"status": cf.status})
    # What is missing for this friend: their own unpaid reservation is given back first.
    own_pending = _own_pending_fen(cf=cf, user=user)
    missing = max(cf.missing_fen + own_pending, 0)
    if missing == 0:
        raise CrowdfundFull(extra={"goal_fen": cf.goal_fen, "raised_fen": cf.raised_fen,
                                   "reserved_fen": cf.reserved_fen})
    if amount_fen > missing:
        raise AmountTooLarge(extra={"missing_fen": missing})
    config = crowdfund_settings_get()
    if amount_fen < config.min_contribution_fen and amount_fen != missing:
        raise AmountTooSmall(extra={"min_fen": config.min_contribution_fen, "missing_fen": missing})
    message = _message_clean(message, user=user)  # WeChat's content check: before anything is reserved
    _release_previous(user=user, crowdfund_id=cf.pk)
    now = timezone.now()
    with transaction.atomic():
        _reserve(crowdfund_id=cf.pk, amount_fen=amount_fen)
        contribution = Contribution.objects.create(
            no=contribution_no_generate(), crowdfund=cf, user=user, amount_fen=amount_fen, message=message,
            anonymous=anonymous, is_rest=is_rest,
            reserved_until=now + timedelta(minutes=config.pay_window_minutes),
        )
        crowdfund_event(cf.pk, kind="reserved", actor=user, contribution_id=contribution.pk,
                        data={"no": contribution.no, "amount_fen": amount_fen, "is_rest": is_rest})
    try:
        _, params = wechat_services.payment_create(
            out_trade_no=contribution.no, purpose=CROWDFUND_PURPOSE, ref=contribution.no, amount_fen=amount_fen,
            openid=user.openid, description=f"众筹 {cf.title}", client_ip=client_ip,
        )
    except DomainError as exc:
        # No pay parameters reached the friend: free the room now (a payment that still
        # arrives is counted if room is left, refunded otherwise), and close the WeChat order.
        logger.warning("crowdfund %s: contribution %s: WeChat order failed: %s", cf.pk, contribution.no, exc.code)
        contribution_release(no=contribution.no, kind="payment_not_created")
        raise
    return contribution, params


def _own_pending_fen(*, cf: Crowdfund, user) -> int:
    """What the user holds reserved and unpaid on the crowdfund (given back when they chip in again)."""
    return Contribution.objects.filter(crowdfund=cf, user=user, status=K.PENDING_PAYMENT).aggregate(
        fen=Sum("amount_fen"))["fen"] or 0


def _release_previous(*, user, crowdfund_id: int) -> None:
    """One open reservation per friend and crowdfund: a friend who chips in again (closed the
    pay sheet, changed the amount) first gives back their unpaid one, its WeChat order closed
    first — so one account cannot hold the room of many. If WeChat says it was paid meanwhile,
    that payment is recorded (and counted) instead."""
    for no in Contribution.objects.filter(crowdfund_id=crowdfund_id, user=user,
                                          status=K.PENDING_PAYMENT).values_list("no", flat=True):
        try:
            payment = wechat_services.payment_close(out_trade_no=no)
            if payment.status == "paid":
                continue
        except NotFound:
            pass  # its WeChat order was never created
        except DomainError as exc:
            if exc.extra.get("err_code") == "ORDERPAID":
                continue
            raise  # WeChat unreachable: the old reservation stays, the friend tries again later
        contribution_release(no=no, kind="replaced")


def contribution_release(*, no: str, kind: str = "reservation_expired", now=None) -> bool:
    """pending_payment → expired: the reservation's amount is free again. Its WeChat order
    is closed after the commit. False when it is no longer pending (paid meanwhile)."""
    cf_id = Contribution.objects.filter(no=no).values_list("crowdfund_id", flat=True).first()
    if cf_id is None:
        return False
    with transaction.atomic():
        crowdfund_lock(crowdfund_id=cf_id)
        c = contribution_lock(no=no)
        if c.status != K.PENDING_PAYMENT or (now is not None and c.reserved_until > now):
            return False
        _release_locked(c, kind=kind)
    return True


def _release_locked(c: Contribution, *, kind: str) -> None:
    """The crowdfund and `c` are locked in this transaction."""
    contribution_move(c, K.EXPIRED, kind=kind)
    Crowdfund.objects.filter(pk=c.crowdfund_id).update(reserved_fen=F("reserved_fen") - c.amount_fen,
                                                      updated_at=timezone.now())
    no = c.no
    transaction.on_commit(lambda: contribution_close_payment_task.delay(no))


def contributions_expire_due() -> dict:
    """Beat job: reservations past their pay window. Each one's WeChat order is closed first
    (if WeChat says it was paid, the payment is recorded and counted instead); then it expires
    and frees its amount — also when WeChat cannot be reached (a payment that still arrives
    is counted if room is left, refunded otherwise)."""
    now = timezone.now()
    due = list(Contribution.objects.filter(status=K.PENDING_PAYMENT, reserved_until__lte=now)
               .order_by("reserved_until").values_list("no", flat=True)[:BATCH])
    expired = paid = errors = 0
    for no in due:
        try:
            payment = wechat_services.payment_close(out_trade_no=no)
            if payment.status == "paid":
                paid += 1
                continue
        except DomainError as exc:
            errors += 1
            logger.warning("crowdfund reservation %s: close failed: %s", no, exc.code)
            if exc.extra.get("err_code") == "ORDERPAID":
                paid += 1
                continue
        expired += contribution_release(no=no, now=now)
    return {"due": len(due), "expired": expired, "paid": paid, "errors": errors}


# --- ending: pay the rest, cancel, expire ----------------------------------------------


def crowdfund_pay_rest(*, user, crowdfund_id: int, client_ip: str) -> tuple[Contribution, dict]:
    """The initiator pays exactly what is missing now (reserved like any contribution)."""
    cf = _initiators(user=user, crowdfund_id=crowdfund_id)
    if cf.status != S.OPEN or cf.deadline <= timezone.now():
        raise CrowdfundClosed(extra={"status": cf.status})
    # The initiator's own unpaid reservation is given back first (one per person), so it is room too.
    own_pending = _own_pending_fen(cf=cf, user=user)
    missing = cf.missing_fen + own_pending
    if missing <= 0:
        raise CrowdfundFull(extra={"reserved_fen": cf.reserved_fen})
    return contribution_create(user=user, crowdfund_id=cf.pk, amount_fen=missing, client_ip=client_ip,
                               is_rest=True)


def _initiators(*, user, crowdfund_id) -> Crowdfund:
    cf = Crowdfund.objects.filter(pk=crowdfund_id).first() if type(crowdfund_id) is int else None
    if cf is None:
        raise NotFound("Crowdfund not found.")
    if cf.initiator_id != getattr(user, "pk", None):
        raise NotInitiator()
    return cf


def crowdfund_cancel(*, user, crowdfund_id: int) -> Crowdfund:
    """The initiator calls it off while it is open: every paid contribution is refunded."""
    _initiators(user=user, crowdfund_id=crowdfund_id)
    with transaction.atomic():
        cf = crowdfund_lock(crowdfund_id=crowdfund_id)
        if cf.status != S.OPEN:
            raise CrowdfundClosed("Only an open crowdfund can be cancelled.", extra={"status": cf.status})
        _close(cf, to=S.CANCELLED, kind="cancelled", actor=user, reason=RefundReason.CANCELLED)
    return Crowdfund.objects.get(pk=crowdfund_id)


def crowdfund_expire(*, crowdfund_id: int, now=None) -> bool:
    """An open crowdfund past its deadline expires (the beat job calls this). False if it is
    not (any more) open or not yet due."""
    now = now or timezone.now()
    with transaction.atomic():
        cf = crowdfund_lock(crowdfund_id=crowdfund_id)
        if cf.status != S.OPEN or cf.deadline > now:
            return False
        _close(cf, to=S.EXPIRED, kind="expired", actor=None, reason=RefundReason.EXPIRED)
    return True


def crowdfunds_expire_due() -> dict:
    """Beat job: expire open crowdfunds past their deadline (each in its own transaction)."""
    now = timezone.now()
    due = list(Crowdfund.objects.filter(status=S.OPEN, deadline__lte=now).order_by("deadline")
               .values_list("pk", flat=True)[:BATCH])
    return {"due": len(due), "expired": sum(crowdfund_expire(crowdfund_id=pk, now=now) for pk in due)}


def _close(cf: Crowdfund, *, to: str, kind: str, actor, reason: str) -> None:
    """The crowdfund (locked) ends without an order: reservations released, stock given back,
    every paid contribution refunded; `refunded` at once when nothing was paid."""
    crowdfund_move(cf, to, kind=kind, actor=actor, fields={"closed_at": timezone.now(), "stock_held": False},
                   data={"raised_fen": cf.raised_fen, "reserved_fen": cf.reserved_fen})
    contributions = list(Contribution.objects.select_for_update().filter(
        crowdfund=cf, status__in=[K.PENDING_PAYMENT, K.PAID]).order_by("pk"))
    refunds = []
    for c in contributions:
        if c.status == K.PENDING_PAYMENT:
            _release_locked(c, kind="reservation_released")
        else:
            contribution_move(c, K.REFUNDING, kind=f"refund_{reason}")
            refunds.append(refund_open(contribution=c, amount_fen=c.amount_fen, reason=reason))
    sku_stock_release(sku_id=cf.sku_id, quantity=cf.quantity)
    if not refunds:
        crowdfund_move(cf, S.REFUNDED, kind="refunded", data={"refunds": 0})
    notifications.notify_crowdfund_result(crowdfund_id=cf.pk)
    logger.info("crowdfund.%s id=%s refunds=%s", to, cf.pk, len(refunds))

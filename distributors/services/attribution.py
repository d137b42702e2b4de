"""Who gets credit for an order: the attribution snapshot stored in mall's Order.attribution.

Precedence (first that applies):
1. an explicit share code sent with the order that names an existing link ("share_code");
2. the customer's active binding (锁粉) ("binding");
3. the signed attribution cookie `fx_attr` set by `/s/{code}` — signature and age checked,
   at most the binding days old ("cookie").
Nothing applies: {} (nobody gets credit).

The snapshot (docs: the distribution brief):

    {"source", "distributor_id", "link_id", "link_code", "binding_id",
     "level1_distributor_id", "level2_distributor_id", "self_referral"}

`distributor_id` is whoever brought the order, credited or not. Only approved distributors
earn: an unapproved/frozen/rejected distributor gives level1 = level2 = None. level2 is the
level-1 distributor's inviter at this moment, when approved and `levels` is 2. A buyer who
is the distributor (self-referral): with self-purchase commission on, level1 = the buyer and
level2 = their inviter; otherwise both None and `self_referral` is true.

The buyer never earns on their own order at any level unless self-purchase commission is on:
a buyer who is the level-1 distributor's inviter (A recruited B and buys through B's link or
while bound to B) leaves level2 None — B still earns level 1 — and `self_referral` stays
false (B brought the order, not the buyer).

An order through a link (share code or cookie) also binds the customer by the binding rules
(source "order"); a binding that the rules refuse changes nothing and does not fail the order.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime

from django.core import signing
from django.utils import timezone

from core.signing import CachedKeySigner

from ..codes import code_normalise
from ..models import Distributor, DistributorStatus, ShareLink
from ..selectors.bindings import binding_get_active
from .binding import binding_bind
from .settings import distribution_settings_get

logger = logging.getLogger(__name__)

ATTRIBUTION_COOKIE = "fx_attr"
ATTRIBUTION_SALT = "distributors.attribution"
DEFAULT_COOKIE_DAYS = 30
MAX_TOKEN_LEN = 128
_MAX_AGE_MEMO_SECONDS = 30.0

_signer = CachedKeySigner(salt=ATTRIBUTION_SALT)
_max_age_memo: tuple[float, int] = (0.0, 0)


def attribution_max_age_seconds() -> int:
    """How long an attribution cookie counts: the binding days (30 days if unset).

    Memoised per process for 30 s: `/s/{code}` needs it on every click and must not read
    the settings each time (an operator's change takes effect within half a minute)."""
    global _max_age_memo
    at, value = _max_age_memo
    now = time.monotonic()
    if value and now - at < _MAX_AGE_MEMO_SECONDS:
        return value
    days = distribution_settings_get().binding_days or DEFAULT_COOKIE_DAYS
    value = int(days) * 86400
    _max_age_memo = (now, value)
    return value


def attribution_token_make(*, link_id: int, now: datetime | None = None) -> str:
    """The signed `fx_attr` value: "<link id>.<unix time>:<signature>"."""
    at = int((now or timezone.now()).timestamp())
    return _signer.sign(f"{int(link_id)}.{at}")


def attribution_token_read(*, token: str | None, now: datetime | None = None,
                           max_age_seconds: int | None = None) -> int | None:
    """The link id in a valid, unexpired attribution token; None when missing, forged,
    malformed, from the future or too old."""
    if not token or not isinstance(token, str) or len(token) > MAX_TOKEN_LEN:
        return None
    try:
        value = _signer.unsign(token)
        link_part, at_part = value.split(".")
        link_id, at = int(link_part), int(at_part)
    except (signing.BadSignature, ValueError):
        return None
    age = int((now or timezone.now()).timestamp()) - at
    limit = attribution_max_age_seconds() if max_age_seconds is None else max_age_seconds
    if link_id <= 0 or age < -300 or age > limit:  # 5 minutes of clock skew between servers
        return None
    return link_id


def _approved(distributor: Distributor | None) -> bool:
    return distributor is not None and distributor.status == DistributorStatus.APPROVED


def attribution_snapshot(*, user, distributor: Distributor, source: str, link: ShareLink | None = None,
                         binding_id: int | None = None, settings=None) -> dict:
    """The snapshot for an order by `user` brought by `distributor` (see the module docstring)."""
    settings = settings or distribution_settings_get()
    self_referral = user is not None and distributor.user_id == user.pk
    level1 = level2 = None
    if _approved(distributor) and (not self_referral or settings.self_purchase_commission):
        level1 = distributor.pk
        if settings.levels >= 2 and distributor.inviter_id:
            inviter = Distributor.objects.only("pk", "status", "user_id").filter(pk=distributor.inviter_id).first()
            buyer_is_inviter = user is not None and inviter is not None and inviter.user_id == user.pk
            if _approved(inviter) and (not buyer_is_inviter or settings.self_purchase_commission):
                level2 = inviter.pk
    return {
        "source": source,
        "distributor_id": distributor.pk,
        "link_id": link.pk if link is not None else None,
        "link_code": link.code if link is not None else None,
        "binding_id": binding_id,
        "level1_distributor_id": level1,
        "level2_distributor_id": level2,
        "self_referral": bool(self_referral and not settings.self_purchase_commission),
    }


def _bind_by_order(*, user, link: ShareLink) -> None:
    if user is None or not getattr(user, "pk", None):
        return
    result = binding_bind(customer=user, link=link, source="order")
    logger.debug("order binding for user %s via link %s: %s", user.pk, link.pk, result.outcome)


def order_attribute(*, user, share_code: str = "", hint: str = "", now: datetime | None = None) -> dict:
    """The attribution snapshot for a new order (mall.hooks attributor, set in
    DistributorsConfig.ready()); {} when nobody."""
    now = now or timezone.now()
    settings = distribution_settings_get()
    code = code_normalise(share_code) if share_code else None
    if code:
        link = ShareLink.objects.select_related("distributor").filter(code=code).first()
        if link is not None:
            snapshot = attribution_snapshot(user=user, distributor=link.distributor, source="share_code", link=link,
                                            settings=settings)
            _bind_by_order(user=user, link=link)
            return snapshot
    if user is not None and getattr(user, "pk", None):
        binding = binding_get_active(customer=user, now=now)
        if binding is not None:
            return attribution_snapshot(user=user, distributor=binding.distributor, source="binding",
                                        link=binding.link, binding_id=binding.pk, settings=settings)
    link_id = attribution_token_read(token=hint, now=now,
                                     max_age_seconds=(settings.binding_days or DEFAULT_COOKIE_DAYS) * 86400)
    if link_id is not None:
        link = ShareLink.objects.select_related("distributor").filter(pk=link_id).first()
        if link is not None:
            snapshot = attribution_snapshot(user=user, distributor=link.distributor, source="cookie", link=link,
                                            settings=settings)
            _bind_by_order(user=user, link=link)
            return snapshot
    return {}


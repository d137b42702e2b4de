"""Share links: one per (distributor, target, channel), with an unguessable short code.

`share_link_get_or_create` is what `POST /api/v1/share-links/` calls. Only approved
distributors get links (`not_a_distributor`, `distributor_not_approved` otherwise). Asking
for the same target and channel again returns the same link, also when two requests race
(the unique constraint decides, the loser reads the winner's row).

`share_link_mp_qr` gets the official account's parametric QR code (带参数二维码) for a link,
lazily: a temporary ticket (30 days, WeChat's maximum) whose scene is
`MP_SCENE_PREFIX + code`, kept in the cache a day short of its expiry. A failure is logged
and answers None (remembered for a few minutes, so a WeChat outage does not slow every
request down); it never breaks the link itself.

`share_link_wxacode` gets the link's mini-program code (wxacode.getunlimited, scene = the
share code) from WeChat once and keeps it in the cache (key: the code, the mini-program's app
id and page, a render version); a failure is not cached.
"""
from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from core.errors import Conflict, DomainError, InvalidInput
from wechat.miniprogram import wxacode_unlimited
from wechat.mp import qr_ticket_create

from ..codes import SHARE_CODE_LENGTH, code_generate, code_normalise
from ..errors import DistributorNotApproved, NotADistributor
from ..images import CachedImage, image_cached, image_store, short_hash
from ..models import Distributor, DistributorStatus, ShareLink, TargetType
from ..selectors.links import share_link_get_by_code
from ..targets import TYPES_WITH_ID, target_resolve

logger = logging.getLogger(__name__)

CHANNEL_RE = re.compile(r"[A-Za-z0-9_-]{0,32}")
MAX_TARGET_ID = 2**62
CODE_ATTEMPTS = 8

# The official-account QR scene of a share link: the share code behind a prefix that the
# scene handler (wechat.hooks_mp.register_scene_handler) is registered for.
MP_SCENE_PREFIX = "dist:"
MP_QR_EXPIRE_SECONDS = 30 * 24 * 3600
MP_QR_CACHE_SECONDS = MP_QR_EXPIRE_SECONDS - 24 * 3600
MP_QR_FAILURE_SECONDS = 300
_MP_QR_FAILED = "failed"


def _field_error(field: str, message: str) -> InvalidInput:
    return InvalidInput("The input is not valid.", extra={"fields": {field: [message]}})


def share_link_clean_input(*, target_type, target_id, channel) -> tuple[str, int, str]:
    """Check a link request's fields; returns (target_type, target_id, channel) with target_id
    0 for the store and recruitment links. Raises InvalidInput (code `invalid`, per field)."""
    if not isinstance(target_type, str) or target_type not in TargetType.values:
        raise _field_error("target_type", f"Must be one of {', '.join(TargetType.values)}.")
    if target_id is not None and (isinstance(target_id, bool) or not isinstance(target_id, int)):
        raise _field_error("target_id", "Must be a JSON integer.")
    if target_type in TYPES_WITH_ID:
        if target_id is None:
            raise _field_error("target_id", f"Required for {target_type} links.")
        if not 1 <= target_id <= MAX_TARGET_ID:
            raise _field_error("target_id", "Must be a positive id.")
    else:
        if target_id not in (None, 0):
            raise _field_error("target_id", f"A {target_type} link takes no target_id (omit it or send 0).")
        target_id = 0
    if channel is None:
        channel = ""
    if not isinstance(channel, str) or not CHANNEL_RE.fullmatch(channel):
        raise _field_error("channel", "At most 32 characters of A-Z, a-z, 0-9, '_' and '-'.")
    return target_type, target_id, channel


def _approved_distributor(*, user) -> Distributor:
    distributor = Distributor.objects.select_related("user").filter(user=user).first() if user else None
    if distributor is None:
        raise NotADistributor()
    if distributor.status != DistributorStatus.APPROVED:
        raise DistributorNotApproved(extra={"status": distributor.status})
    return distributor


def share_link_get_or_create(
    *, user, target_type: str, target_id: int | None = None, channel: str | None = ""
) -> tuple[ShareLink, bool]:
    """The user's link for the target and channel, created when missing; (link, created)."""
    target_type, target_id, channel = share_link_clean_input(
        target_type=target_type, target_id=target_id, channel=channel
    )
    distributor = _approved_distributor(user=user)
    # The target must exist and be shareable now (404 for an off-shelf product, 400
    # target_unavailable for a type no app has registered yet), even when the link exists.
    target_resolve(target_type=target_type, target_id=target_id, distributor=distributor)

    lookup = {"distributor": distributor, "target_type": target_type, "target_id": target_id, "channel": channel}
    existing = ShareLink.objects.filter(**lookup).first()
    if existing is not None:
        return existing, False
    for _ in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                link = ShareLink.objects.create(code=code_generate(SHARE_CODE_LENGTH), **lookup)
            return link, True
        except IntegrityError:
            # Either another request made this very link a moment ago, or the code was taken.
            existing = ShareLink.objects.filter(**lookup).first()
            if existing is not None:
                return existing, False
    raise Conflict("Could not allocate a share code; try again.", code="code_allocation_failed")


# --- the official account's parametric QR code ------------------------------------------


def mp_scene_for(*, code: str) -> str:
    return MP_SCENE_PREFIX + code


def _mp_qr_key(code: str) -> str:
    return f"share:mpqr:v1:{code}"


def _remember(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        logger.warning("share links: cache unreachable (set %s)", key, exc_info=True)


def share_link_mp_qr_cached(*, codes: list[str]) -> dict[str, str]:
    """The official-account QR image URLs already known for `codes` (no call to WeChat)."""
    if not codes:
        return {}
    try:
        found = cache.get_many([_mp_qr_key(c) for c in codes])
    except Exception:  # noqa: BLE001 - a cache outage leaves the field null, nothing worse
        logger.warning("share links: cache unreachable (official-account QR URLs)", exc_info=True)
        return {}
    out = {}
    for code in codes:
        value = found.get(_mp_qr_key(code))
        if isinstance(value, dict) and value.get("image_url"):
            out[code] = value["image_url"]
    return out


def share_link_mp_qr(*, link: ShareLink) -> str | None:
    """The official-account QR image URL for the link, creating the ticket when needed; None when
    switched off (SHARE_LINK_MP_QR) or WeChat failed (logged)."""
    if not settings.SHARE_LINK_MP_QR:
        return None
    key = _mp_qr_key(link.code)
    try:
        cached = cache.get(key)
    except Exception:  # noqa: BLE001 - without the cache we would ask WeChat on every read: don't
        logger.warning("share link %s: cache unreachable, no official-account QR", link.code, exc_info=True)
        return None
    if isinstance(cached, dict) and cached.get("image_url"):
        return cached["image_url"]
    if cached == _MP_QR_FAILED:
        return None
    try:
        ticket = qr_ticket_create(scene_str=mp_scene_for(code=link.code), expire_seconds=MP_QR_EXPIRE_SECONDS)
    except DomainError as exc:
        logger.warning("share link %s: official-account QR failed (%s %s)", link.code, exc.code, exc.extra)
        _remember(key, _MP_QR_FAILED, MP_QR_FAILURE_SECONDS)
        return None
    except Exception:  # noqa: BLE001 - whatever went wrong, the link itself must still be answered
        logger.exception("share link %s: official-account QR failed", link.code)
        _remember(key, _MP_QR_FAILED, MP_QR_FAILURE_SECONDS)
        return None
    value = {"image_url": ticket["image_url"], "ticket": ticket["ticket"], "url": ticket["url"]}
    _remember(key, value, MP_QR_CACHE_SECONDS)
    return value["image_url"]


# --- mini-program codes ----------------------------------------------------------------------

WXACODE_CACHE_SECONDS = 30 * 24 * 3600  # unlimited mini-program codes never expire
WXACODE_RENDER_VERSION = 1


def _wxacode_key(code: str) -> str:
    tag = short_hash(f"{settings.WECHAT_MINIPROGRAM_APPID}:{settings.WECHAT_MINIPROGRAM_PAGE}")
    return f"share:wxacode:v{WXACODE_RENDER_VERSION}:{code}:{tag}"


def share_link_wxacode(*, code: str) -> CachedImage:
    """The mini-program code (scene = share code) as PNG, from WeChat once, then cached.
    NotFound for an unknown code; WechatError / WechatTimeout when WeChat fails (not cached)."""
    normalised = code_normalise(code)
    if normalised is not None:
        found = image_cached(_wxacode_key(normalised), content_type="image/png")
        if found is not None:
            return found
    link = share_link_get_by_code(code=code)
    body = wxacode_unlimited(scene=link.code, page=settings.WECHAT_MINIPROGRAM_PAGE)
    return image_store(_wxacode_key(link.code), body, content_type="image/png", timeout=WXACODE_CACHE_SECONDS)

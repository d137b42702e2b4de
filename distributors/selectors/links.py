"""Reads for share links, and their images (QR codes, posters, mini-program codes) through
Django's cache.

Images are cached as (etag, bytes): the ETag is a hash of the bytes themselves (a strong
validator). Keys carry a render version and everything the bytes depend on:

* QR PNG/SVG: the code and the link's URL (`PUBLIC_BASE_URL` + "/s/" + code).
* Poster: the code and a content version (title, price, image, nickname, URL, font, layout
  version), so a changed title, price or nickname gives a new poster at once.
* Mini-program code: the code, the mini-program's app id and page.

A cache hit is one cache round trip and no database query; a miss checks the link exists
(404 otherwise), renders (or asks WeChat for the mini-program code) and stores the result.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet

from core.errors import NotFound

from .. import poster as poster_mod
from .. import qr as qr_mod
from ..codes import code_normalise
from ..errors import NotADistributor
from ..models import Distributor, ShareLink
from ..targets import ShareTarget, target_resolve

logger = logging.getLogger(__name__)

IMAGE_CACHE_SECONDS = 7 * 24 * 3600
WXACODE_CACHE_SECONDS = 30 * 24 * 3600  # unlimited mini-program codes never expire
WXACODE_RENDER_VERSION = 1


@dataclass(frozen=True)
class CachedImage:
    body: bytes
    etag: str  # quoted, strong: '"…"'
    content_type: str
    hit: bool


def _cache_get(key: str):
    """The cached value, or None when missing or when the cache cannot be reached (then the image
    is rendered every time: slower, still correct)."""
    try:
        return cache.get(key)
    except Exception:  # noqa: BLE001 - a cache outage must not take the images down
        logger.warning("share link images: cache unreachable (get %s)", key, exc_info=True)
        return None


def _cache_set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout)
    except Exception:  # noqa: BLE001
        logger.warning("share link images: cache unreachable (set %s)", key, exc_info=True)


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --- links --------------------------------------------------------------------------------


def share_link_url(*, code: str) -> str:
    """The public short link: PUBLIC_BASE_URL + "/s/" + code."""
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/s/{code}"


def share_link_list_for_user(*, user) -> QuerySet[ShareLink]:
    """The user's links, newest first (their counters are on the rows). NotADistributor when
    the user never applied; a pending, rejected or frozen distributor still sees their links."""
    distributor_id = Distributor.objects.filter(user=user).values_list("pk", flat=True).first()
    if distributor_id is None:
        raise NotADistributor()
    return ShareLink.objects.filter(distributor_id=distributor_id).order_by("-created_at", "-pk")


def share_link_get_for_user(*, user, code: str) -> ShareLink:
    """One of the user's links by code; NotFound for an unknown code or another's link."""
    normalised = code_normalise(code)
    link = (
        ShareLink.objects.filter(code=normalised, distributor__user=user).first() if normalised else None
    )
    if link is None:
        raise NotFound("No such share link.")
    return link


def share_link_get_by_code(*, code: str) -> ShareLink:
    """Any link by code (with its distributor and user), or NotFound."""
    normalised = code_normalise(code)
    link = (
        ShareLink.objects.select_related("distributor__user").filter(code=normalised).first()
        if normalised
        else None
    )
    if link is None:
        raise NotFound("No such share link.")
    return link


def share_link_target(*, link: ShareLink) -> ShareTarget:
    """What the link points at now (title, image, price, H5 path); NotFound when it is gone."""
    return target_resolve(target_type=link.target_type, target_id=link.target_id, distributor=link.distributor)


# --- QR codes ------------------------------------------------------------------------------


def _qr_key(*, kind: str, code: str) -> str:
    url_tag = _short_hash(settings.PUBLIC_BASE_URL.rstrip("/"))
    return f"share:qr:v{qr_mod.QR_RENDER_VERSION}:{kind}:{code}:{url_tag}"


def share_link_qr_cached(*, code: str, kind: str) -> CachedImage | None:
    """The QR image from the cache, or None (no database query): the hot path."""
    normalised = code_normalise(code)
    if normalised is None or kind not in qr_mod.CONTENT_TYPES:
        return None
    found = _cache_get(_qr_key(kind=kind, code=normalised))
    if not (isinstance(found, tuple) and len(found) == 2):
        return None
    etag, body = found
    return CachedImage(body=body, etag=etag, content_type=qr_mod.CONTENT_TYPES[kind], hit=True)


def share_link_qr(*, code: str, kind: str) -> CachedImage:
    """The link's QR code as PNG or SVG (cached); NotFound for an unknown code."""
    cached = share_link_qr_cached(code=code, kind=kind)
    if cached is not None:
        return cached
    if kind not in qr_mod.CONTENT_TYPES:
        raise NotFound()
    link = share_link_get_by_code(code=code)
    body = qr_mod.qr_render(data=share_link_url(code=link.code), kind=kind)
    etag = _etag(body)
    _cache_set(_qr_key(kind=kind, code=link.code), (etag, body), IMAGE_CACHE_SECONDS)
    return CachedImage(body=body, etag=etag, content_type=qr_mod.CONTENT_TYPES[kind], hit=False)


# --- posters -------------------------------------------------------------------------------


def share_link_poster_content(*, link: ShareLink) -> poster_mod.PosterContent:
    target = share_link_target(link=link)
    return poster_mod.PosterContent(
        title=target.title,
        price_fen=target.price_fen,
        image_url=target.image_url,
        nickname=link.distributor.user.nickname,
        qr_data=share_link_url(code=link.code),
    )


def share_link_poster(*, code: str) -> CachedImage:
    """The link's poster PNG (cached by content version); NotFound for an unknown code or a target
    that can no longer be shared."""
    link = share_link_get_by_code(code=code)
    content = share_link_poster_content(link=link)
    key = f"share:poster:{link.code}:{poster_mod.poster_version(content)}"
    found = _cache_get(key)
    if isinstance(found, tuple) and len(found) == 2:
        return CachedImage(body=found[1], etag=found[0], content_type="image/png", hit=True)
    body = poster_mod.poster_render(content)
    etag = _etag(body)
    _cache_set(key, (etag, body), IMAGE_CACHE_SECONDS)
    return CachedImage(body=body, etag=etag, content_type="image/png", hit=False)


# --- mini-program codes ----------------------------------------------------------------------


def _wxacode_key(code: str) -> str:
    tag = _short_hash(f"{settings.WECHAT_MINIPROGRAM_APPID}:{settings.WECHAT_MINIPROGRAM_PAGE}")
    return f"share:wxacode:v{WXACODE_RENDER_VERSION}:{code}:{tag}"


def share_link_wxacode(*, code: str) -> CachedImage:
    """The mini-program code (scene = share code) as PNG, from WeChat once, then cached.
    NotFound for an unknown code; WechatError / WechatTimeout when WeChat fails (not cached)."""
    from wechat.miniprogram import wxacode_unlimited

    normalised = code_normalise(code)
    if normalised is not None:
        found = _cache_get(_wxacode_key(normalised))
        if isinstance(found, tuple) and len(found) == 2:
            return CachedImage(body=found[1], etag=found[0], content_type="image/png", hit=True)
    link = share_link_get_by_code(code=code)
    body = wxacode_unlimited(scene=link.code, page=settings.WECHAT_MINIPROGRAM_PAGE)
    etag = _etag(body)
    _cache_set(_wxacode_key(link.code), (etag, body), WXACODE_CACHE_SECONDS)
    return CachedImage(body=body, etag=etag, content_type="image/png", hit=False)

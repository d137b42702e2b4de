"""Reads for share links, and their QR codes and posters through Django's cache
(distributors/images.py; the mini-program code, which asks WeChat, is
distributors.services.links.share_link_wxacode).

Images are cached as (etag, bytes): the ETag is a hash of the bytes themselves (a strong
validator). Keys carry a render version and everything the bytes depend on:

* QR PNG/SVG: the code and the link's URL (`PUBLIC_BASE_URL` + "/s/" + code).
* Poster: the code and a content version (title, price, image, nickname, URL, font, layout
  version), so a changed title, price or nickname gives a new poster at once.

A cache hit is one cache round trip and no database query; a miss checks the link exists
(404 otherwise), renders and stores the result.
"""
from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from core.errors import NotFound

from .. import poster as poster_mod
from .. import qr as qr_mod
from ..codes import code_normalise
from ..errors import NotADistributor
from ..images import IMAGE_CACHE_SECONDS, CachedImage, image_cache_get, image_cache_set, image_etag, short_hash
from ..models import Distributor, ShareLink
from ..targets import ShareTarget, target_resolve

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
    url_tag = short_hash(settings.PUBLIC_BASE_URL.rstrip("/"))
    return f"share:qr:v{qr_mod.QR_RENDER_VERSION}:{kind}:{code}:{url_tag}"


def share_link_qr_cached(*, code: str, kind: str) -> CachedImage | None:
    """The QR image from the cache, or None (no database query): the hot path."""
    normalised = code_normalise(code)
    if normalised is None or kind not in qr_mod.CONTENT_TYPES:
        return None
    found = image_cache_get(_qr_key(kind=kind, code=normalised))
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
    etag = image_etag(body)
    image_cache_set(_qr_key(kind=kind, code=link.code), (etag, body), IMAGE_CACHE_SECONDS)
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
    found = image_cache_get(key)
    if isinstance(found, tuple) and len(found) == 2:
        return CachedImage(body=found[1], etag=found[0], content_type="image/png", hit=True)
    body = poster_mod.poster_render(content)
    etag = image_etag(body)
    image_cache_set(key, (etag, body), IMAGE_CACHE_SECONDS)
    return CachedImage(body=body, etag=etag, content_type="image/png", hit=False)

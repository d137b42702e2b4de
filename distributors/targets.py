"""What a share link can point at: a registry of share targets.

Each target type has a resolver that turns a target id into what a link, its poster and
its redirect need:

    {"title": str, "image_url": str, "price_fen": int | None, "path": str}

`path` is the H5 page path (the short link `/s/{code}` redirects to `H5_BASE_URL + path`).
A resolver raises `core.errors.NotFound` when the target does not exist or cannot be shared
(e.g. a product taken off the shelf).

Built in: `product` (an on-shelf product, via mall's catalog selectors), `store` (the shop's
home page, "/") and `recruit` (the recruitment page with the distributor's invite code,
"/recruit?inviter=<invite_code>").

`crowdfund` and `red_envelope` belong to the campaigns app, which sits above distributors;
it registers its resolvers in its `AppConfig.ready()`:

    from distributors.targets import register_target
    register_target("crowdfund", crowdfund_share_target)

Until then a link for them answers 400 `target_unavailable`.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.errors import InvalidInput, NotFound

from .models import TargetType

Resolver = Callable[..., dict[str, Any]]

# Target types whose link names one object (target_id >= 1); the others take no id (stored as 0).
TYPES_WITH_ID = frozenset({TargetType.PRODUCT, TargetType.CROWDFUND, TargetType.RED_ENVELOPE})

DEFAULT_STORE_TITLE = "微商城"
RECRUIT_TITLE = "邀请你成为分销商，分享赚佣金"


class TargetUnavailable(InvalidInput):
    code = "target_unavailable"
    default_message = "Links for this kind of target are not available yet."


@dataclass(frozen=True)
class ShareTarget:
    title: str
    image_url: str
    price_fen: int | None
    path: str


@dataclass(frozen=True)
class _Entry:
    resolver: Resolver
    with_distributor: bool


_lock = threading.Lock()
_registry: dict[str, _Entry] = {}


def register_target(target_type: str, resolver: Resolver, *, with_distributor: bool = False) -> Resolver:
    """Register `resolver(target_id)` for `target_type` (one of TargetType).

    With `with_distributor=True` it is called as `resolver(target_id, distributor=...)`, for
    targets whose page depends on who shares it (the recruitment invite)."""
    if target_type not in TargetType.values:
        raise ValueError(f"unknown target type {target_type!r}")
    with _lock:
        _registry[target_type] = _Entry(resolver, with_distributor)
    return resolver


def unregister_target(target_type: str) -> None:
    with _lock:
        _registry.pop(target_type, None)


def target_available(target_type: str) -> bool:
    with _lock:
        return target_type in _registry


def _clean(raw: Any, *, target_type: str) -> ShareTarget:
    if not isinstance(raw, dict):
        raise TypeError(f"the {target_type} resolver must return a dict")
    title = raw.get("title")
    path = raw.get("path")
    price = raw.get("price_fen")
    image = raw.get("image_url") or ""
    if not isinstance(title, str) or not isinstance(path, str) or not path.startswith("/"):
        raise TypeError(f"the {target_type} resolver must return a title and a path starting with '/'")
    if price is not None and (isinstance(price, bool) or not isinstance(price, int) or price < 0):
        raise TypeError(f"the {target_type} resolver must return price_fen as a non-negative int or None")
    if not isinstance(image, str):
        raise TypeError(f"the {target_type} resolver must return image_url as a string")
    return ShareTarget(title=title, image_url=image, price_fen=price, path=path)


def target_resolve(*, target_type: str, target_id: int, distributor=None) -> ShareTarget:
    """The target's title, image, price and page path.

    Raises TargetUnavailable (400) when no resolver is registered for the type and NotFound
    (404) when the target does not exist or cannot be shared."""
    with _lock:
        entry = _registry.get(target_type)
    if entry is None:
        raise TargetUnavailable(extra={"target_type": target_type})
    if entry.with_distributor:
        raw = entry.resolver(target_id, distributor=distributor)
    else:
        raw = entry.resolver(target_id)
    return _clean(raw, target_type=target_type)


# --- built-in targets ---------------------------------------------------------------


def _product(target_id: int) -> dict[str, Any]:
    from mall.selectors.catalog import product_get_public

    product = product_get_public(product_id=target_id)  # NotFound when off the shelf or without SKUs
    images = product.images if isinstance(product.images, list) else []
    image = next((i for i in images if isinstance(i, str) and i), "")
    return {
        "title": product.title,
        "image_url": image,
        "price_fen": product.price_min_fen,
        "path": f"/products/{product.pk}",
    }


def _store(target_id: int) -> dict[str, Any]:
    if target_id:
        raise NotFound("The store link takes no target id.")
    return {
        "title": getattr(settings, "SHOP_NAME", "") or DEFAULT_STORE_TITLE,
        "image_url": "",
        "price_fen": None,
        "path": "/",
    }


def _recruit(target_id: int, *, distributor=None) -> dict[str, Any]:
    if target_id:
        raise NotFound("The recruitment link takes no target id.")
    if distributor is None:
        raise NotFound("A recruitment link belongs to a distributor.")
    return {
        "title": RECRUIT_TITLE,
        "image_url": "",
        "price_fen": None,
        "path": f"/recruit?inviter={distributor.invite_code}",
    }


register_target(TargetType.PRODUCT, _product)
register_target(TargetType.STORE, _store)
register_target(TargetType.RECRUIT, _recruit, with_distributor=True)

"""What a share link can point at: resolving a target through the `distributors.share_target`
hook (distributors/hooks.py).

Each target type has a resolver that turns a target id into what a link, its poster and
its redirect need:

    {"title": str, "image_url": str, "price_fen": int | None, "path": str}

`path` is the H5 page path (the short link `/s/{code}` redirects to `H5_BASE_URL + path`).
A resolver raises `core.errors.NotFound` when the target does not exist or cannot be shared
(e.g. a product taken off the shelf).

Built in (registered in DistributorsConfig.ready()): `product` (an on-shelf product, via
mall's catalog selectors), `store` (the shop's home page, "/") and `recruit` (the
recruitment page with the distributor's invite code, "/recruit?inviter=<invite_code>").

`crowdfund` and `red_envelope` belong to the campaigns app, which sits above distributors;
it registers its resolvers in its `AppConfig.ready()`:

    from distributors.hooks import register_share_target
    register_share_target("crowdfund", crowdfund_share_target)

Until then a link for them answers 400 `target_unavailable`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.errors import InvalidInput, NotFound
from mall.selectors.catalog import product_get_public

from .hooks import share_target
from .models import TargetType

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


def _resolver(target_type: str):
    return share_target.one(target_type) if target_type in TargetType.values else None


def target_available(target_type: str) -> bool:
    return _resolver(target_type) is not None


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
    resolver = _resolver(target_type)
    if resolver is None:
        raise TargetUnavailable(extra={"target_type": target_type})
    return _clean(resolver(target_id, distributor), target_type=target_type)


# --- built-in targets (registered in DistributorsConfig.ready()) ---------------------


def product_share_target(target_id: int) -> dict[str, Any]:
    product = product_get_public(product_id=target_id)  # NotFound when off the shelf or without SKUs
    images = product.images if isinstance(product.images, list) else []
    image = next((i for i in images if isinstance(i, str) and i), "")
    return {
        "title": product.title,
        "image_url": image,
        "price_fen": product.price_min_fen,
        "path": f"/products/{product.pk}",
    }


def store_share_target(target_id: int) -> dict[str, Any]:
    if target_id:
        raise NotFound("The store link takes no target id.")
    return {
        "title": getattr(settings, "SHOP_NAME", "") or DEFAULT_STORE_TITLE,
        "image_url": "",
        "price_fen": None,
        "path": "/",
    }


def recruit_share_target(target_id: int, *, distributor=None) -> dict[str, Any]:
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


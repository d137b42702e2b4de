"""Writes for the catalog: categories, products, SKUs, shelf status and stock adjustments.

Every write here ends with `catalog_invalidate` so the cached catalog pages change at once
(see mall/cache.py). Input is checked here as well as in the API, so the admin and scripts
get the same rules; a refused write changes nothing.

Stock is never read-modify-written: `sku_adjust_stock` moves it with a conditional
`UPDATE … SET stock = stock + delta WHERE stock + delta BETWEEN 0 AND max`, and an
absolute level set by an operator (`product_update` with a SKU's `stock`) is applied to
the row locked with SELECT … FOR UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from django.db import transaction
from django.db.models import F, ProtectedError

from core.errors import Conflict, InvalidInput, NotFound

from ..cache import catalog_invalidate
from ..models import Category, Product, Sku
from ..selectors.catalog import product_has_orders

TITLE_MAX = 120
DESCRIPTION_MAX = 20_000
IMAGES_MAX = 9
URL_MAX = 512
SKU_NAME_MAX = 64
SKUS_MAX = 50
PRICE_MAX_FEN = 10**9
STOCK_MAX = 10**7
CATEGORY_NAME_MAX = 64


class InsufficientStock(Conflict):
    code = "insufficient_stock"
    default_message = "The stock cannot go below zero (or above the maximum)."


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, extra={"fields": {field: [message]}})


def _strict_int(value: Any, *, field: str, low: int, high: int) -> int:
    if type(value) is not int:
        raise _invalid(field, "Must be an integer.")
    if not low <= value <= high:
        raise _invalid(field, f"Must be between {low} and {high}.")
    return value


def validate_image_urls(images: Any, *, field: str = "images") -> list[str]:
    """A list of at most 9 http(s) URLs, each at most 512 characters."""
    if not isinstance(images, list | tuple):
        raise _invalid(field, "Must be a list of URLs.")
    if len(images) > IMAGES_MAX:
        raise _invalid(field, f"At most {IMAGES_MAX} images.")
    clean = []
    for url in images:
        if not isinstance(url, str) or not url or len(url) > URL_MAX:
            raise _invalid(field, f"Each image is a URL of at most {URL_MAX} characters.")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or any(c.isspace() for c in url):
            raise _invalid(field, "Each image must be an http(s) URL.")
        clean.append(url)
    return clean


def _clean_title(title: Any) -> str:
    if not isinstance(title, str) or not title.strip():
        raise _invalid("title", "A title is required.")
    title = title.strip()
    if len(title) > TITLE_MAX:
        raise _invalid("title", f"At most {TITLE_MAX} characters.")
    return title


def _clean_description(description: Any) -> str:
    if not isinstance(description, str):
        raise _invalid("description", "Must be text.")
    if len(description) > DESCRIPTION_MAX:
        raise _invalid("description", f"At most {DESCRIPTION_MAX} characters.")
    return description


def _clean_category(category_id: Any) -> int | None:
    if category_id is None:
        return None
    if type(category_id) is not int or not Category.objects.filter(pk=category_id).exists():
        raise _invalid("category", "Unknown category.")
    return category_id


def _clean_skus(skus: Any, *, partial_ok: bool) -> list[dict]:
    """Each SKU: {id?, name, price_fen, stock}. With `partial_ok`, an existing SKU (with an id) may omit
    price_fen/stock (kept as they are)."""
    if not isinstance(skus, list | tuple) or not skus:
        raise _invalid("skus", "At least one SKU is required.")
    if len(skus) > SKUS_MAX:
        raise _invalid("skus", f"At most {SKUS_MAX} SKUs.")
    clean: list[dict] = []
    names: set[str] = set()
    ids: set[int] = set()
    for raw in skus:
        if not isinstance(raw, Mapping):
            raise _invalid("skus", "Each SKU is an object {name, price_fen, stock}.")
        sku: dict[str, Any] = {}
        if raw.get("id") is not None:
            sku["id"] = _strict_int(raw["id"], field="skus", low=1, high=2**63 - 1)
            if sku["id"] in ids:
                raise _invalid("skus", "A SKU id appears twice.")
            ids.add(sku["id"])
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > SKU_NAME_MAX:
            raise _invalid("skus", f"Each SKU needs a name of 1 to {SKU_NAME_MAX} characters.")
        sku["name"] = name.strip()
        if sku["name"] in names:
            raise _invalid("skus", f"Duplicate SKU name {sku['name']!r}.")
        names.add(sku["name"])
        existing = "id" in sku and partial_ok
        for key, low, high in (("price_fen", 1, PRICE_MAX_FEN), ("stock", 0, STOCK_MAX)):
            if key in raw and raw[key] is not None:
                sku[key] = _strict_int(raw[key], field="skus", low=low, high=high)
            elif not existing:
                raise _invalid("skus", f"Each new SKU needs {key}.")
        if "sort" in raw:
            sku["sort"] = _strict_int(raw["sort"], field="skus", low=-(10**6), high=10**6)
        clean.append(sku)
    return clean


def _clean_bool(value: Any, *, field: str) -> bool:
    if type(value) is not bool:
        raise _invalid(field, "Must be true or false.")
    return value


def _clean_sort(sort: Any) -> int:
    return _strict_int(sort, field="sort", low=-(10**6), high=10**6)


# --- categories ---------------------------------------------------------------------------


def _clean_category_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > CATEGORY_NAME_MAX:
        raise _invalid("name", f"A name of 1 to {CATEGORY_NAME_MAX} characters is required.")
    return name.strip()


def category_create(*, name: str, parent_id: int | None = None, sort: int = 0, is_active: bool = True) -> Category:
    category = Category.objects.create(
        name=_clean_category_name(name),
        parent_id=_clean_category(parent_id) if parent_id is not None else None,
        sort=_clean_sort(sort),
        is_active=_clean_bool(is_active, field="is_active"),
    )
    catalog_invalidate()
    return category


def category_update(*, category_id: int, **fields: Any) -> Category:
    category = Category.objects.filter(pk=category_id).first()
    if category is None:
        raise NotFound("No such category.")
    if "name" in fields:
        category.name = _clean_category_name(fields["name"])
    if "parent_id" in fields:
        parent_id = fields["parent_id"]
        if parent_id is not None:
            _clean_category(parent_id)
            ancestor: Category | None = Category.objects.get(pk=parent_id)
            while ancestor is not None:  # no cycles
                if ancestor.pk == category.pk:
                    raise _invalid("parent", "A category cannot be inside itself.")
                ancestor = ancestor.parent
        category.parent_id = parent_id
    if "sort" in fields:
        category.sort = _clean_sort(fields["sort"])
    if "is_active" in fields:
        category.is_active = _clean_bool(fields["is_active"], field="is_active")
    category.save()
    catalog_invalidate()
    return category


def category_delete(*, category_id: int) -> None:
    """Delete a category without sub-categories; its products become uncategorised."""
    category = Category.objects.filter(pk=category_id).first()
    if category is None:
        raise NotFound("No such category.")
    if category.children.exists():
        raise Conflict("Move or delete the sub-categories first.", code="category_not_empty")
    category.delete()
    catalog_invalidate()


# --- products -----------------------------------------------------------------------------


@transaction.atomic
def product_create(
    *,
    title: str,
    skus: Sequence[Mapping[str, Any]],
    description: str = "",
    images: Iterable[str] = (),
    category_id: int | None = None,
    on_shelf: bool = False,
    sort: int = 0,
) -> Product:
    """A product with its SKUs ({name, price_fen, stock}); at least one SKU, names unique."""
    clean_skus = _clean_skus(list(skus), partial_ok=False)
    if any("id" in sku for sku in clean_skus):
        raise _invalid("skus", "New products take new SKUs only (no ids).")
    product = Product.objects.create(
        title=_clean_title(title),
        description=_clean_description(description),
        images=validate_image_urls(list(images)),
        category_id=_clean_category(category_id),
        on_shelf=_clean_bool(on_shelf, field="on_shelf"),
        sort=_clean_sort(sort),
    )
    Sku.objects.bulk_create(
        [
            Sku(
                product=product,
                name=sku["name"],
                price_fen=sku["price_fen"],
                stock=sku["stock"],
                sort=sku.get("sort", index),
            )
            for index, sku in enumerate(clean_skus)
        ]
    )
    catalog_invalidate(product_id=product.pk)
    return product


def _product_for_update(product_id: Any) -> Product:
    if type(product_id) is not int:
        raise NotFound("No such product.")
    product = Product.objects.select_for_update().filter(pk=product_id).first()
    if product is None:
        raise NotFound("No such product.")
    return product


def _apply_skus(product: Product, wanted: list[dict]) -> None:
    """Match SKUs by id: listed ones are updated (and reactivated), new ones created, the
    product's other SKUs deactivated (never deleted: order lines point at them)."""
    current = {sku.pk: sku for sku in Sku.objects.select_for_update().filter(product=product).order_by("pk")}
    unknown = [sku["id"] for sku in wanted if "id" in sku and sku["id"] not in current]
    if unknown:
        raise InvalidInput(
            "Some SKU ids are not SKUs of this product.", extra={"fields": {"skus": [f"unknown SKU id {unknown[0]}"]}}
        )
    listed = {sku["id"] for sku in wanted if "id" in sku}
    to_deactivate = [pk for pk, sku in current.items() if pk not in listed and sku.is_active]
    if to_deactivate:
        Sku.objects.filter(pk__in=to_deactivate).update(is_active=False)
    for index, sku in enumerate(wanted):
        if "id" in sku:
            row = current[sku["id"]]
            changed = {"name": sku["name"], "is_active": True, "sort": sku.get("sort", index)}
            if "price_fen" in sku:
                changed["price_fen"] = sku["price_fen"]
            if "stock" in sku:
                changed["stock"] = sku["stock"]  # an absolute level, written to the row locked above
            Sku.objects.filter(pk=row.pk).update(**changed)
        else:
            Sku.objects.create(
                product=product,
                name=sku["name"],
                price_fen=sku["price_fen"],
                stock=sku["stock"],
                sort=sku.get("sort", index),
            )


PRODUCT_FIELDS = ("title", "description", "images", "category_id", "on_shelf", "sort")


@transaction.atomic
def product_update(*, product_id: int, skus: Sequence[Mapping[str, Any]] | None = None, **fields: Any) -> Product:
    """Change the given fields (any of title, description, images, category_id, on_shelf, sort).

    With `skus`, the product's SKUs become exactly that list: SKUs are matched by `id` (and may
    then omit price_fen/stock to keep them), SKUs without an id are created, the product's
    SKUs not listed are deactivated. A SKU's `stock` is an absolute level, set on the locked
    row; use `sku_adjust_stock` for relative changes while orders are coming in.
    """
    unknown = set(fields) - set(PRODUCT_FIELDS)
    if unknown:
        raise InvalidInput(f"Unknown fields: {', '.join(sorted(unknown))}.")
    product = _product_for_update(product_id)
    changed: list[str] = []
    cleaners = {
        "title": _clean_title,
        "description": _clean_description,
        "images": lambda v: validate_image_urls(v),
        "category_id": _clean_category,
        "on_shelf": lambda v: _clean_bool(v, field="on_shelf"),
        "sort": _clean_sort,
    }
    for name, value in fields.items():
        setattr(product, name, cleaners[name](value))
        changed.append(name)
    if skus is not None:
        _apply_skus(product, _clean_skus(list(skus), partial_ok=True))
    product.save(update_fields=[*changed, "updated_at"])
    catalog_invalidate(product_id=product.pk)
    return product


def product_set_shelf(*, product_ids: Iterable[int], on_shelf: bool) -> int:
    """Put products on the shelf or take them off. Returns how many changed."""
    ids = list(product_ids)
    changed = Product.objects.filter(pk__in=ids).exclude(on_shelf=on_shelf).update(on_shelf=on_shelf)
    for product_id in ids:
        catalog_invalidate(product_id=product_id)
    return changed


@transaction.atomic
def product_delete(*, product_id: int) -> bool:
    """Delete a product that was never ordered (True); one that was is only taken off the shelf
    and its order lines keep pointing at it (False)."""
    product = _product_for_update(product_id)
    deleted = False
    if not product_has_orders(product_id=product.pk):
        try:
            with transaction.atomic():
                product.delete()
            deleted = True
        except ProtectedError:  # an order line arrived in the meantime
            deleted = False
    if not deleted:
        Product.objects.filter(pk=product_id).update(on_shelf=False)
    catalog_invalidate(product_id=product_id)
    return deleted


# --- stock ----------------------------------------------------------------------------------


def sku_adjust_stock(*, sku_id: int, delta: int) -> int:
    """Add `delta` (may be negative) to a SKU's stock with one conditional UPDATE; refuses (409
    `insufficient_stock`) when the stock would go below zero or above the maximum. Returns the new stock."""
    if type(sku_id) is not int:
        raise NotFound("No such SKU.")
    delta = _strict_int(delta, field="delta", low=-STOCK_MAX, high=STOCK_MAX)
    if delta == 0:
        raise _invalid("delta", "Must not be zero.")
    with transaction.atomic():
        updated = Sku.objects.filter(pk=sku_id, stock__gte=-delta, stock__lte=STOCK_MAX - delta).update(
            stock=F("stock") + delta
        )
        row = Sku.objects.filter(pk=sku_id).values("stock", "product_id").first()
        if row is None:
            raise NotFound("No such SKU.")
        if not updated:
            raise InsufficientStock(extra={"stock": row["stock"], "delta": delta})
        catalog_invalidate(product_id=row["product_id"])
    return row["stock"]

"""Reads for the catalog.

The public catalog shows products that are on the shelf and have at least one active SKU.
List rows carry their price range, stock total, sales and rating as annotations and
denormalised counters, so a page is two queries (count + rows) whatever its size.

Search (`q`) is a case-insensitive substring match on title and description (`icontains`):
a sequential scan, fine for a shop of thousands of products; a pg_trgm index or a search
engine is the next step if the catalog grows.
"""

from __future__ import annotations

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from core.errors import NotFound

from ..cache import catalog_detail_cached, catalog_list_cached  # noqa: F401  (re-exported for api/)
from ..models import Category, OrderItem, Product, Review, Sku

ORDERINGS = {
    "default": ("-sort", "-id"),
    "newest": ("-created_at", "-id"),
    "price": ("price_min_fen", "-id"),
    "-price": ("-price_min_fen", "-id"),
    "sales": ("-sold_count", "-id"),
    "rating": ("-rating_tenths", "-review_count", "-id"),
}

_ACTIVE = Q(skus__is_active=True)


def average_rating_tenths(*, rating_sum: int, review_count: int) -> int | None:
    """The average rating in tenths of a star, rounded half up, by integer arithmetic (None without reviews)."""
    if review_count <= 0:
        return None
    return (rating_sum * 20 + review_count) // (2 * review_count)


def average_rating_text(*, rating_sum: int, review_count: int) -> str | None:
    """The average rating as a one-decimal string ("4.5"), or None without reviews."""
    tenths = average_rating_tenths(rating_sum=rating_sum, review_count=review_count)
    return None if tenths is None else f"{tenths // 10}.{tenths % 10}"


def category_descendant_ids(*, category_id: int) -> list[int]:
    """The category and every category below it (one query per level)."""
    ids = [category_id]
    frontier = [category_id]
    for _ in range(10):  # categories are a shallow tree; the bound also stops a cycle
        frontier = list(
            Category.objects.filter(parent_id__in=frontier).exclude(pk__in=ids).values_list("pk", flat=True)
        )
        if not frontier:
            break
        ids.extend(frontier)
    return ids


def category_list_public() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True).order_by("sort", "id")


def _with_sku_figures(qs: QuerySet[Product]) -> QuerySet[Product]:
    return qs.annotate(
        price_min_fen=Min("skus__price_fen", filter=_ACTIVE),
        price_max_fen=Max("skus__price_fen", filter=_ACTIVE),
        stock_total=Coalesce(Sum("skus__stock", filter=_ACTIVE), Value(0), output_field=IntegerField()),
        active_sku_count=Count("skus", filter=_ACTIVE),
    )


def product_list_public(
    *,
    category_id: int | None = None,
    min_price_fen: int | None = None,
    max_price_fen: int | None = None,
    q: str = "",
    ordering: str = "default",
) -> QuerySet[Product]:
    """On-shelf products with an active SKU, filtered and ordered.

    The price filter applies to a product's "from" price (its cheapest active SKU), which is also
    what `price` ordering sorts by.
    """
    qs = Product.objects.filter(on_shelf=True).filter(
        Exists(Sku.objects.filter(product=OuterRef("pk"), is_active=True))
    )
    if category_id is not None:
        qs = qs.filter(category_id__in=category_descendant_ids(category_id=category_id))
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(description__icontains=q))
    qs = _with_sku_figures(qs.select_related("category"))
    if min_price_fen is not None:
        qs = qs.filter(price_min_fen__gte=min_price_fen)
    if max_price_fen is not None:
        qs = qs.filter(price_min_fen__lte=max_price_fen)
    if ordering == "rating":
        qs = qs.annotate(
            rating_tenths=Case(
                When(review_count=0, then=Value(0)),
                default=F("rating_sum") * 10 / F("review_count"),
                output_field=IntegerField(),
            )
        )
    return qs.order_by(*ORDERINGS.get(ordering, ORDERINGS["default"]))


def product_get_public(*, product_id: int) -> Product:
    """An on-shelf product with its active SKUs (prefetched as `active_skus`), or NotFound."""
    product = (
        _with_sku_figures(Product.objects.filter(pk=product_id, on_shelf=True).select_related("category"))
        .prefetch_related(
            Prefetch("skus", queryset=Sku.objects.filter(is_active=True).order_by("sort", "id"), to_attr="active_skus")
        )
        .first()
    )
    if product is None or not product.active_sku_count:
        raise NotFound("No such product.")
    return product


def product_exists_public(*, product_id: int) -> bool:
    return Product.objects.filter(pk=product_id, on_shelf=True, skus__is_active=True).exists()


def product_review_distribution(*, product_id: int) -> dict[str, int]:
    """How many visible reviews gave 1..5 stars: {"1": n, ..., "5": n}."""
    counts = dict(
        Review.objects.filter(product_id=product_id, is_hidden=False)
        .values_list("rating")
        .annotate(n=Count("id"))
        .values_list("rating", "n")
    )
    return {str(stars): counts.get(stars, 0) for stars in range(1, 6)}


# --- operators ------------------------------------------------------------------------------


def product_list_ops(
    *, on_shelf: bool | None = None, category_id: int | None = None, q: str = "", has_stock: bool | None = None
) -> QuerySet[Product]:
    """Every product (on and off the shelf), newest first, with all SKUs prefetched."""
    qs = Product.objects.select_related("category").prefetch_related(
        Prefetch("skus", queryset=Sku.objects.order_by("sort", "id"))
    )
    if on_shelf is not None:
        qs = qs.filter(on_shelf=on_shelf)
    if category_id is not None:
        qs = qs.filter(category_id=category_id)
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(description__icontains=q))
    if has_stock is not None:
        in_stock = Exists(Sku.objects.filter(product=OuterRef("pk"), is_active=True, stock__gt=0))
        qs = qs.filter(in_stock) if has_stock else qs.exclude(in_stock)
    return qs.order_by("-id")


def product_get_ops(*, product_id: int) -> Product:
    product = (
        Product.objects.select_related("category")
        .prefetch_related(Prefetch("skus", queryset=Sku.objects.order_by("sort", "id")))
        .filter(pk=product_id)
        .first()
    )
    if product is None:
        raise NotFound("No such product.")
    return product


def product_has_orders(*, product_id: int) -> bool:
    """Whether any order line points at the product (then it is never deleted, only taken off the shelf)."""
    return OrderItem.objects.filter(product_id=product_id).exists()

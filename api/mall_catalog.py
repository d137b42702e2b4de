"""The public catalog (categories, product list and detail) and reviews (operators hide reviews:
api/ops_reviews.py).

Product list and detail answer from the catalog cache (mall/cache.py) as pre-rendered JSON
bytes: a cache hit costs one cache round trip and no database query. These two views ignore
any Authorization header (the catalog is the same for everyone), so a logged-in shopper's
token is not looked up either. `X-Catalog-Cache: hit|miss` tells which way a page came.

Ratings: `review_summary.average_rating` is a one-decimal string ("4.5", rounded half up,
computed in integers) or null without reviews; `average_rating_tenths` is the same as an
integer (45). Prices are integer fen.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, throttling
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from api.fields import IdField, StrictCharField, StrictIntegerField, StrictURLField
from api.pagination import Pagination, paginated
from core.errors import NotFound
from mall.selectors import catalog as catalog_selectors
from mall.selectors import reviews as review_selectors
from mall.services import reviews as review_services

_renderer = JSONRenderer()


class CatalogRate:
    """The catalog pages' rate limit: per client IP at the `anon` rate, in fixed windows.

    The counter is incremented in the same Redis round trip that reads the cached page
    (mall/cache.py), and checked before any database work. DRF's default throttles keep a
    pickled list of request times per client and cost a GET and a SET each — twice, as the
    user and the anon throttle both key anonymous requests by IP — which would be most of a
    cached page's cost. A fixed window lets a client make up to twice the rate across a window
    boundary: fine for public, cached, read-only pages. 429 `throttled` when over."""

    def __init__(self, request):
        rate = api_settings.DEFAULT_THROTTLE_RATES.get("anon")
        self.key: str | None = None
        self.ttl = 60
        if not rate:
            return
        number, period = rate.split("/")
        self.limit, window = int(number), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
        self.now = time.time()
        self.slot = int(self.now // window)
        self.window = window
        self.key = f"throttle:catalog:{throttling.BaseThrottle().get_ident(request)}:{window}:{self.slot}"
        self.ttl = window + 1

    def over(self, count: int) -> bool:
        return self.key is not None and count > self.limit

    def check(self, count: int) -> None:
        if self.over(count):
            raise exceptions.Throttled(wait=(self.slot + 1) * self.window - self.now)

    def kwargs(self) -> dict:
        return {"count_key": self.key, "count_ttl": self.ttl, "check_count": self.check if self.key else None}


def _json(data) -> bytes:
    return _renderer.render(data)


def _bytes_response(body: bytes, *, hit: bool, status: int = 200) -> HttpResponse:
    response = HttpResponse(body, status=status, content_type="application/json")
    response["X-Catalog-Cache"] = "hit" if hit else "miss"
    return response


# --- output shapes (also the OpenAPI schema) ----------------------------------------------


class CategoryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = StrictCharField()
    parent_id = serializers.IntegerField(allow_null=True)


class CategoryRefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = StrictCharField()


class SkuOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = StrictCharField()
    price_fen = serializers.IntegerField()
    stock = serializers.IntegerField()


class ReviewSummaryOutput(serializers.Serializer):
    count = serializers.IntegerField()
    average_rating = StrictCharField(allow_null=True, help_text='One decimal, e.g. "4.5"; null without reviews')
    average_rating_tenths = serializers.IntegerField(allow_null=True, help_text="e.g. 45 for 4.5 stars")
    distribution = serializers.DictField(
        child=serializers.IntegerField(), required=False, help_text='{"1": n .. "5": n}'
    )


class ProductListItemOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = StrictCharField()
    cover = StrictCharField(help_text="The first image URL, or an empty string")
    category = CategoryRefOutput(allow_null=True)
    price_min_fen = serializers.IntegerField()
    price_max_fen = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    sold_count = serializers.IntegerField()
    review_summary = ReviewSummaryOutput()
    created_at = serializers.DateTimeField()


class ProductDetailOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = StrictCharField()
    description = StrictCharField()
    images = serializers.ListField(child=StrictCharField())
    cover = StrictCharField()
    category = CategoryRefOutput(allow_null=True)
    skus = SkuOutput(many=True)
    price_min_fen = serializers.IntegerField()
    price_max_fen = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    sold_count = serializers.IntegerField()
    review_summary = ReviewSummaryOutput()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProductPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = StrictCharField(allow_null=True)
    previous = StrictCharField(allow_null=True)
    results = ProductListItemOutput(many=True)


def _category_ref(product) -> dict | None:
    category = product.category
    return None if category is None else {"id": category.pk, "name": category.name}


def _summary(product) -> dict:
    tenths = catalog_selectors.average_rating_tenths(rating_sum=product.rating_sum, review_count=product.review_count)
    return {
        "count": product.review_count,
        "average_rating": None if tenths is None else f"{tenths // 10}.{tenths % 10}",
        "average_rating_tenths": tenths,
    }


def _iso(value) -> str:
    return serializers.DateTimeField().to_representation(value)


def product_list_item(product) -> dict:
    return {
        "id": product.pk,
        "title": product.title,
        "cover": product.images[0] if product.images else "",
        "category": _category_ref(product),
        "price_min_fen": product.price_min_fen,
        "price_max_fen": product.price_max_fen,
        "in_stock": product.stock_total > 0,
        "sold_count": product.sold_count,
        "review_summary": _summary(product),
        "created_at": _iso(product.created_at),
    }


def product_detail(product, distribution: dict[str, int]) -> dict:
    return {
        "id": product.pk,
        "title": product.title,
        "description": product.description,
        "images": list(product.images),
        "cover": product.images[0] if product.images else "",
        "category": _category_ref(product),
        "skus": [
            {"id": sku.pk, "name": sku.name, "price_fen": sku.price_fen, "stock": sku.stock}
            for sku in product.active_skus
        ],
        "price_min_fen": product.price_min_fen,
        "price_max_fen": product.price_max_fen,
        "in_stock": product.stock_total > 0,
        "sold_count": product.sold_count,
        "review_summary": {**_summary(product), "distribution": distribution},
        "created_at": _iso(product.created_at),
        "updated_at": _iso(product.updated_at),
    }


# --- categories ---------------------------------------------------------------------------


class CategoryListView(APIView):
    """Active categories (for the filter menu), in display order."""

    pagination_class = Pagination  # (the schema shows the paginated shape)

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: CategoryOutput(many=True)}, tags=["mall"])
    def get(self, request):
        paginator = Pagination()
        page = paginator.paginate_queryset(catalog_selectors.category_list_public(), request, view=self)
        data = [{"id": c.pk, "name": c.name, "parent_id": c.parent_id} for c in page]
        return paginator.get_paginated_response(data)


# --- products -----------------------------------------------------------------------------


class ProductListQuery(serializers.Serializer):
    category = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    min_price_fen = serializers.IntegerField(required=False, min_value=0, max_value=10**10)
    max_price_fen = serializers.IntegerField(required=False, min_value=0, max_value=10**10)
    q = StrictCharField(required=False, allow_blank=True, max_length=64)
    ordering = serializers.ChoiceField(choices=list(catalog_selectors.ORDERINGS), required=False, default="default")
    page = serializers.IntegerField(required=False, min_value=1, max_value=10**6, default=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=Pagination.max_page_size, default=20)

    def validate(self, attrs):
        low, high = attrs.get("min_price_fen"), attrs.get("max_price_fen")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"max_price_fen": ["Must not be below min_price_fen."]})
        return attrs


def _canonical(params: dict) -> dict[str, str]:
    """The validated parameters that change the page, as strings (defaults left out)."""
    defaults = {"ordering": "default", "page": 1, "page_size": 20, "q": ""}
    return {k: str(v) for k, v in params.items() if v is not None and defaults.get(k, object()) != v}


class ProductListView(APIView):
    """On-shelf products. Filters: `category` (includes its sub-categories), `min_price_fen` /
    `max_price_fen` (on the cheapest active SKU's price), `q` (case-insensitive substring of the
    title or description). `ordering`: default (operator's sort), newest, price, -price, sales,
    rating. Paginated with `page` and `page_size` (≤ 100)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # CatalogRate, in the cache's round trip

    @extend_schema(
        operation_id="v1_products_list",
        parameters=[ProductListQuery],
        responses={200: ProductPageOutput},
        tags=["mall"],
    )
    def get(self, request):
        query = ProductListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = _canonical(query.validated_data)
        base = request.build_absolute_uri(request.path)
        key = {**params, "_base": base}

        def build() -> bytes:
            data = query.validated_data
            qs = catalog_selectors.product_list_public(
                category_id=data.get("category"),
                min_price_fen=data.get("min_price_fen"),
                max_price_fen=data.get("max_price_fen"),
                q=data.get("q", "").strip(),
                ordering=data["ordering"],
            )
            page, size = data["page"], data["page_size"]
            count = qs.count()
            if page > 1 and (page - 1) * size >= count:  # past the last page, as every list answers
                raise NotFound(_("Page %(page)d is past the last page (%(last)d).")
                               % {"page": page, "last": max(1, -(-count // size))})
            rows = list(qs[(page - 1) * size : page * size])

            def link(number: int) -> str:
                return f"{base}?{urlencode(sorted({**params, 'page': str(number)}.items()))}"

            return _json(
                {
                    "count": count,
                    "next": link(page + 1) if page * size < count else None,
                    "previous": link(page - 1) if page > 1 else None,
                    "results": [product_list_item(p) for p in rows],
                }
            )

        page = catalog_selectors.catalog_list_cached(params=key, build=build, **CatalogRate(request).kwargs())
        return _bytes_response(page.body, hit=page.hit)


class ProductDetailView(APIView):
    """An on-shelf product with its active SKUs, images, category and review summary (404 otherwise)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # CatalogRate, in the cache's round trip

    def dispatch(self, request, *args, **kwargs):
        """Fast path: a GET that the catalog cache can answer is answered here, as plain Django,
        before DRF wraps the request (content negotiation, authenticators, permissions, the
        exception handler). That machinery is most of a cache hit's cost. Anything else — a
        miss, a 404, a throttled client, another method — goes through DRF as usual."""
        if request.method == "GET":
            rate = CatalogRate(request)
            page = catalog_selectors.catalog_detail_cached(
                product_id=kwargs["pk"], build=None, count_key=rate.key, count_ttl=rate.ttl
            )
            if page.hit and not rate.over(page.count):
                return _bytes_response(page.body, hit=True)
            request.catalog_count = page.count  # counted once: get() checks it, does not count again
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(responses={200: ProductDetailOutput}, tags=["mall"])
    def get(self, request, pk: int):
        def build() -> bytes:
            product = catalog_selectors.product_get_public(product_id=pk)
            distribution = catalog_selectors.product_review_distribution(product_id=pk)
            return _json(product_detail(product, distribution))

        rate = CatalogRate(request)
        counted = getattr(request._request, "catalog_count", None)
        if counted is None:
            page = catalog_selectors.catalog_detail_cached(product_id=pk, build=build, **rate.kwargs())
        else:
            rate.check(counted)
            page = catalog_selectors.catalog_detail_cached(product_id=pk, build=build)
        return _bytes_response(page.body, hit=page.hit)


# --- reviews ------------------------------------------------------------------------------


class ReviewerOutput(serializers.Serializer):
    nickname = StrictCharField()
    avatar_url = StrictCharField()


class ReviewOutput(serializers.Serializer):
    id = serializers.IntegerField()
    rating = serializers.IntegerField()
    text = StrictCharField()
    images = serializers.ListField(child=StrictCharField())
    sku_name = StrictCharField(source="order_item.sku_name")
    user = ReviewerOutput()
    created_at = serializers.DateTimeField()


class ReviewCreateInput(serializers.Serializer):
    order_item_id = IdField()
    rating = StrictIntegerField(min_value=1, max_value=5)
    text = StrictCharField(max_length=2000, required=False, allow_blank=True, default="", trim_whitespace=False)
    images = serializers.ListField(
        child=StrictURLField(max_length=512), required=False, default=list, max_length=9
    )


class ProductReviewsView(APIView):
    """GET: a product's visible reviews, newest first (public). POST: the buyer of a completed
    order line reviews it, once per line (409 `already_reviewed`, `order_not_completed`)."""

    pagination_class = Pagination  # (the schema shows the paginated shape)

    def get_permissions(self):
        request = getattr(self, "request", None)
        return [AllowAny()] if request is not None and request.method == "GET" else [IsAuthenticated()]

    def get_authenticators(self):
        # Reading reviews is public: do not spend a token lookup on it.
        request = getattr(self, "request", None)  # None while the OpenAPI schema is generated
        return [] if request is not None and request.method == "GET" else super().get_authenticators()

    @extend_schema(responses={200: ReviewOutput(many=True)}, tags=["mall"])
    def get(self, request, pk: int):
        if not catalog_selectors.product_exists_public(product_id=pk):
            raise NotFound("No such product.")
        return paginated(self, request, review_selectors.review_list_visible(product_id=pk), ReviewOutput)

    @extend_schema(request=ReviewCreateInput, responses={201: ReviewOutput}, tags=["mall"])
    def post(self, request, pk: int):
        data = ReviewCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        review = review_services.review_create(
            user=request.user,
            product_id=pk,
            order_item_id=data.validated_data["order_item_id"],
            rating=data.validated_data["rating"],
            text=data.validated_data["text"],
            images=data.validated_data["images"],
        )
        review = review_selectors.review_get(review_id=review.pk)
        return Response(ReviewOutput(review).data, status=201)

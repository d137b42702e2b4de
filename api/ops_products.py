"""Operators manage products: /api/v1/ops/products/ (staff with the mall.*_product permissions).

PUT replaces the product (title and skus required); PATCH changes only what it sends. With
`skus`, SKUs are matched by `id` (an existing SKU may omit price_fen/stock to keep them), SKUs
without an id are created, and the product's SKUs not listed are deactivated (never deleted:
order lines point at them). A SKU's `stock` is an absolute level; while orders come in, use
POST /api/v1/ops/skus/{id}/adjust-stock/ {delta} instead, which moves stock atomically.

DELETE deletes a product that was never ordered; one that was ordered is only taken off the
shelf. The answer says which: `{"id", "deleted": true|false, "on_shelf": false}`.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.fields import IdField, StrictCharField, StrictIntegerField, StrictURLField
from api.pagination import Pagination, paginated
from mall.selectors import catalog as catalog_selectors
from mall.services import catalog as catalog_services


class StrictBooleanField(serializers.BooleanField):
    default_error_messages = {"strict": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data):
        if type(data) is not bool:
            self.fail("strict")
        return data


class SkuInput(serializers.Serializer):
    id = IdField(required=False)
    name = StrictCharField(max_length=catalog_services.SKU_NAME_MAX)
    price_fen = StrictIntegerField(required=False, min_value=1, max_value=catalog_services.PRICE_MAX_FEN)
    stock = StrictIntegerField(required=False, min_value=0, max_value=catalog_services.STOCK_MAX)
    sort = StrictIntegerField(required=False, min_value=-(10**6), max_value=10**6)

    def validate(self, attrs):
        if "id" not in attrs:
            missing = [key for key in ("price_fen", "stock") if key not in attrs]
            if missing:
                raise serializers.ValidationError({key: ["Required for a new SKU."] for key in missing})
        return attrs


class ProductInput(serializers.Serializer):
    title = StrictCharField(max_length=catalog_services.TITLE_MAX)
    description = StrictCharField(
        max_length=catalog_services.DESCRIPTION_MAX, required=False, allow_blank=True, default="", trim_whitespace=False
    )
    images = serializers.ListField(
        child=StrictURLField(max_length=catalog_services.URL_MAX),
        required=False,
        default=list,
        max_length=catalog_services.IMAGES_MAX,
    )
    category = IdField(required=False, allow_null=True, default=None)
    on_shelf = StrictBooleanField(required=False, default=False)
    sort = StrictIntegerField(required=False, default=0, min_value=-(10**6), max_value=10**6)
    skus = SkuInput(many=True, allow_empty=False, max_length=catalog_services.SKUS_MAX)

    def validate_skus(self, skus):
        if any("name" not in sku for sku in skus):  # PATCH skips missing fields; a SKU still needs its name
            raise serializers.ValidationError("Each SKU needs a name.")
        names = [sku["name"].strip() for sku in skus]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise serializers.ValidationError(f"Duplicate SKU names: {', '.join(duplicates)}.")
        ids = [sku["id"] for sku in skus if "id" in sku]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError("A SKU id appears twice.")
        return skus


class OpsSkuOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = StrictCharField()
    price_fen = serializers.IntegerField()
    stock = serializers.IntegerField()
    is_active = serializers.BooleanField()
    sort = serializers.IntegerField()


class OpsProductOutput(serializers.Serializer):
    id = serializers.IntegerField()
    title = StrictCharField()
    description = StrictCharField()
    images = serializers.ListField(child=StrictCharField())
    category = serializers.IntegerField(source="category_id", allow_null=True)
    category_name = serializers.SerializerMethodField()
    on_shelf = serializers.BooleanField()
    sort = serializers.IntegerField()
    sold_count = serializers.IntegerField()
    review_count = serializers.IntegerField()
    average_rating = serializers.SerializerMethodField()
    skus = OpsSkuOutput(many=True, source="skus.all")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_category_name(self, product) -> str | None:
        return product.category.name if product.category_id else None

    def get_average_rating(self, product) -> str | None:
        return catalog_selectors.average_rating_text(rating_sum=product.rating_sum, review_count=product.review_count)


class OpsProductQuery(serializers.Serializer):
    on_shelf = serializers.BooleanField(required=False, allow_null=True, default=None)
    has_stock = serializers.BooleanField(required=False, allow_null=True, default=None)
    category = serializers.IntegerField(required=False, min_value=1, max_value=2**62)
    q = StrictCharField(required=False, allow_blank=True, max_length=64, default="")


class _OpsProductPerms:
    permission_classes = [HasModelPerm]
    PERMS = {
        "GET": "mall.view_product",
        "POST": "mall.add_product",
        "PUT": "mall.change_product",
        "PATCH": "mall.change_product",
        "DELETE": "mall.delete_product",
    }

    @property
    def required_perm(self) -> str:
        # Unknown methods need a permission nobody has (DRF answers 405 before this anyway).
        return self.PERMS.get(self.request.method, "mall.__none__")


def _product_out(product_id: int) -> dict:
    return OpsProductOutput(catalog_selectors.product_get_ops(product_id=product_id)).data


def _service_fields(data: dict) -> dict:
    fields = {key: data[key] for key in ("title", "description", "images", "on_shelf", "sort") if key in data}
    if "category" in data:
        fields["category_id"] = data["category"]
    return fields


class OpsProductListView(_OpsProductPerms, APIView):
    """GET: every product (also off the shelf); filters `on_shelf`, `has_stock`, `category`, `q`.
    POST: create a product with its SKUs."""

    pagination_class = Pagination  # (the schema shows the paginated shape)

    @extend_schema(parameters=[OpsProductQuery], responses={200: OpsProductOutput(many=True)}, tags=["ops"])
    def get(self, request):
        query = OpsProductQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        qs = catalog_selectors.product_list_ops(
            on_shelf=data["on_shelf"],
            has_stock=data["has_stock"],
            category_id=data.get("category"),
            q=data["q"].strip(),
        )
        return paginated(self, request, qs, OpsProductOutput)

    @extend_schema(request=ProductInput, responses={201: OpsProductOutput}, tags=["ops"])
    def post(self, request):
        data = ProductInput(data=request.data)
        data.is_valid(raise_exception=True)
        skus = data.validated_data["skus"]
        if any("id" in sku for sku in skus):
            raise serializers.ValidationError({"skus": ["A new product takes new SKUs only (no ids)."]})
        product = catalog_services.product_create(skus=skus, **_service_fields(data.validated_data))
        return Response(_product_out(product.pk), status=201)


class OpsProductDetailView(_OpsProductPerms, APIView):
    @extend_schema(responses={200: OpsProductOutput}, tags=["ops"])
    def get(self, request, pk: int):
        return Response(_product_out(pk))

    def _update(self, request, pk: int, *, partial: bool):
        catalog_selectors.product_get_ops(product_id=pk)  # 404 before judging the body
        data = ProductInput(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        catalog_services.product_update(
            product_id=pk, skus=data.validated_data.get("skus"), **_service_fields(data.validated_data)
        )
        return Response(_product_out(pk))

    @extend_schema(request=ProductInput, responses={200: OpsProductOutput}, tags=["ops"])
    def put(self, request, pk: int):
        return self._update(request, pk, partial=False)

    @extend_schema(request=ProductInput, responses={200: OpsProductOutput}, tags=["ops"])
    def patch(self, request, pk: int):
        return self._update(request, pk, partial=True)

    @extend_schema(
        responses={
            200: inline_serializer(
                "ProductDeleted",
                {
                    "id": serializers.IntegerField(),
                    "deleted": serializers.BooleanField(),
                    "on_shelf": serializers.BooleanField(),
                },
            )
        },
        tags=["ops"],
    )
    def delete(self, request, pk: int):
        deleted = catalog_services.product_delete(product_id=pk)
        return Response({"id": pk, "deleted": deleted, "on_shelf": False})


class StockAdjustInput(serializers.Serializer):
    delta = StrictIntegerField(min_value=-catalog_services.STOCK_MAX, max_value=catalog_services.STOCK_MAX)

    def validate_delta(self, value):
        if value == 0:
            raise serializers.ValidationError("Must not be zero.")
        return value


class OpsSkuAdjustStockView(APIView):
    """Add `delta` (negative to remove) to a SKU's stock atomically; 409 `insufficient_stock` when
    it would go below zero (or above 10^7)."""

    permission_classes = [HasModelPerm]
    required_perm = "mall.change_product"

    @extend_schema(
        request=StockAdjustInput,
        responses={
            200: inline_serializer("SkuStock", {"id": serializers.IntegerField(), "stock": serializers.IntegerField()})
        },
        parameters=[OpenApiParameter("pk", int, OpenApiParameter.PATH)],
        tags=["ops"],
    )
    def post(self, request, pk: int):
        data = StockAdjustInput(data=request.data)
        data.is_valid(raise_exception=True)
        stock = catalog_services.sku_adjust_stock(sku_id=pk, delta=data.validated_data["delta"])
        return Response({"id": pk, "stock": stock})

"""Stock: taken with one conditional UPDATE (never oversold), given back with F().

`order_create` takes the stock of its items here; a campaign that holds stock for an order it
will create later (a crowdfund takes it when it starts, the order is created when it is
funded) takes and returns it with the same two functions, so stock has one set of rules.
"""
from __future__ import annotations

from django.db.models import F

from ..cache import catalog_invalidate
from ..errors import OutOfStock, SkuUnavailable
from ..models import Sku


def stock_take(*, sku_id: int, quantity: int) -> bool:
    """Take `quantity` of the SKU's stock if that much is left; False (nothing taken) otherwise."""
    return bool(Sku.objects.filter(pk=sku_id, stock__gte=quantity).update(stock=F("stock") - quantity))


def stock_return(*, sku_id: int, quantity: int) -> None:
    Sku.objects.filter(pk=sku_id).update(stock=F("stock") + quantity)


def sku_stock_hold(*, sku_id: int, quantity: int) -> Sku:
    """Take stock of one on-shelf, active SKU for an order to be created later (a campaign).
    Call inside the caller's transaction: a rollback gives it back. Raises SkuUnavailable (the
    SKU is unknown, inactive or its product off the shelf) or OutOfStock."""
    sku = Sku.objects.select_related("product").filter(pk=sku_id, is_active=True, product__on_shelf=True).first()
    if sku is None:
        raise SkuUnavailable(extra={"sku_ids": [sku_id]})
    if not stock_take(sku_id=sku_id, quantity=quantity):
        raise OutOfStock(extra={"sku_id": sku_id})
    catalog_invalidate(product_id=sku.product_id)
    return sku


def sku_stock_release(*, sku_id: int, quantity: int) -> None:
    """Give back stock held by `sku_stock_hold` (the campaign ended without an order)."""
    stock_return(sku_id=sku_id, quantity=quantity)
    product_id = Sku.objects.filter(pk=sku_id).values_list("product_id", flat=True).first()
    if product_id is not None:
        catalog_invalidate(product_id=product_id)

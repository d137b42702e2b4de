"""Helpers for the share-link, QR and poster tests: a product on the shelf (by SkuFactory), PNG checks.
Distributors and links come from tests/factories.py."""
from __future__ import annotations

import io

from PIL import Image

from tests.mall.factories import SkuFactory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_product(*, price_fen: int = 1990, title: str = "云南普洱熟茶 357克", images=None, on_shelf: bool = True):
    sku = SkuFactory(price_fen=price_fen, product__title=title, product__on_shelf=on_shelf)
    if images is not None:
        sku.product.images = images
        sku.product.save(update_fields=["images"])
    return sku.product


def png_image(body: bytes) -> Image.Image:
    assert body.startswith(PNG_SIGNATURE), body[:16]
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG"
    image.load()
    return image

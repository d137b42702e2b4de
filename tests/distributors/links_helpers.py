"""Helpers for the share-link, QR and poster tests."""
from __future__ import annotations

import io

from django.utils import timezone
from PIL import Image

from distributors.codes import code_generate
from distributors.models import Distributor, ShareLink
from tests.factories import UserFactory
from tests.mall.factories import SkuFactory

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_distributor(user=None, *, status: str = "approved", **user_fields) -> Distributor:
    user = user or UserFactory(**user_fields)
    return Distributor.objects.create(
        user=user,
        real_name="王五",
        phone="13700137000",
        status=status,
        invite_code=code_generate(),
        approved_at=timezone.now() if status == "approved" else None,
    )


def make_product(*, price_fen: int = 1990, title: str = "云南普洱熟茶 357克", images=None, on_shelf: bool = True):
    sku = SkuFactory(price_fen=price_fen, product__title=title, product__on_shelf=on_shelf)
    if images is not None:
        sku.product.images = images
        sku.product.save(update_fields=["images"])
    return sku.product


def make_link(distributor: Distributor, *, target_type: str = "store", target_id: int = 0, channel: str = ""):
    return ShareLink.objects.create(
        code=code_generate(), distributor=distributor, target_type=target_type, target_id=target_id, channel=channel
    )


def png_image(body: bytes) -> Image.Image:
    assert body.startswith(PNG_SIGNATURE), body[:16]
    image = Image.open(io.BytesIO(body))
    assert image.format == "PNG"
    image.load()
    return image

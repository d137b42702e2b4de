"""load_demo draws each demo product's picture and points the product at it (posters are not grey boxes)."""

import io

import pytest
from django.core.management import call_command
from PIL import Image

from distributors.poster import local_media_path
from mall.models import Product

pytestmark = pytest.mark.django_db


def test_each_demo_product_gets_its_own_drawn_picture_served_from_media(settings, tmp_path, capsys):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8810"
    settings.H5_BASE_URL = "http://127.0.0.1:8810/h5"
    call_command("load_demo")
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8810/admin/" in out and "http://127.0.0.1:8810/h5/" in out
    assert ":8000" not in out
    products = list(Product.objects.order_by("pk"))
    assert len(products) == 3
    seen = set()
    for product in products:
        url = product.images[0]
        assert url.startswith("http://127.0.0.1:8810/media/demo/")
        path = local_media_path(url)  # the poster reads it from MEDIA_ROOT
        assert path is not None
        data = path.read_bytes()
        seen.add(data)
        image = Image.open(io.BytesIO(data))
        assert image.size == (800, 800)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20  # drawn, not one flat colour
    assert len(seen) == 3


def test_another_port_moves_the_pictures_and_a_lost_file_is_drawn_again(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    call_command("load_demo")
    first = tmp_path / "demo" / "product-1.png"
    first.unlink()
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8810"
    call_command("load_demo")
    assert first.is_file()
    urls = [p.images for p in Product.objects.order_by("pk")]
    assert all(len(images) == 1 and images[0].startswith("http://127.0.0.1:8810/media/demo/") for images in urls)


def test_a_demo_products_poster_shows_its_picture_not_the_grey_box(settings, tmp_path, user_client, user):
    """A distributor's poster for a demo product draws the product's picture (the poster reads it
    from MEDIA_ROOT), not the grey placeholder it draws for a product without one."""
    from distributors.poster import IMAGE_BOX, PLACEHOLDER
    from distributors.services.distributors import distributor_apply, distributor_approve
    from tests.factories import UserFactory

    settings.MEDIA_ROOT = str(tmp_path)
    call_command("load_demo")
    distributor = distributor_apply(user=user, real_name="李四", phone="13900000000")
    if distributor.status != "approved":
        distributor_approve(actor=UserFactory(is_staff=True, is_superuser=True), distributor_id=distributor.pk)
    product = Product.objects.get(title="西湖龙井 明前特级")
    link = user_client.post("/api/v1/share-links/", {"target_type": "product", "target_id": product.pk}, format="json")
    assert link.status_code == 201, link.json()
    res = user_client.get(f"/api/v1/share-links/{link.json()['code']}/poster.png")
    assert res.status_code == 200
    body = b"".join(res.streaming_content) if res.streaming else res.content
    poster = Image.open(io.BytesIO(body)).convert("RGB")
    left, top, right, bottom = IMAGE_BOX
    corner = poster.getpixel((left + 20, top + 20))
    assert corner != PLACEHOLDER
    assert corner == (46, 107, 62)  # the 龙井's green background, scaled from 800 to 750

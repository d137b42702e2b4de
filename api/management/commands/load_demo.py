"""Demo data for `make run`: an operator (login printed), shoppers, follows, wallet money, products.

Idempotent: running it again keeps the same users (the operator's password is reset to
DEMO_OPERATOR_PASSWORD, or to a new random one that is printed).

Each demo product gets a picture drawn here with Pillow (its colour, its name in the CJK font of
scripts/fonts.sh, its price) under MEDIA_ROOT/demo/, named by PUBLIC_BASE_URL + MEDIA_URL, so
the share posters and the H5 pages show it. A second run with another PUBLIC_BASE_URL (another
PORT) draws missing files again and points the demo products at the new address. The URLs it
prints are PUBLIC_BASE_URL's.
"""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from PIL import Image, ImageDraw

from accounts.models import User
from accounts.services import follow_create
from core.money import yuan
from distributors.poster import load_font
from ledger.models import AccountKind
from ledger.services import account_get_or_create, ledger_post
from mall.models import Category, Product
from mall.services.catalog import category_create, product_create, product_update

DEMO_PRODUCTS = [
    ("茶叶", "西湖龙井 明前特级", "杭州西湖产区，明前采摘。", [("50g 罐装", 8800, 200), ("250g 礼盒", 39800, 50)]),
    ("茶叶", "云南普洱 熟茶饼", "勐海古树料，2019 年压制。", [("357g 饼", 16800, 80)]),
    ("茶具", "汝窑 功夫茶杯", "天青釉，开片。", [("单只", 3900, 500), ("四只装", 14800, 120)]),
]

# Background and accent colour of each product's picture, in DEMO_PRODUCTS order.
DEMO_COLOURS = [((46, 107, 62), (222, 236, 200)), ((92, 52, 32), (240, 214, 170)), ((58, 110, 128), (214, 236, 240))]
IMAGE_SIZE = 800

DEMO_SHOPPERS = [
    ("o-demo-alice", "Alice 爱丽丝"),
    ("o-demo-bob", "Bob 小明"),
    ("o-demo-carol", "Carol 小红"),
]


class Command(BaseCommand):
    help = "Load demo data (operator, shoppers, follows, wallet balances, products). Safe to run twice."

    def handle(self, *args, **options):
        password = os.environ.get("DEMO_OPERATOR_PASSWORD") or secrets.token_urlsafe(9)
        with transaction.atomic():
            operator, _ = User.objects.get_or_create(
                username="operator", defaults={"is_staff": True, "is_superuser": True, "nickname": "店主"}
            )
            operator.is_staff = operator.is_superuser = True
            operator.set_password(password)
            operator.save()

            shoppers = []
            for openid, nickname in DEMO_SHOPPERS:
                user, _ = User.objects.get_or_create(
                    openid=openid, defaults={"username": openid.replace("-", "_"), "nickname": nickname}
                )
                shoppers.append(user)
            follow_create(follower=shoppers[1], followee=shoppers[0], source="demo")
            follow_create(follower=shoppers[2], followee=shoppers[0], source="demo")

            if not Product.objects.exists():
                categories: dict[str, Category] = {}
                for category, title, description, skus in DEMO_PRODUCTS:
                    if category not in categories:
                        categories[category] = category_create(name=category)
                    product_create(
                        title=title,
                        description=description,
                        category_id=categories[category].pk,
                        on_shelf=True,
                        skus=[{"name": n, "price_fen": p, "stock": q} for n, p, q in skus],
                    )
            images = self._product_images()

            outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
            for user, amount in zip(shoppers, (12_345, 880, 0), strict=True):
                if amount:
                    wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)
                    ledger_post(
                        kind="demo.grant",
                        idempotency_key=f"demo.grant:{user.openid}",
                        legs=[(outside, -amount), (wallet, amount)],
                        memo="demo data",
                    )

        base = settings.PUBLIC_BASE_URL
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"  operator login: username=operator password={password}")
        self.stdout.write(f"  shop (H5):  {settings.H5_BASE_URL}/")
        self.stdout.write(f"  console:    {base}/admin/")
        self.stdout.write(f"  API docs:   {base}/api/docs/")
        self.stdout.write(f"  product pictures: {images} drawn under {Path(settings.MEDIA_ROOT) / 'demo'}")
        self.stdout.write(
            f'  shopper login (sandbox): POST {base}/wechat-sandbox/oauth/code/ {{"openid": "o-demo-alice"}}, '
            f'then POST {base}/api/v1/auth/wechat/ {{"code": ...}}'
        )
        self.stdout.write(f"  the whole story over HTTP: python manage.py demo_story --base {base}")

    def _product_images(self) -> int:
        """Draw the missing pictures and point each demo product at its own; returns how many
        files were drawn now."""
        folder = Path(settings.MEDIA_ROOT) / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        drawn = 0
        prefix = settings.PUBLIC_BASE_URL + settings.MEDIA_URL + "demo/"
        for index, (category, title, _description, skus) in enumerate(DEMO_PRODUCTS):
            name = f"product-{index + 1}.png"
            path = folder / name
            if not path.is_file():
                path.write_bytes(
                    draw_product_image(
                        title=title,
                        category=category,
                        price_fen=skus[0][1],
                        colours=DEMO_COLOURS[index % len(DEMO_COLOURS)],
                    )
                )
                drawn += 1
            url = prefix + name
            for product in Product.objects.filter(title=title):
                if product.images[:1] != [url]:
                    product_update(product_id=product.pk, images=[url, *product.images[1:]][:9])
        return drawn


def draw_product_image(*, title: str, category: str, price_fen: int, colours) -> bytes:
    """A square product picture: a soft two-tone background, a round emblem with the category's
    first character, the title and the starting price."""
    import io

    background, accent = colours
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), background)
    draw = ImageDraw.Draw(image)
    for y in range(IMAGE_SIZE // 2, IMAGE_SIZE):  # a lighter lower half, fading in
        t = (y - IMAGE_SIZE // 2) / (IMAGE_SIZE // 2)
        row = tuple(int(b + (a - b) * t * 0.35) for b, a in zip(background, accent, strict=True))
        draw.line([(0, y), (IMAGE_SIZE, y)], fill=row)
    centre, radius = IMAGE_SIZE // 2, 170
    draw.ellipse([centre - radius, 150, centre + radius, 150 + 2 * radius], fill=accent)
    emblem = load_font(190)
    draw.text((centre, 150 + radius), category[:1], font=emblem, fill=background, anchor="mm")
    title_font, price_font = load_font(54), load_font(44)
    draw.text((centre, 600), title, font=title_font, fill=(255, 255, 255), anchor="mm")
    draw.text((centre, 680), f"¥{yuan(price_fen)} 起", font=price_font, fill=accent, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()

"""Demo data for `make run`: an operator (login printed), shoppers, follows, wallet money, products.

Idempotent: running it again keeps the same users (the operator's password is reset to
DEMO_OPERATOR_PASSWORD, or to a new random one that is printed).
"""
import os
import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from accounts.services import follow_create
from ledger.models import AccountKind
from ledger.services import account_get_or_create, ledger_post
from mall.models import Category, Product
from mall.services.catalog import category_create, product_create

DEMO_PRODUCTS = [
    ("茶叶", "西湖龙井 明前特级", "杭州西湖产区，明前采摘。", [("50g 罐装", 8800, 200), ("250g 礼盒", 39800, 50)]),
    ("茶叶", "云南普洱 熟茶饼", "勐海古树料，2019 年压制。", [("357g 饼", 16800, 80)]),
    ("茶具", "汝窑 功夫茶杯", "天青釉，开片。", [("单只", 3900, 500), ("四只装", 14800, 120)]),
]

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

        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.stdout.write(f"  operator login: username=operator password={password}")
        self.stdout.write("  admin:    http://127.0.0.1:8000/admin/")
        self.stdout.write("  API docs: http://127.0.0.1:8000/api/docs/")
        self.stdout.write(
            "  shopper login (sandbox): POST /wechat-sandbox/oauth/code/ {\"openid\": \"o-demo-alice\"}, "
            "then POST /api/v1/auth/wechat/ {\"code\": ...}"
        )

"""The console shows money as yuan (¥398.00) while storing fen (core/admin_money.py), and is
branded "fenxiao"."""

import re

import pytest
from django.contrib import admin
from django.core.management import call_command

from accounts.models import User
from core.admin_money import MoneyAdminMixin, fen_fields, yuan_text
from ledger.models import Account, AccountKind
from mall.models import Order, Sku
from tests.factories import UserFactory
from tests.mall.orders_helpers import paid_order

pytestmark = pytest.mark.django_db


def test_yuan_text_is_exact_from_integers():
    assert [yuan_text(v) for v in (0, 5, 39800, 123456789, -150, None)] == [
        "¥0.00",
        "¥0.05",
        "¥398.00",
        "¥1,234,567.89",
        "¥-1.50",
        "-",
    ]


def test_every_admin_of_a_model_with_fen_fields_shows_them_as_yuan():
    """No admin of ours shows a `*_fen` field raw: each has the mixin, and each fen column of its
    change list is the ¥ display, sorted by the field."""
    missing, raw = [], []
    for model, model_admin in admin.site._registry.items():
        fen = fen_fields(model)
        if not fen:
            continue
        if not isinstance(model_admin, MoneyAdminMixin):
            missing.append(model.__name__)
            continue
        shown = model_admin.get_list_display(request=None)
        raw += [f"{model.__name__}.{n}" for n in shown if n in fen]
        for name in shown:
            if isinstance(name, str) and name.endswith("__yuan"):
                display = getattr(model_admin, name)
                assert display.admin_order_field == name[: -len("__yuan")]
                assert display.short_description.endswith("(¥)")
        for inline in model_admin.inlines:
            if fen_fields(inline.model):
                assert issubclass(inline, MoneyAdminMixin), inline
    assert missing == [] and raw == []


def test_change_lists_and_pages_show_yuan_and_sort_by_the_fen_field(admin_client):
    call_command("load_demo")  # wallets of 123.45 and 8.80 yuan, SKUs at 88, 398, 168, 39 and 148 yuan
    admin_client.force_login(User.objects.get(username="operator"))  # load_demo set a new password
    order = paid_order(UserFactory(), price_fen=39_800, quantity=1)
    listing = admin_client.get("/admin/mall/order/").content.decode()
    assert "¥398.00" in listing
    assert ">39800<" not in listing
    page = admin_client.get(f"/admin/mall/order/{order.pk}/change/").content.decode()
    assert "¥398.00" in page
    accounts = admin_client.get("/admin/ledger/account/?kind__exact=user_wallet").content.decode()
    assert "¥123.45" in accounts and "¥8.80" in accounts
    wallet = Account.objects.filter(kind=AccountKind.USER_WALLET, balance_fen=12_345).get()
    account_page = admin_client.get(f"/admin/ledger/account/{wallet.pk}/change/").content.decode()
    assert "¥123.45" in account_page and "12345" not in re.sub(r"<[^>]+>", " ", account_page)
    products = admin_client.get("/admin/mall/product/").content.decode()
    assert "¥88.00–¥398.00" in products and "¥168.00" in products  # SKU price ranges
    # the ¥ column sorts by the fen field: the dearest SKU first when sorted descending
    product = Sku.objects.get(name="250g 礼盒").product
    product_page = admin_client.get(f"/admin/mall/product/{product.pk}/change/").content.decode()
    assert "In fen: 39800 = ¥398.00." in product_page  # the SKU price is typed in fen, and says so
    paid_order(UserFactory(), price_fen=8_800, quantity=1)
    up = admin_client.get("/admin/mall/order/?o=4").content.decode()  # the total (¥) column
    down = admin_client.get("/admin/mall/order/?o=-4").content.decode()
    assert up.index('field-total_fen__yuan">¥88.00') < up.index('field-total_fen__yuan">¥398.00')
    assert down.index('field-total_fen__yuan">¥398.00') < down.index('field-total_fen__yuan">¥88.00')
    assert Order.objects.get(pk=order.pk).total_fen == 39_800  # stored as fen


def test_the_console_is_branded_fenxiao(admin_client):
    index = admin_client.get("/admin/").content.decode()
    assert "<title>站点管理 | fenxiao</title>" in index
    assert ">fenxiao</a>" in index
    english = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<title>Site administration | fenxiao</title>" in english


def test_every_change_list_add_and_change_page_opens_with_the_mixin(admin_client, rf):
    """The mixin rewrites list_display, fields and fieldsets: every admin page still opens."""
    call_command("load_demo")
    admin_client.force_login(User.objects.get(username="operator"))
    paid_order(UserFactory(), price_fen=39_800, quantity=1)
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        base = f"/admin/{meta.app_label}/{meta.model_name}/"
        assert admin_client.get(base).status_code == 200, base
        add = admin_client.get(base + "add/")
        assert add.status_code in (200, 403), base
        first = model_admin.get_queryset(rf.get(base)).order_by("pk").first()
        if first is not None:
            change = admin_client.get(f"{base}{first.pk}/change/")
            assert change.status_code == 200, (base, change.status_code)


def test_money_in_object_names_is_yuan_too():
    """Object names (page titles, breadcrumbs, related columns in the console) show ¥ as well."""
    from campaigns.models import EnvelopeShare
    from commissions.models import Withdrawal
    from ledger.models import Entry
    from wechat.models import WechatPayment

    assert str(Withdrawal(pk=7, amount_fen=5970, status="paid")) == "withdrawal #7 ¥59.70 (paid)"
    assert str(WechatPayment(out_trade_no="N1", amount_fen=39800, status="paid")) == "N1 ¥398.00 (paid)"
    assert str(EnvelopeShare(envelope_id=3, position=2, amount_fen=5)) == "envelope 3 #2 ¥0.05"
    assert str(Entry(account_id=9, amount_fen=-1050)) == "9 ¥-10.50"
    assert str(Entry(account_id=9, amount_fen=1000)) == "9 ¥+10.00"

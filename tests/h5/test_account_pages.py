"""The pages that belong to a user: they render for anyone (a shell with the hooks of docs/h5.md)
and never carry the user's data in the HTML — the page's script reads it from the API with the
Bearer token. The figures they show are the API's, checked here through the same endpoints."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

import pytest
from django.test import Client

from h5.templatetags.h5 import yuan_text
from mall.services.orders import order_create
from tests.commissions.wallet_helpers import fund, withdrawal_settings
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory
from tests.h5.helpers import tea_product, text
from tests.mall.factories import ADDRESS

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
JS = Path(__file__).resolve().parent / "js"  # the node probes of h5.js

PRIVATE_PAGES = [
    ("/h5/orders", ["orders", "order-filters"]),
    ("/h5/distributor", ["distributor-centre", "not-distributor", "wallet-available", "wallet-frozen", "go-links"]),
    ("/h5/distributor/apply", ["apply-form", "apply-name", "apply-phone", "apply-invite", "apply-submit"]),
    ("/h5/recruit", ["apply-form", "apply-submit"]),
    ("/h5/distributor/links", ["link-form", "link-target", "link-create", "links"]),
    ("/h5/distributor/stats", ["stats", "stats-chart", "stats-clicks", "stats-orders", "stats-gmv", "stats-days"]),
    ("/h5/distributor/team", ["team", "customers", "tab-team", "tab-customers"]),
    ("/h5/distributor/commissions", ["commissions", "commission-filter"]),
    (
        "/h5/distributor/wallet",
        [
            "wallet",
            "wallet-available",
            "wallet-frozen",
            "wallet-withdrawing",
            "wallet-withdrawn",
            "wallet-debt",
            "wallet-entries",
            "go-withdraw",
        ],
    ),
    (
        "/h5/distributor/withdraw",
        ["withdraw-form", "withdraw-amount", "withdraw-submit", "withdraw-net", "withdraw-rules", "wallet-available"],
    ),
    ("/h5/distributor/withdrawals", ["withdrawals", "go-withdraw"]),
    (
        "/h5/distributor/withdrawals/1",
        ["withdrawal", "withdrawal-status", "withdrawal-amount", "withdrawal-net", "not-found"],
    ),
    ("/h5/distributor/commissions", ["commissions"]),
]


@pytest.fixture
def rich_user():
    """A distributor with money, a link and an order with an address: the data no page may print."""
    distributor = DistributorFactory(user=UserFactory(nickname="有钱的分销商"), real_name="赵六", phone="13912345678")
    fund(distributor.user, 123_456)
    _, big, _ = tea_product()
    address = {**ADDRESS, "name": "收货人甲", "phone": "13511112222", "detail": "保密路 88 号"}
    order = order_create(user=distributor.user, items=[{"sku_id": big.pk, "quantity": 3}], address=address)
    link = ShareLinkFactory(distributor=distributor)
    return distributor, order, link


SECRETS = ["赵六", "13912345678", "收货人甲", "13511112222", "保密路 88 号", "¥1234.56", "123456", "¥1194.00"]


@pytest.mark.parametrize(("path", "hooks"), PRIVATE_PAGES)
def test_private_pages_render_their_hooks_and_no_private_data(rich_user, path, hooks):
    res = Client().get(path)
    assert res.status_code == 200
    html = text(res)
    for hook in hooks:
        assert f'data-testid="{hook}"' in html, hook
    for secret in SECRETS:
        assert secret not in html, secret


def test_order_pages_are_shells_even_for_the_owners_order(rich_user):
    _, order, _ = rich_user
    for path in (f"/h5/orders/{order.no}", f"/h5/orders/{order.no}/paid", f"/h5/orders/{order.no}/refund"):
        res = Client().get(path)
        assert res.status_code == 200, path
        html = text(res)
        assert f'data-order-no="{order.no}"' in html
        for secret in SECRETS:
            assert secret not in html, (path, secret)
    detail = text(Client().get(f"/h5/orders/{order.no}"))
    for hook in (
        "order-status",
        "order-items",
        "order-total",
        "order-paid",
        "order-address",
        "order-pay",
        "order-cancel",
        "order-confirm",
        "order-refund",
        "not-found",
    ):
        assert f'data-testid="{hook}"' in detail, hook


def test_link_page_points_at_the_qr_and_poster_images(rich_user):
    _, _, link = rich_user
    html = text(Client().get(f"/h5/distributor/links/{link.code}"))
    assert f'src="/api/v1/share-links/{link.code}/qr.png"' in html
    assert f'src="/api/v1/share-links/{link.code}/poster.png"' in html
    png = Client().get(f"/api/v1/share-links/{link.code}/qr.png")
    assert png.status_code == 200 and png["Content-Type"] == "image/png"


def test_links_page_offers_the_on_shelf_products(rich_user):
    html = text(Client().get("/h5/distributor/links"))
    assert "明前龙井 250g" in html and 'value="store:0"' in html and 'value="recruit:0"' in html


def test_withdraw_page_states_the_rules_in_yuan():
    withdrawal_settings(withdrawal_min_fen=1_000, withdrawal_fee_bps=60, withdrawal_min_fee_fen=10)
    html = text(Client().get("/h5/distributor/withdraw"))
    assert 'data-min-fen="1000"' in html and 'data-fee-bps="60"' in html
    assert "¥10.00" in html and "0.6%" in html and "¥0.10" in html
    en = text(Client().get("/h5/distributor/withdraw", HTTP_ACCEPT_LANGUAGE="en"))
    assert "At least ¥10.00; fee 0.6% (at least ¥0.10)" in en


def test_the_wallet_page_reads_the_figures_the_api_gives_its_owner(rich_user, client_for):
    distributor, _, _ = rich_user
    html = text(Client().get("/h5/distributor/wallet"))
    assert 'H5.api("/wallet/")' in html
    wallet = client_for(distributor.user).get("/api/v1/wallet/").json()
    assert wallet == {
        "available_fen": 123_456,
        "frozen_fen": 0,
        "withdrawing_fen": 0,
        "withdrawn_fen": 0,
        "debt_fen": 0,
    }
    assert yuan_text(wallet["available_fen"]) == "¥1234.56"
    other = client_for(UserFactory()).get("/api/v1/wallet/").json()
    assert other["available_fen"] == 0


@pytest.mark.parametrize(
    ("fen", "shown"),
    [(0, "¥0.00"), (5, "¥0.05"), (39_800, "¥398.00"), (123_456, "¥1234.56"), (-250, "-¥2.50"), (None, "")],
)
def test_yuan_filter(fen, shown):
    assert yuan_text(fen) == shown


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (the browser tests cover h5.js)")
def test_h5_js_formats_yuan_like_the_server_and_reads_the_page_config():
    probe = JS / "config_probe.js"
    config = {
        "api": "/api/v1",
        "h5": "/h5",
        "login": "/h5/login",
        "messages": {"network": "网络不可用"},
        "labels": {"order": {"paid": "已付款，待发货"}},
    }
    values = [0, 1, 5, 10, 99, 100, 39_800, 123_456, 100_000_001, -250]
    out = subprocess.run(
        ["node", str(probe), str(ROOT / "h5/static/h5/h5.js"), json.dumps(config), json.dumps(values)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["yuan"] == [yuan_text(v) for v in values]
    assert got["label"] == "已付款，待发货" and got["unknown"] == "nope"
    assert got["login"] == "/h5/login?next=%2Fh5%2Forders%3Fstatus%3Dpaid"
    assert got["t"] == "网络不可用"


def test_stats_ranges_end_on_the_shops_today(settings):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    html = text(Client().get("/h5/distributor/stats"))
    today = datetime.now(ZoneInfo(settings.TIME_ZONE)).date().isoformat()
    assert f'var today = "{today}"' in html


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("logged_in", [True, False])
def test_h5_js_live_share_carries_the_distributors_own_link(logged_in):
    probe = JS / "share_probe.js"
    config = {"api": "/api/v1", "h5": "/h5", "login": "/h5/login", "wechat_mode": "live", "messages": {}, "labels": {}}
    out = subprocess.run(
        ["node", str(probe), str(ROOT / "h5/static/h5/h5.js"), json.dumps(config), "token" if logged_in else "-"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    calls = json.loads(out.stdout)
    page = "https://shop.example.com/h5/products/7?sc=SOTHER12"
    assert calls["fetch"][0]["url"] == "/h5/jssdk?url=" + quote(page, safe="")
    assert calls["wx"][0][0] == "config" and "updateTimelineShareData" in calls["wx"][0][2]
    timeline = next(c[1] for c in calls["wx"] if c[0] == "timeline")
    assert timeline["title"] == "龙井" and timeline["imgUrl"] == "https://img.example.com/c.png"
    if logged_in:
        link_call = calls["fetch"][1]
        assert (link_call["url"], link_call["method"], link_call["auth"]) == (
            "/api/v1/share-links/",
            "POST",
            "Bearer tok-1",
        )
        assert json.loads(link_call["body"]) == {"target_type": "product", "channel": "moments", "target_id": 7}
        assert timeline["link"] == "https://shop.example.com/s/SMINE123"
    else:
        assert len(calls["fetch"]) == 1
        assert timeline["link"] == page

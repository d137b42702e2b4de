"""The crowdfund pages of the operators' console: crowdfunds, contributions and their refunds
are read-only (money fields included), the settings and per-product rules are edited
through the services, and a changelist costs the same queries for 1 row or 20."""
from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import (
    CampaignRefundStatus,
    Contribution,
    ContributionStatus,
    CrowdfundProductRule,
    CrowdfundSettings,
    CrowdfundStatus,
    RefundReason,
)
from tests.factories import UserFactory
from tests.mall.orders_helpers import make_sku
from wechat.models import RefundStatus as WechatRefundStatus

from .ops_helpers import contribute, event, fund, make_crowdfund, refund, staff_with

pytestmark = pytest.mark.django_db

K = ContributionStatus
S = CrowdfundStatus
MONEY = {
    "crowdfund": ("goal_fen", "raised_fen", "reserved_fen", "price_fen", "status", "quantity"),
    "contribution": ("amount_fen", "refunded_fen", "status"),
    "campaignrefund": ("amount_fen", "status", "attempt"),
}
SETTINGS_DEFAULTS = {"enabled": "on", "default_duration_hours": "24", "max_duration_hours": "168",
                     "min_contribution_fen": "100", "pay_window_minutes": "10", "min_goal_fen": "0"}


@pytest.fixture
def rows(db):
    cf = make_crowdfund(price_fen=3000, initiator=UserFactory(nickname="发起人"))
    paid = contribute(cf, 2000)
    late = contribute(cf, 700, status=K.REFUNDING)
    failed = refund(late, status=CampaignRefundStatus.FAILED, reason=RefundReason.NO_ROOM, attempt=3,
                    wechat_status=WechatRefundStatus.FAILED)
    event(cf, "refund_needs_operator", subject="contribution", contribution=late)
    done = make_crowdfund(price_fen=1000)
    contribute(done, 1000)
    done = fund(done)
    return {"cf": cf, "paid": paid, "late": late, "failed": failed, "done": done}


def page(client, url: str) -> str:
    res = client.get(url)
    assert res.status_code == 200, (url, res.status_code)
    return res.content.decode()


def test_every_changelist_and_change_page_opens(admin_client, rows):
    rule = CrowdfundProductRule.objects.create(product=rows["cf"].product, enabled=False)
    CrowdfundSettings.objects.create(pk=1)
    pages = {
        "crowdfund": rows["cf"].pk,
        "contribution": rows["late"].pk,
        "campaignrefund": rows["failed"].pk,
        "crowdfundsettings": 1,
        "crowdfundproductrule": rule.pk,
    }
    for model, pk in pages.items():
        page(admin_client, f"/admin/campaigns/{model}/")
        page(admin_client, f"/admin/campaigns/{model}/{pk}/change/")
    detail = page(admin_client, f"/admin/campaigns/crowdfund/{rows['cf'].pk}/change/")
    assert rows["paid"].no in detail and rows["late"].no in detail  # the contributions inline
    assert "refund_needs_operator" in detail  # the events inline
    assert rows["failed"].no in page(admin_client, f"/admin/campaigns/contribution/{rows['late'].pk}/change/")
    listing = page(admin_client, "/admin/campaigns/crowdfund/")
    assert "发起人" in listing and rows["cf"].title in listing


@pytest.mark.parametrize(("url", "shows", "hides"), [
    ("/admin/campaigns/crowdfund/?status__exact=ordered", "done", "cf"),
    ("/admin/campaigns/crowdfund/?status__exact=open", "cf", "done"),
    ("/admin/campaigns/crowdfund/?needs_operator=yes", "cf", "done"),
    ("/admin/campaigns/crowdfund/?needs_operator=no", "done", "cf"),
    ("/admin/campaigns/crowdfund/?q=发起人", "cf", "done"),
])
def test_crowdfund_filters_and_search(admin_client, rows, url, shows, hides):
    body = page(admin_client, url)
    assert f"/admin/campaigns/crowdfund/{rows[shows].pk}/change/" in body
    assert f"/admin/campaigns/crowdfund/{rows[hides].pk}/change/" not in body


def test_refund_filters_by_status_and_reason(admin_client, rows):
    ok = refund(rows["paid"], amount_fen=100, reason=RefundReason.ORDER_REFUND, book=False,
                status=CampaignRefundStatus.SUCCEEDED)
    for url, shows, hides in [
        ("?status__exact=failed", rows["failed"], ok),
        ("?status__exact=succeeded", ok, rows["failed"]),
        ("?reason__exact=no_room", rows["failed"], ok),
        ("?reason__exact=order_refund", ok, rows["failed"]),
    ]:
        body = page(admin_client, f"/admin/campaigns/campaignrefund/{url}")
        assert f"/campaignrefund/{shows.pk}/change/" in body and f"/campaignrefund/{hides.pk}/change/" not in body
    page(admin_client, "/admin/campaigns/contribution/?status__exact=paid")
    body = page(admin_client, "/admin/campaigns/crowdfund/?created_at__gte=2020-01-01+00:00:00%2B08:00")
    assert f"/crowdfund/{rows['cf'].pk}/change/" in body


@pytest.mark.parametrize("model", ["crowdfund", "contribution", "campaignrefund"])
def test_money_fields_are_read_only(admin_client, rows, model):
    obj = {"crowdfund": rows["cf"], "contribution": rows["late"], "campaignrefund": rows["failed"]}[model]
    url = f"/admin/campaigns/{model}/{obj.pk}/change/"
    body = page(admin_client, url)
    for field in MONEY[model]:
        assert f'name="{field}"' not in body, field  # shown, never as an input
    assert 'name="_save"' not in body
    before = list(type(obj).objects.filter(pk=obj.pk).values())
    res = admin_client.post(url, {field: "1" for field in MONEY[model]})
    assert res.status_code == 403
    assert list(type(obj).objects.filter(pk=obj.pk).values()) == before
    assert admin_client.get(f"/admin/campaigns/{model}/add/").status_code == 403
    assert admin_client.post(f"/admin/campaigns/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_a_viewer_sees_crowdfunds_but_cannot_change_settings(client, rows):
    client.force_login(staff_with("campaigns.view_crowdfund", "campaigns.view_contribution"))
    page(client, "/admin/campaigns/crowdfund/")
    page(client, f"/admin/campaigns/crowdfund/{rows['cf'].pk}/change/")
    assert client.get("/admin/campaigns/crowdfundsettings/").status_code == 403
    assert client.post("/admin/campaigns/crowdfundsettings/add/", SETTINGS_DEFAULTS).status_code == 403
    assert not CrowdfundSettings.objects.exists()


def test_csv_export_of_the_selected_crowdfunds(admin_client, rows):
    res = admin_client.post("/admin/campaigns/crowdfund/", {
        "action": "export_csv", "_selected_action": [rows["cf"].pk, rows["done"].pk]})
    assert res.status_code == 200 and res["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(res.streaming_content).decode())))
    header, *data = lines
    assert header[:3] == ["id", "title", "sku_name"] and "raised_fen" in header and "order__no" in header
    by_id = {int(line[0]): dict(zip(header, line, strict=True)) for line in data}
    assert by_id[rows["cf"].pk]["raised_fen"] == "2000" and by_id[rows["cf"].pk]["order__no"] == ""
    assert by_id[rows["done"].pk]["order__no"] == rows["done"].order.no
    for model in ("contribution", "campaignrefund"):
        res = admin_client.post(f"/admin/campaigns/{model}/", {
            "action": "export_csv", "_selected_action": [Contribution.objects.first().pk
                                                         if model == "contribution" else rows["failed"].pk]})
        assert res.status_code == 200 and res["Content-Type"].startswith("text/csv"), model


@pytest.mark.parametrize("model", ["crowdfund", "contribution", "campaignrefund"])
def test_a_changelist_costs_the_same_queries_for_1_row_or_20(admin_client, model):
    def grow(n):
        for _ in range(n):
            cf = make_crowdfund(price_fen=5000)
            late = contribute(cf, 700, status=K.REFUNDING)
            refund(late, status=CampaignRefundStatus.REQUESTED, reason=RefundReason.NO_ROOM, wechat_status=None)
            event(cf, "refund_needs_operator")
    grow(1)
    url = f"/admin/campaigns/{model}/"
    with CaptureQueriesContext(connection) as one:
        page(admin_client, url)
    grow(19)
    with CaptureQueriesContext(connection) as twenty:
        body = page(admin_client, url)
    assert body.count('class="action-select"') == 20
    assert len(twenty.captured_queries) == len(one.captured_queries)


def test_the_crowdfund_page_costs_the_same_queries_for_1_contribution_or_20(admin_client):
    small, big = make_crowdfund(price_fen=100_000), make_crowdfund(price_fen=100_000)
    contribute(small, 100)
    event(small, "created", actor=small.initiator)
    for _ in range(20):
        c = contribute(big, 100)
        event(big, "paid", subject="contribution", contribution=c, actor=big.initiator)
    with CaptureQueriesContext(connection) as few:
        page(admin_client, f"/admin/campaigns/crowdfund/{small.pk}/change/")
    with CaptureQueriesContext(connection) as many:
        page(admin_client, f"/admin/campaigns/crowdfund/{big.pk}/change/")
    assert len(many.captured_queries) == len(few.captured_queries)


# --- settings and rules -------------------------------------------------------------------

def test_settings_are_added_once_and_saved_through_the_service(admin_client, operator):
    res = admin_client.post("/admin/campaigns/crowdfundsettings/add/", {**SETTINGS_DEFAULTS,
                                                                        "min_contribution_fen": "200"})
    assert res.status_code == 302, res.content.decode()[:2000]
    row = CrowdfundSettings.objects.get()
    assert (row.pk, row.min_contribution_fen, row.updated_by_id) == (1, 200, operator.pk)
    assert admin_client.get("/admin/campaigns/crowdfundsettings/add/").status_code == 403  # one row
    res = admin_client.post("/admin/campaigns/crowdfundsettings/1/change/", {
        **SETTINGS_DEFAULTS, "min_contribution_fen": "200", "enabled": "", "max_duration_hours": "48"})
    assert res.status_code == 302
    row.refresh_from_db()
    assert (row.enabled, row.max_duration_hours) == (False, 48)
    assert admin_client.post("/admin/campaigns/crowdfundsettings/1/delete/", {"post": "yes"}).status_code == 403


@pytest.mark.parametrize(("changes", "field"), [
    ({"default_duration_hours": "100", "max_duration_hours": "50"}, "default_duration_hours"),
    ({"max_duration_hours": "169"}, "max_duration_hours"),
    ({"min_contribution_fen": "0"}, "min_contribution_fen"),
    ({"min_contribution_fen": str(10**8 + 1)}, "min_contribution_fen"),
    ({"pay_window_minutes": "121"}, "pay_window_minutes"),
    ({"min_goal_fen": "-1"}, "min_goal_fen"),
    ({"min_goal_fen": "x"}, "min_goal_fen"),
])
def test_bad_settings_show_an_error_and_save_nothing(admin_client, changes, field):
    CrowdfundSettings.objects.create(pk=1)
    before = list(CrowdfundSettings.objects.values())
    res = admin_client.post("/admin/campaigns/crowdfundsettings/1/change/", {**SETTINGS_DEFAULTS, **changes})
    assert res.status_code == 200  # the form again, with its errors
    assert field in res.context["adminform"].form.errors
    assert list(CrowdfundSettings.objects.values()) == before


def test_product_rule_is_saved_through_the_service_and_its_product_is_fixed(admin_client):
    product, other = make_sku().product, make_sku().product
    res = admin_client.post("/admin/campaigns/crowdfundproductrule/add/", {
        "product": product.pk, "enabled": "", "min_goal_fen": "5000"})
    assert res.status_code == 302, res.content.decode()[:2000]
    rule = CrowdfundProductRule.objects.get()
    assert (rule.product_id, rule.enabled, rule.min_goal_fen) == (product.pk, False, 5000)
    url = f"/admin/campaigns/crowdfundproductrule/{rule.pk}/change/"
    assert 'name="product"' not in page(admin_client, url)
    res = admin_client.post(url, {"product": other.pk, "enabled": "on", "min_goal_fen": "0"})
    assert res.status_code == 302
    rule.refresh_from_db()
    assert (rule.product_id, rule.enabled, rule.min_goal_fen) == (product.pk, True, 0)
    assert admin_client.post(f"{url[:-7]}delete/", {"post": "yes"}).status_code == 403
    res = admin_client.post("/admin/campaigns/crowdfundproductrule/add/", {
        "product": other.pk, "enabled": "on", "min_goal_fen": str(10**10 + 1)})
    assert res.status_code == 200 and "min_goal_fen" in res.context["adminform"].form.errors
    res = admin_client.post("/admin/campaigns/crowdfundproductrule/add/", {
        "product": product.pk, "enabled": "on", "min_goal_fen": "1"})  # the product has a rule already
    assert res.status_code == 200
    assert CrowdfundProductRule.objects.count() == 1 and CrowdfundProductRule.objects.get().min_goal_fen == 0


"""The red-envelope pages of the operators' console: envelopes (with their backings and events
inline) and shares are read-only, the share list never shows an unclaimed share of an
envelope being grabbed, the settings are edited through the service, and a changelist costs
the same queries for 1 row or 10."""
from __future__ import annotations

import csv
import io
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import EnvelopeShare, RedEnvelope, RedEnvelopeSettings

from .ops_envelope_helpers import backing_refund, funding, grab, open_it, wechat_backing
from .ops_helpers import staff_with

pytestmark = pytest.mark.django_db

MONEY = {
    "redenvelope": ("total_fen", "pool_fen", "count", "status", "returned_fen", "max_share_fen"),
    "envelopeshare": ("amount_fen", "position", "user", "returned"),
}
SETTINGS_DEFAULTS = {"enabled": "on", "max_total_fen": "1000000", "max_count": "1000", "max_share_fen": "20000",
                     "default_expires_hours": "24", "max_expires_hours": "72", "unopened_cancel_days": "7",
                     "pay_window_minutes": "10"}


@pytest.fixture
def rows(db):
    env = funding(total_fen=1_000, count=5)
    paid = wechat_backing(env, 200)
    env = open_it(env)
    grab(env, 2)
    waiting = funding(total_fen=500, count=2)
    return {"env": env, "paid": paid, "waiting": waiting,
            "grabbed": EnvelopeShare.objects.filter(envelope=env, user__isnull=False).order_by("position").first()}


def page(client, url: str) -> str:
    res = client.get(url)
    assert res.status_code == 200, (url, res.status_code)
    return res.content.decode()


def test_every_changelist_and_change_page_opens(admin_client, rows):
    RedEnvelopeSettings.objects.create(pk=1)
    for model, pk in {"redenvelope": rows["env"].pk, "envelopeshare": rows["grabbed"].pk,
                      "redenvelopesettings": 1}.items():
        page(admin_client, f"/admin/campaigns/{model}/")
        page(admin_client, f"/admin/campaigns/{model}/{pk}/change/")
    detail = page(admin_client, f"/admin/campaigns/redenvelope/{rows['env'].pk}/change/")
    assert rows["paid"].no in detail  # the backings inline
    assert "opened" in detail  # the events inline


def test_the_share_list_shows_grabbed_and_returned_shares_never_the_unclaimed_ones(admin_client, rows):
    env = rows["env"]
    body = page(admin_client, "/admin/campaigns/envelopeshare/")
    for share in EnvelopeShare.objects.filter(envelope=env):
        link = f"/admin/campaigns/envelopeshare/{share.pk}/change/"
        assert (link in body) == (share.user_id is not None), share.position
    hidden = EnvelopeShare.objects.filter(envelope=env, user__isnull=True).first()
    assert admin_client.get(f"/admin/campaigns/envelopeshare/{hidden.pk}/change/").status_code == 302  # not found
    detail = page(admin_client, f"/admin/campaigns/redenvelope/{env.pk}/change/")
    assert not re.search(r"envelopeshare/\d+/change", detail)  # no shares inline


@pytest.mark.parametrize(("url", "shows", "hides"), [
    ("?status__exact=active", "env", "waiting"),
    ("?status__exact=funding", "waiting", "env"),
])
def test_envelope_filters(admin_client, rows, url, shows, hides):
    body = page(admin_client, f"/admin/campaigns/redenvelope/{url}")
    assert f"/admin/campaigns/redenvelope/{rows[shows].pk}/change/" in body
    assert f"/admin/campaigns/redenvelope/{rows[hides].pk}/change/" not in body


@pytest.mark.parametrize("model", ["redenvelope", "envelopeshare"])
def test_money_fields_are_read_only(admin_client, rows, model):
    obj = rows["env"] if model == "redenvelope" else rows["grabbed"]
    url = f"/admin/campaigns/{model}/{obj.pk}/change/"
    body = page(admin_client, url)
    for field in MONEY[model]:
        assert f'name="{field}"' not in body, field
    assert 'name="_save"' not in body
    before = list(type(obj).objects.filter(pk=obj.pk).values())
    assert admin_client.post(url, {field: "1" for field in MONEY[model]}).status_code == 403
    assert list(type(obj).objects.filter(pk=obj.pk).values()) == before
    assert admin_client.get(f"/admin/campaigns/{model}/add/").status_code == 403
    assert admin_client.post(f"/admin/campaigns/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403


def test_csv_export_of_the_selected_envelopes(admin_client, rows):
    res = admin_client.post("/admin/campaigns/redenvelope/", {
        "action": "export_csv", "_selected_action": [rows["env"].pk, rows["waiting"].pk]})
    assert res.status_code == 200 and res["Content-Type"].startswith("text/csv")
    header, *data = list(csv.reader(io.StringIO(b"".join(res.streaming_content).decode())))
    by_id = {int(line[0]): dict(zip(header, line, strict=True)) for line in data}
    assert by_id[rows["env"].pk]["pool_fen"] == "1200" and by_id[rows["env"].pk]["status"] == "active"
    assert by_id[rows["waiting"].pk]["status"] == "funding"
    res = admin_client.post("/admin/campaigns/envelopeshare/", {
        "action": "export_csv", "_selected_action": [rows["grabbed"].pk]})
    assert res.status_code == 200 and res["Content-Type"].startswith("text/csv")


def test_a_viewer_sees_envelopes_but_cannot_change_settings(client, rows):
    client.force_login(staff_with("campaigns.view_redenvelope"))
    page(client, "/admin/campaigns/redenvelope/")
    page(client, f"/admin/campaigns/redenvelope/{rows['env'].pk}/change/")
    assert client.get("/admin/campaigns/redenvelopesettings/").status_code == 403
    assert client.post("/admin/campaigns/redenvelopesettings/add/", SETTINGS_DEFAULTS).status_code == 403
    assert not RedEnvelopeSettings.objects.exists()


@pytest.mark.parametrize("model", ["redenvelope", "envelopeshare"])
def test_a_changelist_costs_the_same_queries_for_1_row_or_10(admin_client, model):
    def grow(n):
        for _ in range(n):
            env = funding(total_fen=300, count=3)
            late = wechat_backing(env, 100, counted=False, status="refunded")
            backing_refund(late)
            grab(open_it(env), 1)
    grow(1)
    url = f"/admin/campaigns/{model}/"
    with CaptureQueriesContext(connection) as one:
        page(admin_client, url)
    grow(9)
    with CaptureQueriesContext(connection) as ten:
        body = page(admin_client, url)
    assert body.count('class="action-select"') == 10
    assert len(ten.captured_queries) == len(one.captured_queries)


def test_the_envelope_page_costs_the_same_queries_for_1_backing_or_10(admin_client):
    small, big = funding(total_fen=500, count=5), funding(total_fen=500, count=5)
    wechat_backing(small, 100)
    for _ in range(10):
        wechat_backing(big, 100)
    with CaptureQueriesContext(connection) as few:
        page(admin_client, f"/admin/campaigns/redenvelope/{small.pk}/change/")
    with CaptureQueriesContext(connection) as many:
        page(admin_client, f"/admin/campaigns/redenvelope/{big.pk}/change/")
    assert len(many.captured_queries) == len(few.captured_queries)


# --- settings -----------------------------------------------------------------------------

def test_settings_are_added_once_and_saved_through_the_service(admin_client, operator):
    res = admin_client.post("/admin/campaigns/redenvelopesettings/add/", {**SETTINGS_DEFAULTS, "max_count": "50"})
    assert res.status_code == 302, res.content.decode()[:2000]
    row = RedEnvelopeSettings.objects.get()
    assert (row.pk, row.max_count, row.updated_by_id) == (1, 50, operator.pk)
    assert admin_client.get("/admin/campaigns/redenvelopesettings/add/").status_code == 403  # one row
    res = admin_client.post("/admin/campaigns/redenvelopesettings/1/change/", {
        **SETTINGS_DEFAULTS, "enabled": "", "max_expires_hours": "720", "default_expires_hours": "720"})
    assert res.status_code == 302
    row.refresh_from_db()
    assert (row.enabled, row.max_expires_hours, row.default_expires_hours, row.max_count) == (False, 720, 720, 1000)
    assert admin_client.post("/admin/campaigns/redenvelopesettings/1/delete/", {"post": "yes"}).status_code == 403


@pytest.mark.parametrize(("changes", "field"), [
    ({"default_expires_hours": "100", "max_expires_hours": "50"}, "default_expires_hours"),
    ({"max_expires_hours": str(24 * 30 + 1)}, "max_expires_hours"),
    ({"max_total_fen": "0"}, "max_total_fen"),
    ({"max_total_fen": str(10**10 + 1)}, "max_total_fen"),
    ({"max_count": "100001"}, "max_count"),
    ({"max_share_fen": str(10**8 + 1)}, "max_share_fen"),
    ({"unopened_cancel_days": "91"}, "unopened_cancel_days"),
    ({"pay_window_minutes": "0"}, "pay_window_minutes"),
    ({"max_count": "-1"}, "max_count"),
    ({"max_count": "x"}, "max_count"),
])
def test_bad_settings_show_an_error_and_save_nothing(admin_client, changes, field):
    RedEnvelopeSettings.objects.create(pk=1)
    before = list(RedEnvelopeSettings.objects.values())
    res = admin_client.post("/admin/campaigns/redenvelopesettings/1/change/", {**SETTINGS_DEFAULTS, **changes})
    assert res.status_code == 200
    assert field in res.context["adminform"].form.errors
    assert list(RedEnvelopeSettings.objects.values()) == before
    assert RedEnvelope.objects.count() == 0

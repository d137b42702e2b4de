"""The operators' red-envelope endpoints: the list and its filters, the detail (shares with the
unclaimed positions hidden, backings with their WeChat payments and refunds, events,
postings), the settings, and the envelope figures of the reports overview. Envelopes go
through the real services; WeChat backings are built through the ORM
(tests/campaigns/ops_envelope_helpers.py)."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import CampaignRefundStatus, EnvelopeShare, EnvelopeStatus, RedEnvelope, RedEnvelopeSettings
from campaigns.selectors.ops_envelopes import envelope_report
from campaigns.services import envelope_settings as envelope_settings_services
from campaigns.services import envelopes as env_services
from campaigns.services.envelope_payments import envelope_cancel
from tests.factories import UserFactory
from wechat.models import RefundStatus as WechatRefundStatus

from .envelope_helpers import owner_with
from .ops_envelope_helpers import at, backing_refund, backings_at, funding, grab, open_it, shares_at, wechat_backing
from .ops_helpers import staff_with

pytestmark = pytest.mark.django_db

LIST = "/api/v1/ops/red-envelopes/"
SETTINGS = "/api/v1/ops/settings/red-envelopes/"
OVERVIEW = "/api/v1/ops/reports/overview/"
SH = ZoneInfo("Asia/Shanghai")
E = EnvelopeStatus


def detail_url(pk: int) -> str:
    return f"/api/v1/ops/red-envelopes/{pk}/"


def sh(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


AUTH_TABLES = ("accounts_authtoken", "accounts_user", "auth_permission", "auth_group", "django_content_type")


def data_queries(ctx) -> list[str]:
    """The queries of a request that are not the login's (a token cache may spare those)."""
    return [q["sql"] for q in ctx.captured_queries if not any(f'FROM "{t}"' in q["sql"] for t in AUTH_TABLES)]


def ids(res) -> list[int]:
    assert res.status_code == 200, res.json()
    return [row["id"] for row in res.json()["results"]]


# --- permissions --------------------------------------------------------------------------

ENDPOINTS = [
    ("get", lambda pk: LIST, "campaigns.view_redenvelope"),
    ("get", lambda pk: detail_url(pk), "campaigns.view_redenvelope"),
    ("get", lambda pk: SETTINGS, "campaigns.change_redenvelopesettings"),
    ("put", lambda pk: SETTINGS, "campaigns.change_redenvelopesettings"),
]
BODY = {"max_count": 50}


@pytest.mark.parametrize(("method", "path", "perm"), ENDPOINTS)
def test_anonymous_401_non_staff_403_staff_without_the_permission_403_with_it_200(
        method, path, perm, api_client, client_for):
    url = path(funding().pk)
    assert getattr(api_client, method)(url, BODY, format="json").status_code == 401
    assert getattr(client_for(UserFactory()), method)(url, BODY, format="json").status_code == 403
    others = {p for _, _, p in ENDPOINTS} - {perm}
    # the crowdfund permissions of the same kind do not open the envelope endpoints
    wrong = client_for(staff_with(*others, "campaigns.view_crowdfund", "campaigns.change_crowdfundsettings"))
    res = getattr(wrong, method)(url, BODY, format="json")
    assert res.status_code == 403 and res.json()["code"] == "permission_denied"
    assert not RedEnvelopeSettings.objects.exists()
    res = getattr(client_for(staff_with(perm)), method)(url, BODY, format="json")
    assert res.status_code == 200, res.json()


def test_the_routes_sit_with_the_other_ops_routes():
    from django.urls import resolve

    for url in (LIST, detail_url(3), SETTINGS):
        assert resolve(url).url_name.startswith("ops-")


# --- the list -----------------------------------------------------------------------------

@pytest.fixture
def viewer(client_for):
    return client_for(staff_with("campaigns.view_redenvelope"))


def test_list_is_newest_first_with_each_rows_figures(viewer):
    alice = owner_with(1_000)
    alice.nickname = "阿丽"
    alice.save(update_fields=["nickname"])
    old = funding(total_fen=1_000, count=5, owner=alice)
    fan = owner_with(500)
    env_services.envelope_top_up(user=fan, envelope_id=old.pk, amount_fen=500)
    wechat_backing(old, 300, user=fan)
    late = wechat_backing(old, 200, counted=False, status="refunding")
    backing_refund(late, status=CampaignRefundStatus.REQUESTED, wechat_status=None)
    old = open_it(old)
    grab(old, 2)
    new = funding()
    res = viewer.get(LIST)
    assert ids(res) == [new.pk, old.pk]
    body = res.json()
    assert body["count"] == 2 and {"next", "previous"} <= set(body)
    row = body["results"][1]
    assert row["owner"] == {"id": alice.pk, "username": alice.username, "nickname": "阿丽"}
    assert (row["status"], row["count"], row["total_fen"], row["pool_fen"]) == ("active", 5, 1_000, 1_800)
    f = row["figures"]
    grabbed_fen = sum(EnvelopeShare.objects.filter(envelope=old, user__isnull=False).values_list("amount_fen",
                                                                                              flat=True))
    assert (f["shares"], f["grabbed"], f["grabbed_fen"], f["posted_fen"], f["returned_fen"]) == (
        5, 2, grabbed_fen, grabbed_fen, 0)
    assert f["backers"] == 2 and f["topped_up_fen"] == 1_000  # the fan twice, the late one; not the owner
    assert f["backings"] == {"pending_payment": 0, "paid": 3, "expired": 0, "refunding": 1, "refunded": 0}
    assert body["results"][0]["figures"]["shares"] == 0 and body["results"][0]["figures"]["backers"] == 0
    assert "best_position" not in row and "shares" not in row


def test_list_filters(viewer):
    alice, bob = owner_with(3_000), owner_with(3_000)
    a = at(funding(owner=alice), created_at=sh(2024, 3, 1, 0, 0))
    b = at(open_it(funding(owner=bob)), created_at=sh(2024, 3, 15, 12))
    c = at(funding(owner=alice), created_at=sh(2024, 3, 31, 23, 59, 59))
    d = funding(owner=bob)
    RedEnvelope.objects.filter(pk=d.pk).update(funded_at=timezone.now() - timedelta(days=8))
    assert envelope_cancel(envelope_id=d.pk)
    d = at(d, created_at=sh(2024, 4, 1, 0, 0))
    assert ids(viewer.get(LIST, {"status": "funding"})) == [c.pk, a.pk]
    assert ids(viewer.get(LIST, {"status": "cancelled"})) == [d.pk]
    assert ids(viewer.get(LIST, {"status": "active"})) == [b.pk]
    assert ids(viewer.get(LIST, {"status": "empty"})) == []
    assert ids(viewer.get(LIST, {"owner": bob.pk})) == [d.pk, b.pk]
    assert ids(viewer.get(LIST, {"from": "2024-03-01", "to": "2024-03-31"})) == [c.pk, b.pk, a.pk]
    assert ids(viewer.get(LIST, {"from": "2024-03-02"})) == [d.pk, c.pk, b.pk]
    assert ids(viewer.get(LIST, {"to": "2024-02-29"})) == []
    assert ids(viewer.get(LIST, {"from": "2024-03-15T12:00:00+08:00", "to": "2024-03-15T12:00:00+08:00"})) == [b.pk]
    assert ids(viewer.get(LIST, {"owner": alice.pk, "status": "funding", "to": "2024-03-30"})) == [a.pk]
    assert ids(viewer.get(LIST, {"page_size": 1, "page": 2})) == [c.pk]


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "nope"}, "status"),
    ({"owner": "x"}, "owner"),
    ({"owner": "0"}, "owner"),
    ({"owner": str(2**70)}, "owner"),
    ({"from": "2024-13-01"}, "from"),
    ({"to": "yesterday"}, "to"),
    ({"from": "2024-03-02", "to": "2024-03-01"}, "to"),
])
def test_list_refuses_bad_filters(viewer, params, field):
    res = viewer.get(LIST, params)
    assert res.status_code == 400
    assert res.json()["code"] == "invalid" and field in res.json()["extra"]["fields"]


def _busy_envelope():
    env = funding(total_fen=1_000, count=4)
    wechat_backing(env, 200)
    late = wechat_backing(env, 100, counted=False, status="refunded")
    backing_refund(late)
    env = open_it(env)
    grab(env, 2)
    return env


def test_the_lists_query_count_does_not_grow_with_its_rows(viewer):
    _busy_envelope()
    with CaptureQueriesContext(connection) as one:
        assert len(ids(viewer.get(LIST))) == 1
    for _ in range(9):
        _busy_envelope()
    with CaptureQueriesContext(connection) as ten:
        assert len(ids(viewer.get(LIST))) == 10
    assert len(data_queries(ten)) == len(data_queries(one)) == 5  # count, page, three figure queries


# --- the detail ---------------------------------------------------------------------------

@pytest.fixture
def busy(db):
    """An active envelope of 6 shares: the owner's 1,000 fen, a fan's wallet top-up of 500 and
    WeChat top-up of 300, a late WeChat top-up refunded after a failed first attempt; two grabs."""
    env = funding(total_fen=1_000, count=6)
    fan = owner_with(500)
    env_services.envelope_top_up(user=fan, envelope_id=env.pk, amount_fen=500)
    paid = wechat_backing(env, 300, user=fan)
    late = wechat_backing(env, 200, counted=False, status="refunded")
    backing_refund(late, status=CampaignRefundStatus.FAILED, wechat_status=WechatRefundStatus.FAILED)
    backing_refund(late, attempt=2)
    env = open_it(env)
    grabs = grab(env, 2)
    return {"env": env, "fan": fan, "paid": paid, "late": late, "grabs": grabs}


def test_detail_shows_grabbed_shares_only_and_the_rest_as_a_count_and_total(viewer, busy):
    env = busy["env"]
    body = viewer.get(detail_url(env.pk)).json()
    assert body["status"] == "active" and body["pool_fen"] == 1_800 and body["best_position"] is None
    grabbed = list(EnvelopeShare.objects.filter(envelope=env, user__isnull=False).order_by("position"))
    assert [s["position"] for s in body["shares"]] == [s.position for s in grabbed] == [0, 1]
    first = body["shares"][0]
    assert first["amount_fen"] == grabbed[0].amount_fen and first["grabber"]["id"] == grabbed[0].user_id
    assert first["grabbed_at"] and first["posting_id"] == grabbed[0].posting_id and first["returned"] is False
    rest = EnvelopeShare.objects.filter(envelope=env, user__isnull=True)
    assert body["unclaimed"] == {"count": 4, "total_fen": sum(s.amount_fen for s in rest)}
    # nothing in the answer tells which position holds which of the unclaimed amounts
    text = str(body["shares"]) + str(body["unclaimed"]) + str(body["events"])
    for share in rest:
        assert f"'position': {share.position}" not in text
    assert body["escrow_fen"] == body["unclaimed"]["total_fen"]  # the grabs are posted


def test_detail_shows_backings_with_payments_and_refunds_events_and_postings(viewer, busy):
    env = busy["env"]
    body = viewer.get(detail_url(env.pk)).json()
    rows = {b["no"]: b for b in body["backings"]}
    assert len(rows) == 4 and [b["is_owner"] for b in body["backings"]][-1] is True  # newest first
    owner_row = body["backings"][-1]
    assert owner_row["pay_with"] == "wallet" and owner_row["payment"] is None and owner_row["refunds"] == []
    paid = rows[busy["paid"].no]
    assert paid["payment"]["status"] == "paid" and paid["payment"]["out_trade_no"] == busy["paid"].no
    late = rows[busy["late"].no]
    assert [(r["attempt"], r["status"], r["wechat"]["status"]) for r in late["refunds"]] == [
        (1, "failed", "failed"), (2, "succeeded", "succeeded")]
    kinds = [e["kind"] for e in body["events"]]
    assert kinds[:1] == ["funded"] and "opened" in kinds
    kinds = sorted(p["kind"] for p in body["postings"])
    assert kinds == ["campaigns.envelope_fund", "campaigns.envelope_grabs", "campaigns.envelope_paid",
                     "campaigns.envelope_paid", "campaigns.envelope_refund", "campaigns.envelope_top_up"]
    assert {p["cause_id"] for p in body["postings"]} == {str(env.pk)}
    for posting in body["postings"]:
        assert sum(e["amount_fen"] for e in posting["entries"]) == 0
    assert body["figures"]["backers"] == 2 and body["figures"]["grabbed"] == 2


def test_detail_of_an_expired_envelope_lists_the_returned_shares_and_the_best_luck(viewer, busy):
    env = busy["env"]
    RedEnvelope.objects.filter(pk=env.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert env_services.envelope_expire(envelope_id=env.pk)
    env.refresh_from_db()
    body = viewer.get(detail_url(env.pk)).json()
    assert body["status"] == "expired" and body["best_position"] == env.best_position
    assert [s["position"] for s in body["shares"]] == list(range(6))
    assert [s["returned"] for s in body["shares"]] == [False, False, True, True, True, True]
    assert body["unclaimed"] == {"count": 0, "total_fen": 0}
    assert body["returned_fen"] == sum(s["amount_fen"] for s in body["shares"][2:]) == body["figures"]["returned_fen"]
    assert body["escrow_fen"] == 0


def test_detail_leaves_out_other_envelopes_postings(viewer, busy):
    _busy_envelope()
    body = viewer.get(detail_url(busy["env"].pk)).json()
    assert {p["cause_id"] for p in body["postings"]} == {str(busy["env"].pk)}


def test_detail_of_an_unknown_envelope_is_404(viewer):
    res = viewer.get(detail_url(999999))
    assert res.status_code == 404 and res.json()["code"] == "not_found"


def test_the_details_query_count_does_not_grow_with_its_rows(viewer):
    small = funding(total_fen=1_000, count=4)
    late = wechat_backing(small, 100, counted=False, status="refunded")
    backing_refund(late)
    small = open_it(small)
    grab(small, 1)
    with CaptureQueriesContext(connection) as few:
        assert viewer.get(detail_url(small.pk)).status_code == 200
    big = funding(total_fen=10_000, count=40)
    for _ in range(10):
        late = wechat_backing(big, 100, counted=False, status="refunded")
        backing_refund(late, status=CampaignRefundStatus.FAILED, wechat_status=WechatRefundStatus.FAILED)
        backing_refund(late, attempt=2)
        wechat_backing(big, 100)
    big = open_it(big)
    grab(big, 20)
    with CaptureQueriesContext(connection) as many:
        body = viewer.get(detail_url(big.pk)).json()
    assert len(body["backings"]) == 21 and len(body["shares"]) == 20 and len(body["postings"]) >= 30
    assert len(data_queries(many)) == len(data_queries(few)) == 14  # selectors/ops_envelopes.py


# --- settings -----------------------------------------------------------------------------

@pytest.fixture
def settings_client(client_for):
    return client_for(staff_with("campaigns.change_redenvelopesettings"))


DEFAULTS = {"enabled": True, "max_total_fen": 1_000_000, "max_count": 1_000, "max_share_fen": 20_000,
            "default_expires_hours": 24, "max_expires_hours": 72, "unopened_cancel_days": 7,
            "pay_window_minutes": 10, "updated_at": None}


def test_settings_get_shows_the_defaults_and_writes_nothing(settings_client):
    res = settings_client.get(SETTINGS)
    assert res.status_code == 200 and res.json() == DEFAULTS
    assert not RedEnvelopeSettings.objects.exists()


def test_settings_put_changes_only_the_fields_sent_and_the_services_use_them(settings_client):
    res = settings_client.put(SETTINGS, {"max_count": 3, "enabled": False}, format="json")
    assert res.status_code == 200, res.json()
    assert res.json()["max_count"] == 3 and res.json()["enabled"] is False and res.json()["max_share_fen"] == 20_000
    assert res.json()["updated_at"]
    res = settings_client.put(SETTINGS, {"max_expires_hours": 720, "default_expires_hours": 720, "enabled": True},
                              format="json")
    assert res.status_code == 200, res.json()
    row = RedEnvelopeSettings.objects.get()
    assert (row.max_count, row.enabled, row.max_expires_hours, row.default_expires_hours) == (3, True, 720, 720)
    assert row.updated_by is not None
    env = funding(total_fen=300, count=3)
    assert env.expires_hours == 720
    from core.errors import DomainError

    with pytest.raises(DomainError):
        funding(total_fen=400, count=4)  # above the new max_count


@pytest.mark.parametrize(("body", "field"), [
    ({"max_count": "20"}, "max_count"),  # a string
    ({"max_count": 20.0}, "max_count"),  # a float
    ({"pay_window_minutes": True}, "pay_window_minutes"),  # a boolean is no number
    ({"enabled": "false"}, "enabled"),
    ({"enabled": 1}, "enabled"),
    ({"enabled": None}, "enabled"),
    ({"max_total_fen": -1}, "max_total_fen"),
    ({"max_total_fen": 0}, "max_total_fen"),
    ({"max_total_fen": 10**10 + 1}, "max_total_fen"),
    ({"max_total_fen": 10**30}, "max_total_fen"),
    ({"max_count": 0}, "max_count"),
    ({"max_count": 100_001}, "max_count"),
    ({"max_share_fen": 0}, "max_share_fen"),
    ({"max_share_fen": 10**8 + 1}, "max_share_fen"),
    ({"max_expires_hours": 24 * 30 + 1}, "max_expires_hours"),
    ({"default_expires_hours": 0}, "default_expires_hours"),
    ({"unopened_cancel_days": 0}, "unopened_cancel_days"),
    ({"unopened_cancel_days": 91}, "unopened_cancel_days"),
    ({"pay_window_minutes": 0}, "pay_window_minutes"),
    ({"pay_window_minutes": 121}, "pay_window_minutes"),
    ({"default_expires_hours": None}, "default_expires_hours"),
    ({"max_count": 10, "surprise": 1}, "surprise"),  # unknown: the valid field is not saved either
    ({"updated_at": "2024-01-01T00:00:00Z"}, "updated_at"),
    ({"updated_by": 1}, "updated_by"),
    ({"default_expires_hours": 100, "max_expires_hours": 50}, "default_expires_hours"),
    ({"default_expires_hours": 73}, "default_expires_hours"),  # above the saved (default) maximum
])
@pytest.mark.parametrize("saved_before", [False, True])
def test_settings_put_refuses_bad_values_and_changes_nothing(settings_client, body, field, saved_before):
    if saved_before:
        assert settings_client.put(SETTINGS, {"max_count": 7}, format="json").status_code == 200
    before = list(RedEnvelopeSettings.objects.values())
    res = settings_client.put(SETTINGS, body, format="json")
    assert res.status_code == 400, res.json()
    assert res.json()["code"] == "invalid" and field in res.json()["extra"]["fields"]
    assert list(RedEnvelopeSettings.objects.values()) == before


@pytest.mark.parametrize("body", [[1, 2], "enabled", 5])
def test_settings_put_needs_a_json_object(settings_client, body):
    res = settings_client.put(SETTINGS, body, format="json")
    assert res.status_code == 400 and res.json()["code"] == "invalid"
    assert not RedEnvelopeSettings.objects.exists()


def test_the_service_refuses_the_same_without_http():
    from core.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        envelope_settings_services.envelope_settings_update(actor=None, max_count=0, max_share_fen=5)
    assert set(err.value.extra["fields"]) == {"max_count"}
    assert not RedEnvelopeSettings.objects.exists()


# --- the reports overview -----------------------------------------------------------------

@pytest.fixture
def march(db):
    """Envelopes around March 2024 (Shanghai): created, opened, ended, backed and grabbed on
    both sides of the month's edges."""
    inside = sh(2024, 3, 10, 12)
    # a: created in Feb, opened in March, emptied in March: 3 grabs by 3 people
    a = funding(total_fen=900, count=3)
    wechat_backing(a, 300)
    backings_at(a, sh(2024, 2, 29, 23, 59))  # paid in February
    a = open_it(a)
    grab(a, 3)
    a.refresh_from_db()
    assert a.status == E.EMPTY
    shares_at(a, inside)
    at(a, created_at=sh(2024, 2, 29, 23, 0), opened_at=sh(2024, 3, 1, 0, 0), closed_at=inside)
    # b: created and opened in March, 1 grab, expired in March
    b = funding(total_fen=500, count=5)
    fan = owner_with(200)
    env_services.envelope_top_up(user=fan, envelope_id=b.pk, amount_fen=200)
    backings_at(b, inside)
    b = open_it(b)
    grab(b, 1)
    shares_at(b, inside)
    RedEnvelope.objects.filter(pk=b.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert env_services.envelope_expire(envelope_id=b.pk)
    at(b, created_at=inside, opened_at=inside, closed_at=sh(2024, 3, 31, 23, 59, 59))
    b.refresh_from_db()
    # c: created in March, cancelled in April (the owner's money paid in March)
    c = funding(total_fen=400, count=2)
    backings_at(c, sh(2024, 3, 31, 23, 59, 59))
    RedEnvelope.objects.filter(pk=c.pk).update(funded_at=timezone.now() - timedelta(days=8))
    assert envelope_cancel(envelope_id=c.pk)
    at(c, created_at=inside, closed_at=sh(2024, 4, 1, 0, 0))
    # d: April
    at(funding(total_fen=100, count=1), created_at=sh(2024, 4, 1, 0, 0))
    return {"a": a, "b": b}


def test_envelope_report_figures(march, django_assert_num_queries):
    a, b = march["a"], march["b"]
    b_grabbed = b.pool_fen - b.returned_fen
    with django_assert_num_queries(3):
        figures = envelope_report(day_from=date(2024, 3, 1), day_to=date(2024, 3, 31))
    assert figures == {
        "created": 2,  # b, c (a in February, d in April)
        "opened": 2,  # a, b
        "empty": 1, "expired": 1, "cancelled": 0,  # c was cancelled in April
        "funded_fen": 500 + 400,  # b's and c's own money (a's was paid in February)
        "topped_up_fen": 200,  # b's fan
        "grabbed_fen": 1_200 + b_grabbed,
        "grabs": 4, "grabbers": 4,
        "returned_fen": b.returned_fen,
    }
    assert b.returned_fen > 0
    april = envelope_report(day_from=date(2024, 4, 1), day_to=date(2024, 4, 1))
    assert (april["created"], april["cancelled"], april["grabs"]) == (1, 1, 0)
    feb = envelope_report(day_from=date(2024, 2, 29), day_to=date(2024, 2, 29))
    assert (feb["created"], feb["funded_fen"], feb["topped_up_fen"], feb["opened"]) == (1, 900, 300, 0)
    assert a.pool_fen == 1_200


def test_overview_carries_the_envelope_figures(march, operator_client):
    body = operator_client.get(OVERVIEW, {"from": "2024-03-01", "to": "2024-03-31"}).json()
    assert body["campaigns"]["red_envelopes"] == envelope_report(day_from=date(2024, 3, 1),
                                                                 day_to=date(2024, 3, 31))
    assert body["campaigns"]["red_envelopes"]["grabs"] == 4 and "crowdfunds" in body["campaigns"]
    empty = operator_client.get(OVERVIEW, {"from": "2020-01-01", "to": "2020-01-31"}).json()
    assert set(empty["campaigns"]["red_envelopes"].values()) == {0}


def test_the_schema_describes_the_endpoints(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert {p["name"] for p in paths[LIST]["get"]["parameters"]} >= {"status", "owner", "from", "to"}
    assert {"get", "put"} <= set(paths[SETTINGS])
    assert "/api/v1/ops/red-envelopes/{id}/" in paths

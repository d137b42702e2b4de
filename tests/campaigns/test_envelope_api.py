"""The red-envelope endpoints over HTTP: fill, top up, open, grab, the public page and a
person's envelopes (the full bad-input suite comes with the rest of issue 12)."""
import pytest

from campaigns.models import EnvelopeShare
from tests.campaigns.envelope_helpers import owner_with, wallet
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/red-envelopes/"


def test_the_whole_story_over_http(wechat_sandbox, client_for, api_client):
    owner = owner_with(10_000)
    res = client_for(owner).post(URL, {"total_fen": 3_000, "count": 3, "pay_with": "wallet", "greeting": "新年快乐"},
                                 format="json")
    assert res.status_code == 201, res.json()
    env = res.json()
    assert (env["status"], env["pool_fen"], env["pay"], env["remaining_count"]) == ("funding", 3_000, None, 3)
    fans = [owner_with(1_000) for _ in range(4)]
    for fan, amount in zip(fans, (300, 500, 100, 200), strict=True):
        top = client_for(fan).post(f"{URL}{env['id']}/top-ups/", {"amount_fen": amount, "pay_with": "wallet"},
                                   format="json")
        assert top.status_code == 201, top.json()
    page = api_client.get(f"{URL}{env['id']}/").json()
    assert [b["amount_fen"] for b in page["top_backers"]] == [500, 300, 200] and page["pool_fen"] == 4_100
    assert client_for(fans[0]).post(f"{URL}{env['id']}/open/").json()["code"] == "not_envelope_owner"
    opened = client_for(owner).post(f"{URL}{env['id']}/open/")
    assert opened.status_code == 200 and opened.json()["status"] == "active"
    grabbers = [UserFactory() for _ in range(4)]
    answers = [client_for(g).post(f"{URL}{env['id']}/grab/") for g in grabbers]
    assert [a.status_code for a in answers] == [200, 200, 200, 409]
    assert answers[3].json()["code"] == "envelope_empty"
    assert sorted(a.json()["rank"] for a in answers[:3]) == [1, 2, 3]
    assert sum(a.json()["amount_fen"] for a in answers[:3]) == 4_100
    assert sum(answers[i].json()["is_best"] is True for i in range(3)) <= 1
    again = client_for(grabbers[0]).post(f"{URL}{env['id']}/grab/")
    assert (again.status_code, again.json()["code"]) == (409, "already_grabbed")
    assert sum(wallet(g) for g in grabbers) == 4_100
    page = api_client.get(f"{URL}{env['id']}/").json()
    assert page["status"] == "empty" and page["remaining_count"] == 0 and len(page["grabs"]) == 3
    assert sum(1 for g in page["grabs"] if g["is_best"]) == 1
    mine = api_client.get(f"/api/v1/users/{owner.pk}/red-envelopes/").json()
    assert mine["count"] == 1 and mine["results"][0]["top_backers"][0]["amount_fen"] == 500


def test_refusals_change_nothing(client_for):
    owner = owner_with(500)
    client = client_for(owner)
    for body, code in [({"total_fen": 1_000, "count": 2, "pay_with": "wallet"}, "insufficient_balance"),
                       ({"total_fen": 100, "count": 0, "pay_with": "wallet"}, "invalid"),
                       ({"total_fen": 1, "count": 2, "pay_with": "wallet"}, "amount_too_small"),
                       ({"total_fen": "100", "count": 1, "pay_with": "wallet"}, "invalid"),
                       ({"total_fen": 100, "count": 1, "pay_with": "cash"}, "invalid")]:
        res = client.post(URL, body, format="json")
        assert res.json()["code"] == code, (body, res.json())
    assert wallet(owner) == 500 and not EnvelopeShare.objects.exists()
    assert client.post(f"{URL}999999/grab/").status_code == 404


def test_grabs_are_throttled_per_user(client_for, settings):
    settings.THROTTLE_GRAB = "3/min"
    client = client_for(UserFactory())
    codes = [client.post(f"{URL}999999/grab/").status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]

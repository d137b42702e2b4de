"""GET /api/v1/me/ and the follow lists."""
from __future__ import annotations

from accounts.services import follow_create
from ledger.models import AccountKind
from ledger.services import account_get_or_create, ledger_post
from tests.factories import UserFactory


def test_me_fields(user_client, user):
    body = user_client.get("/api/v1/me/").json()
    assert body["id"] == user.pk
    assert body["nickname"] == user.nickname
    assert body["avatar_url"] == user.avatar_url
    assert body["is_staff"] is False
    assert body["distributor"] is None
    assert body["balances"] == {"available_fen": 0, "frozen_fen": 0, "withdrawing_fen": 0}
    assert "password" not in body and "openid" not in body


def test_me_balances_are_the_ledger_balances(user_client, user):
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)
    frozen = account_get_or_create(kind=AccountKind.USER_FROZEN, owner=user)
    ledger_post(kind="test.in", idempotency_key="me-1", legs=[(outside, -1234), (wallet, 1000), (frozen, 234)])
    balances = user_client.get("/api/v1/me/").json()["balances"]
    assert balances == {"available_fen": 1000, "frozen_fen": 234, "withdrawing_fen": 0}
    withdrawing = account_get_or_create(kind=AccountKind.USER_WITHDRAWING, owner=user)
    ledger_post(kind="test.move", idempotency_key="me-2", legs=[(wallet, -400), (withdrawing, 400)])
    balances = user_client.get("/api/v1/me/").json()["balances"]
    assert balances == {"available_fen": 600, "frozen_fen": 234, "withdrawing_fen": 400}
    assert all(type(v) is int for v in balances.values())


def test_me_does_not_show_another_users_money(user_client, user):
    other = UserFactory()
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=other)
    ledger_post(kind="test.in", idempotency_key="other", legs=[(outside, -50), (wallet, 50)])
    assert user_client.get("/api/v1/me/").json()["balances"]["available_fen"] == 0


def test_operator_is_staff(operator_client):
    assert operator_client.get("/api/v1/me/").json()["is_staff"] is True


def test_following_is_paginated_newest_first(user_client, user):
    followees = [UserFactory() for _ in range(3)]
    for followee in followees:
        follow_create(follower=user, followee=followee, source="red_envelope")
    follow_create(follower=followees[0], followee=user)  # a follower, not a followee
    follow_create(follower=followees[1], followee=followees[2])  # someone else's follow

    body = user_client.get("/api/v1/me/following/?page_size=2").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 3 and body["previous"] is None
    assert body["next"].endswith("/api/v1/me/following/?page=2&page_size=2")
    assert [r["user"]["id"] for r in body["results"]] == [followees[2].pk, followees[1].pk]
    row = body["results"][0]
    assert set(row) == {"user", "source", "created_at"} and row["source"] == "red_envelope"
    assert set(row["user"]) == {"id", "nickname", "avatar_url", "is_staff"}

    page2 = user_client.get(body["next"]).json()
    assert [r["user"]["id"] for r in page2["results"]] == [followees[0].pk]
    assert page2["next"] is None and page2["previous"] is not None


def test_followers(user_client, user):
    fan = UserFactory()
    follow_create(follower=fan, followee=user)
    body = user_client.get("/api/v1/me/followers/").json()
    assert body["count"] == 1 and body["results"][0]["user"]["id"] == fan.pk


def test_following_twice_is_one_follow(user_client, user):
    star = UserFactory()
    follow_create(follower=user, followee=star)
    _, created = follow_create(follower=user, followee=star)
    assert created is False
    assert user_client.get("/api/v1/me/following/").json()["count"] == 1


def test_empty_lists_and_bad_page(user_client):
    assert user_client.get("/api/v1/me/following/").json() == {
        "count": 0, "next": None, "previous": None, "results": []
    }
    response = user_client.get("/api/v1/me/following/?page=9")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_page_size_is_capped(user_client, user):
    for _ in range(3):
        follow_create(follower=user, followee=UserFactory())
    body = user_client.get("/api/v1/me/following/?page_size=1000").json()
    assert len(body["results"]) == 3 and body["next"] is None

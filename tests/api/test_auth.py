"""The Bearer token layer: what gets in and what is refused (401 authentication_failed)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuthToken
from accounts.services import token_hash, token_issue, token_revoke


def get_me(header: str | bytes | None):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client.get("/api/v1/me/")


def refused(response, code="authentication_failed"):
    assert response.status_code == 401, response.content
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"] == "Bearer"
    return True


def test_valid_token_gets_in(user):
    raw = token_issue(user=user)
    assert get_me(f"Bearer {raw}").json()["id"] == user.pk
    assert get_me(f"bearer {raw}").status_code == 200  # the keyword is case-insensitive
    token = AuthToken.objects.get(key_hash=token_hash(raw))
    assert token.prefix == raw[:8] and token.key_hash != raw  # only a hash is stored


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Bearer a b", "Bearer\tx\ty"],
    ids=["no token", "blank token", "two parts", "tabs"],
)
def test_malformed_header_is_refused(user, header):
    assert refused(get_me(header))


def test_non_ascii_token_is_refused(user):
    assert refused(get_me("Bearer 令牌".encode()))


def test_unknown_token_is_refused(user):
    token_issue(user=user)
    assert refused(get_me("Bearer not-a-real-token"))


def test_overlong_token_is_refused(user):
    assert refused(get_me("Bearer " + "a" * 500))


def test_expired_token_is_refused(user):
    raw = token_issue(user=user)
    AuthToken.objects.filter(key_hash=token_hash(raw)).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert refused(get_me(f"Bearer {raw}"))


def test_revoked_token_is_refused_and_others_still_work(user):
    raw, other = token_issue(user=user), token_issue(user=user)
    assert token_revoke(raw=raw) is True
    assert refused(get_me(f"Bearer {raw}"))
    assert get_me(f"Bearer {other}").status_code == 200
    assert token_revoke(raw=raw) is False  # already revoked


def test_token_of_a_disabled_user_is_refused(user):
    raw = token_issue(user=user)
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    assert refused(get_me(f"Bearer {raw}"))


def test_other_schemes_are_not_authenticated(user):
    raw = token_issue(user=user)
    assert refused(get_me(f"Token {raw}"), code="not_authenticated")
    assert refused(get_me("Basic dXNlcjpwdw=="), code="not_authenticated")


def test_logout_revokes_the_token_used(user):
    raw, other = token_issue(user=user), token_issue(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.post("/api/v1/auth/logout/", {}, format="json").status_code == 204
    assert refused(client.get("/api/v1/me/"))
    assert get_me(f"Bearer {other}").status_code == 200


def test_logout_all_revokes_every_token_of_the_user(user, client_for):
    raw, other = token_issue(user=user), token_issue(user=user)
    bystander = client_for(type(user).objects.create(username="bystander"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.post("/api/v1/auth/logout/", {"all": True}, format="json").status_code == 204
    assert refused(get_me(f"Bearer {raw}")) and refused(get_me(f"Bearer {other}"))
    assert bystander.get("/api/v1/me/").status_code == 200


def test_operator_login_gives_a_working_token(api_client, operator):
    response = api_client.post(
        "/api/v1/auth/login/", {"username": "operator", "password": "pw-Secret-123"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["is_staff"] is True and body["user"]["id"] == operator.pk
    assert get_me(f"Bearer {body['token']}").json()["id"] == operator.pk


def test_operator_login_refuses_a_non_staff_user(api_client, user):
    response = api_client.post("/api/v1/auth/login/", {"username": user.username, "password": "pw-Secret-123"},
                               format="json")
    assert response.status_code == 401 and response.json()["code"] == "invalid_credentials"
    assert not AuthToken.objects.filter(user=user).exists()

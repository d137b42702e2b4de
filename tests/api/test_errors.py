"""Every failure leaves in one shape: {"code", "message", "extra"} with the status of API.md."""
from __future__ import annotations

import pytest

from accounts.models import AuthToken


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "extra"}, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["extra"], dict)
    return body


def test_400_invalid_puts_field_messages_in_extra_fields(api_client, db):
    body = assert_error(api_client.post("/api/v1/auth/login/", {"username": "x" * 151}, format="json"), 400, "invalid")
    fields = body["extra"]["fields"]
    assert set(fields) == {"username", "password"}
    assert all(isinstance(msg, str) for msgs in fields.values() for msg in msgs)


def test_400_on_malformed_json(api_client, db):
    response = api_client.post("/api/v1/auth/login/", "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_415_on_a_form_body(api_client, db):
    response = api_client.post("/api/v1/auth/login/", "username=a&password=b",
                               content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_401_without_credentials(api_client, db):
    response = api_client.get("/api/v1/me/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Bearer"


def test_401_wrong_password(api_client, operator):
    response = api_client.post("/api/v1/auth/login/", {"username": "operator", "password": "nope"}, format="json")
    assert_error(response, 401, "invalid_credentials")
    assert not AuthToken.objects.exists()


def test_403_for_a_normal_user_on_ops(user_client):
    assert_error(user_client.get("/api/v1/ops/ledger/audit/"), 403, "permission_denied")


def test_404_unknown_api_path_is_json(user_client):
    assert_error(user_client.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_404_unknown_path_outside_the_api_stays_html(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_405_wrong_method(user_client):
    assert_error(user_client.delete("/api/v1/me/"), 405, "method_not_allowed")


@pytest.mark.urls("tests.api.idem_urls")
def test_404_from_a_domain_error(user_client):
    assert_error(user_client.get("/errors/not_found/"), 404, "not_found")


@pytest.mark.urls("tests.api.idem_urls")
def test_409_conflict_keeps_its_code_and_extra(user_client):
    body = assert_error(user_client.get("/errors/conflict/"), 409, "test_clash")
    assert body["message"] == "It clashes." and body["extra"] == {"why": "testing"}
    body = assert_error(user_client.get("/errors/insufficient/"), 409, "insufficient_balance")
    assert body["extra"] == {"balance_fen": 1}


@pytest.mark.urls("tests.api.idem_urls")
def test_422_idempotency_key_reused(user_client):
    user_client.post("/idem/", {"amount_fen": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    response = user_client.post("/idem/", {"amount_fen": 2}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response, 422, "idempotency_key_reused")


def test_429_throttled(user_client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "user": "2/min"},
    }
    assert user_client.get("/api/v1/me/").status_code == 200
    assert user_client.get("/api/v1/me/").status_code == 200
    response = user_client.get("/api/v1/me/")
    body = assert_error(response, 429, "throttled")
    assert 0 < body["extra"]["retry_after_seconds"] <= 60
    assert response["Retry-After"] == str(body["extra"]["retry_after_seconds"])

"""Throttling: per user, per client IP for anonymous calls and logins; on Redis when Redis is there."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache

from tests.factories import UserFactory


@pytest.fixture
def rates(settings):
    def set_rates(**overrides):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **overrides},
        }

    return set_rates


def test_user_rate_is_per_user(rates, user_client, client_for):
    rates(user="3/min")
    assert [user_client.get("/api/v1/me/").status_code for _ in range(4)] == [200, 200, 200, 429]
    other = client_for(UserFactory())
    assert other.get("/api/v1/me/").status_code == 200  # another user has their own budget


@pytest.mark.urls("tests.api.idem_urls")
def test_anon_rate_is_per_client_ip(rates, api_client, client_for, db):
    rates(anon="2/min", user="100/min")
    statuses = [api_client.get("/public/", REMOTE_ADDR="10.0.0.1").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert api_client.get("/public/", REMOTE_ADDR="10.0.0.2").status_code == 200
    # a logged-in user from the same address is counted as a user, not as the address
    assert client_for(UserFactory()).get("/public/", REMOTE_ADDR="10.0.0.1").status_code == 200


def test_login_rate_is_per_ip_whatever_the_username(rates, api_client, operator):
    rates(login="2/min")
    for name in ("a", "b"):
        response = api_client.post("/api/v1/auth/login/", {"username": name, "password": "x"}, format="json")
        assert response.status_code == 401
    response = api_client.post(
        "/api/v1/auth/login/", {"username": "operator", "password": "pw-Secret-123"}, format="json"
    )
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"


def test_health_is_never_throttled(rates, api_client, db):
    rates(anon="1/min")
    assert {api_client.get("/api/v1/health/").status_code for _ in range(3)} <= {200, 503}


def test_the_budget_is_kept_in_the_cache(rates, user_client, user):
    rates(user="2/min")
    user_client.get("/api/v1/me/")
    user_client.get("/api/v1/me/")
    assert user_client.get("/api/v1/me/").status_code == 429
    cache.clear()  # forgetting the history lifts the limit: the state lives in the cache, not the process
    assert user_client.get("/api/v1/me/").status_code == 200


@pytest.mark.redis
def test_throttle_history_lives_in_redis(rates, user_client, user):
    import redis

    assert django_settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    rates(user="2/min")
    user_client.get("/api/v1/me/")
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    try:
        keys = [k.decode() for k in client.scan_iter(match="*throttle_user_*")]
        assert keys and all(k.endswith(f"throttle_user_{user.pk}") for k in keys)
        # another process (a second gunicorn worker) sharing this Redis sees the same history
        user_client.get("/api/v1/me/")
        assert user_client.get("/api/v1/me/").status_code == 429
        client.delete(*keys)
        assert user_client.get("/api/v1/me/").status_code == 200
    finally:
        client.close()


def test_a_cache_outage_lets_requests_through(rates, user_client, settings, caplog):
    rates(user="1/min")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert [user_client.get("/api/v1/me/").status_code for _ in range(3)] == [200, 200, 200]
    assert any("letting the request through" in r.getMessage() for r in caplog.records)


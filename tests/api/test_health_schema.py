"""GET /api/v1/health/, and the OpenAPI schema and Swagger UI."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command


def test_health_reports_every_part(api_client, db):
    response = api_client.get("/api/v1/health/")
    body = response.json()
    assert set(body["checks"]) == {"database", "redis", "celery"}
    for check in body["checks"].values():
        assert isinstance(check["ok"], bool)
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["vendor"] in {"postgresql", "sqlite"}
    # on PostgreSQL + Redis the suite sees Redis; on SQLite without Redis it says "not configured"
    assert body["checks"]["redis"]["configured"] is django_settings.REDIS_AVAILABLE
    assert body["ok"] is all(c["ok"] for c in body["checks"].values())
    assert response.status_code == (200 if body["ok"] else 503)


def test_health_without_redis_says_not_configured(api_client, settings, db):
    settings.REDIS_AVAILABLE = False
    body = api_client.get("/api/v1/health/").json()
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["redis"]["configured"] is False


def test_health_with_unreachable_redis_is_503(api_client, settings, db):
    settings.REDIS_AVAILABLE = True
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    response = api_client.get("/api/v1/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert body["checks"]["redis"]["ok"] is False and body["checks"]["redis"]["error"]
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.redis
def test_health_with_redis(api_client, db):
    body = api_client.get("/api/v1/health/").json()
    assert body["checks"]["redis"] == {**body["checks"]["redis"], "ok": True, "configured": True}


def test_health_celery_eager_in_tests(api_client, db):
    assert django_settings.CELERY_TASK_ALWAYS_EAGER
    celery = api_client.get("/api/v1/health/").json()["checks"]["celery"]
    assert celery["ok"] is True and celery["mode"] == "eager"


def test_health_needs_no_login_and_ignores_a_bad_token(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer nonsense")
    assert api_client.get("/api/v1/health/").status_code in (200, 503)


def test_schema_renders_and_describes_the_api(api_client, db):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for path in ("/api/v1/health/", "/api/v1/me/", "/api/v1/me/following/", "/api/v1/auth/login/",
                 "/api/v1/ops/ledger/audit/"):
        assert path in paths, path
    assert "bearerAuth" in schema["components"]["securitySchemes"]


def test_swagger_ui_is_served(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_schema_validates_without_warnings(tmp_path):
    """`manage.py spectacular --validate --fail-on-warn` passes: every view is described."""
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.read_text().startswith("openapi:")

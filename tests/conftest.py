"""Shared fixtures. After every test that touched the database, the ledger must balance."""
from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.services import token_issue
from ledger.selectors import ledger_audit

from .factories import UserFactory

ON_POSTGRES = connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL row locks")
    skip_redis = pytest.mark.skip(reason="needs Redis")
    for item in items:
        if "postgres" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_AVAILABLE:
            item.add_marker(skip_redis)


TRANSACTIONAL = ("transactional_db", "live_server", "django_db_reset_sequences")


@pytest.fixture(autouse=True)
def _books_balance(request):
    """Run the ledger audit after every test that used the database.

    The database fixture is requested from here, so that its teardown (rollback or
    flush) runs after the audit and the audit sees what the test left.
    """
    marker = request.node.get_closest_marker("django_db")
    names = request.fixturenames
    transactional = any(n in names for n in TRANSACTIONAL) or bool(marker and marker.kwargs.get("transaction"))
    uses_db = transactional or bool(marker) or "db" in names
    if uses_db:
        request.getfixturevalue("transactional_db" if transactional else "db")
    yield
    if uses_db and not request.node.get_closest_marker("skip_audit"):
        report = ledger_audit()
        assert report["ok"], f"ledger audit failed after test: {report}"


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    from accounts import token_cache

    cache.clear()
    token_cache.cache.clear()  # the per-process Bearer token cache: each test starts without it
    yield


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, username="operator")


def _client_for(user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issue(user=user)}")
    return client


@pytest.fixture
def user_client(user):
    return _client_for(user)


@pytest.fixture
def operator_client(operator):
    return _client_for(operator)


@pytest.fixture
def client_for():
    return _client_for


@pytest.fixture
def admin_client(client, operator):
    """Django's test client logged into the admin as `operator` (instead of pytest-django's
    admin_client and its own "admin" user)."""
    client.force_login(operator)
    return client


@pytest.fixture
def wechat_sandbox(live_server, settings):
    """The WeChat sandbox served over real HTTP by a live server; wechatpy is pointed at it,
    and the sandbox sends its notifications back to the same server."""
    settings.WECHAT_SANDBOX_BASE_URL = live_server.url
    settings.PUBLIC_BASE_URL = live_server.url
    settings.WECHAT_PAY_NOTIFY_URL = f"{live_server.url}/api/v1/wechat/pay/notify/"
    settings.WECHAT_REFUND_NOTIFY_URL = f"{live_server.url}/api/v1/wechat/refund/notify/"
    settings.WECHAT_TRANSFER_NOTIFY_URL = f"{live_server.url}/api/v1/wechat/transfer/notify/"
    return live_server

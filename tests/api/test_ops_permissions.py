"""Every operator endpoint (`/api/v1/ops/…`, found by walking the URL patterns, so a new one
is covered the day it is added) answers 401 to the anonymous and 403 to a non-staff user, for
every method, and changes nothing."""
from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from ledger.models import LedgerTransaction
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def _concrete(route: str) -> str:
    path = route.lstrip("^").rstrip("$")
    path = re.sub(r"<int:\w+>", "1", path)
    path = re.sub(r"<(?:str|slug):\w+>", "x1", path)
    return "/" + path


OPS_PATHS = sorted({_concrete(r) for r in _walk(get_resolver().url_patterns) if "api/v1/ops/" in r})


def test_the_ops_routes_are_found():
    assert len(OPS_PATHS) >= 25
    for expected in ("withdrawals/", "withdrawals/1/approve/", "reports/overview/", "commission-rules/",
                     "ledger/audit/", "settings/distribution/"):
        assert f"/api/v1/ops/{expected}" in OPS_PATHS


@pytest.mark.parametrize("path", OPS_PATHS)
def test_non_staff_get_403_and_anonymous_401_on_every_method(path, api_client, client_for):
    shopper = client_for(UserFactory(is_staff=False))
    for method in METHODS:
        res = getattr(shopper, method)(path, {"reason": "x", "ids": [1], "action": "approve"}, format="json")
        assert res.status_code == 403, (method, path, res.status_code)
        assert res.json()["code"] == "permission_denied"
        anon = getattr(api_client, method)(path, {}, format="json")
        assert anon.status_code == 401, (method, path, anon.status_code)
    assert not LedgerTransaction.objects.exists()

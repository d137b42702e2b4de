"""`load_demo` (run by `make run`): idempotent, prints a working operator login, balanced books."""
import re

import pytest
from django.core.management import call_command

from accounts.models import User
from ledger.models import LedgerTransaction
from mall.models import Product

pytestmark = pytest.mark.django_db


def test_load_demo_twice_gives_one_set_and_a_working_login(api_client, capsys, monkeypatch):
    monkeypatch.delenv("DEMO_OPERATOR_PASSWORD", raising=False)
    call_command("load_demo")
    call_command("load_demo")
    out = capsys.readouterr().out
    password = re.findall(r"username=operator password=(\S+)", out)[-1]
    assert User.objects.filter(username="operator", is_staff=True).count() == 1
    assert User.objects.filter(openid__startswith="o-demo-").count() == 3
    assert Product.objects.filter(on_shelf=True).count() == 3
    assert LedgerTransaction.objects.filter(kind="demo.grant").count() == 2
    res = api_client.post("/api/v1/auth/login/", {"username": "operator", "password": password}, format="json")
    assert res.status_code == 200
    assert res.json()["user"]["is_staff"] is True
    listed = api_client.get("/api/v1/products/").json()
    assert listed["count"] == 3


def test_load_demo_uses_the_password_from_the_environment(api_client, monkeypatch):
    monkeypatch.setenv("DEMO_OPERATOR_PASSWORD", "demo-Pass-2026")
    call_command("load_demo")
    res = api_client.post("/api/v1/auth/login/", {"username": "operator", "password": "demo-Pass-2026"},
                          format="json")
    assert res.status_code == 200

"""The audit finds tampered books; the command and the ops endpoint expose it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection

from ledger.models import Account, Entry, LedgerTransaction
from ledger.selectors import ledger_audit
from tests.factories import UserFactory

from .ledger_helpers import fund

AUDIT_URL = "/api/v1/ops/ledger/audit/"


def test_audit_of_empty_books_is_ok(db):
    report = ledger_audit()
    assert report["ok"] is True
    assert report["accounts"] == 0 and report["transactions"] == 0 and report["total_balance_fen"] == 0


def test_audit_ok_after_postings(wallet, other_wallet):
    fund(wallet, 100)
    fund(other_wallet, 50)
    report = ledger_audit()
    assert report["ok"] is True
    assert report["accounts"] == 3 and report["transactions"] == 2
    assert report["mismatched_accounts"] == [] and report["unbalanced_transactions"] == []


def test_audit_detects_a_tampered_balance(wallet):
    fund(wallet, 100)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance_fen = 150 WHERE id = %s", [wallet.pk])
    report = ledger_audit()
    assert report["ok"] is False
    assert report["mismatched_accounts"] == [{"account": wallet.code, "balance_fen": 150, "entries_fen": 100}]
    assert report["total_balance_fen"] == 50
    Account.objects.filter(pk=wallet.pk).update(balance_fen=100)  # repair, so the autouse audit passes
    assert ledger_audit()["ok"] is True


def test_audit_detects_an_unbalanced_transaction(wallet):
    txn = fund(wallet, 100).transaction
    entry = Entry.objects.get(transaction=txn, account=wallet)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_entry SET amount_fen = 90 WHERE id = %s", [entry.pk])
    report = ledger_audit()
    assert report["ok"] is False
    assert {"transaction": txn.pk, "sum_fen": -10, "entries": 2} in report["unbalanced_transactions"]
    # the wallet's balance no longer matches its entries either
    assert [m["account"] for m in report["mismatched_accounts"]] == [wallet.code]
    Entry.objects.filter(pk=entry.pk).update(amount_fen=100)
    assert ledger_audit()["ok"] is True


def test_audit_detects_a_transaction_without_entries(db):
    txn = LedgerTransaction.objects.create(kind="test.empty", idempotency_key="empty")
    report = ledger_audit()
    assert report["ok"] is False
    assert {"transaction": txn.pk, "sum_fen": 0, "entries": 0} in report["unbalanced_transactions"]
    txn.delete()
    assert ledger_audit()["ok"] is True


def test_audit_detects_a_single_entry_transaction(wallet, cash):
    """An entry moved out of its transaction leaves two broken ones: a lone leg, and the sum."""
    first = fund(wallet, 100).transaction
    second = fund(wallet, 100).transaction
    moved = Entry.objects.get(transaction=first, account=wallet)
    Entry.objects.filter(pk=moved.pk).update(transaction=second, account=cash)
    report = ledger_audit()
    broken = {row["transaction"] for row in report["unbalanced_transactions"]}
    assert report["ok"] is False and broken == {first.pk, second.pk}
    Entry.objects.filter(pk=moved.pk).update(transaction=first, account=wallet)
    assert ledger_audit()["ok"] is True


def test_audit_command_exits_zero_when_ok(wallet, capsys):
    fund(wallet, 10)
    call_command("audit_ledger")
    out = capsys.readouterr().out
    assert "ledger audit ok" in out and '"ok": true' in out


def test_audit_command_fails_on_mismatch(wallet, capsys):
    fund(wallet, 10)
    Account.objects.filter(pk=wallet.pk).update(balance_fen=11)
    with pytest.raises(CommandError) as info:
        call_command("audit_ledger")
    assert info.value.returncode == 1  # manage.py exits with this status
    assert wallet.code in capsys.readouterr().out
    Account.objects.filter(pk=wallet.pk).update(balance_fen=10)


def _run_manage_audit() -> subprocess.CompletedProcess:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": ""}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return subprocess.run(
        [sys.executable, "manage.py", "audit_ledger"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_manage_py_audit_ledger_exit_status(wallet):
    """The real command line, in another process, against the committed test database."""
    fund(wallet, 10)
    ok = _run_manage_audit()
    assert ok.returncode == 0, ok.stderr
    assert "ledger audit ok" in ok.stdout
    Account.objects.filter(pk=wallet.pk).update(balance_fen=11)
    try:
        bad = _run_manage_audit()
    finally:
        Account.objects.filter(pk=wallet.pk).update(balance_fen=10)
    assert bad.returncode == 1
    assert "ledger audit FAILED" in bad.stderr and wallet.code in bad.stdout


def test_audit_endpoint_for_operator(operator_client, wallet):
    fund(wallet, 10)
    response = operator_client.get(AUDIT_URL)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["transactions"] == 1 and body["accounts"] == 2


def test_audit_endpoint_reports_a_mismatch(operator_client, wallet):
    fund(wallet, 10)
    Account.objects.filter(pk=wallet.pk).update(balance_fen=11)
    body = operator_client.get(AUDIT_URL).json()
    assert body["ok"] is False and body["mismatched_accounts"][0]["account"] == wallet.code
    Account.objects.filter(pk=wallet.pk).update(balance_fen=10)


def test_audit_endpoint_refuses_normal_user(user_client):
    response = user_client.get(AUDIT_URL)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_audit_endpoint_refuses_anonymous(api_client, db):
    response = api_client.get(AUDIT_URL)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_audit_endpoint_needs_the_permission(client_for, db):
    staff = UserFactory(is_staff=True)
    assert client_for(staff).get(AUDIT_URL).status_code == 403
    staff.user_permissions.add(Permission.objects.get(content_type__app_label="ledger", codename="view_account"))
    staff = type(staff).objects.get(pk=staff.pk)  # drop the permission cache
    assert client_for(staff).get(AUDIT_URL).status_code == 200


def test_audit_endpoint_permission_alone_is_not_enough(client_for, db):
    """A non-staff user holding the permission is still not an operator."""
    someone = UserFactory()
    someone.user_permissions.add(Permission.objects.get(content_type__app_label="ledger", codename="view_account"))
    assert client_for(someone).get(AUDIT_URL).status_code == 403

"""@idempotent (api/idempotency.py) on a test-only view whose side effect is a ledger posting."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import token_issue
from api.models import IdempotencyRecord
from core.jobs import job_run
from ledger.models import LedgerTransaction
from tests.concurrency import run_at_once
from tests.factories import UserFactory

pytestmark = pytest.mark.urls("tests.api.idem_urls")

URL = "/idem/"


def moves() -> int:
    return LedgerTransaction.objects.filter(kind="test.idem").count()


def post(client, body, key=None):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(URL, body, format="json", **headers)


def test_without_a_key_the_view_runs_every_time(user_client):
    assert post(user_client, {"amount_fen": 5}).status_code == 201
    assert post(user_client, {"amount_fen": 5}).status_code == 201
    assert moves() == 2
    assert IdempotencyRecord.objects.count() == 0


def test_same_key_same_body_replays_the_first_response(user_client, user):
    first = post(user_client, {"amount_fen": 5}, key="k-1")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    again = post(user_client, {"amount_fen": 5}, key="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # including the uuid and time, as rendered the first time
    assert moves() == 1
    assert first.json()["balance_fen"] == 5
    record = IdempotencyRecord.objects.get()
    assert (record.owner, record.key, record.method, record.path, record.status_code) == (
        f"u{user.pk}", "k-1", "POST", URL, 201
    )
    assert record.completed_at is not None


def test_key_order_of_the_json_body_does_not_matter(user_client):
    post(user_client, {"amount_fen": 5, "fail": ""}, key="k-order")
    again = post(user_client, {"fail": "", "amount_fen": 5}, key="k-order")
    assert again["Idempotent-Replayed"] == "true"
    assert moves() == 1


def test_same_key_different_body_is_422(user_client):
    post(user_client, {"amount_fen": 5}, key="k-2")
    response = post(user_client, {"amount_fen": 6}, key="k-2")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "idempotency_key_reused"
    assert set(body) == {"code", "message", "extra"}
    assert moves() == 1


def test_key_reused_by_another_user_is_independent(user_client, client_for):
    post(user_client, {"amount_fen": 5}, key="shared")
    other = client_for(UserFactory())
    response = post(other, {"amount_fen": 5}, key="shared")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert response.json()["balance_fen"] == 5  # the other user's own wallet
    assert moves() == 2
    assert IdempotencyRecord.objects.filter(key="shared").count() == 2


@pytest.mark.parametrize("key", ["", "   ", "k" * 256, "bad\x01key", "tab\tinside"])
def test_invalid_key_is_400_and_does_nothing(user_client, key):
    response = post(user_client, {"amount_fen": 5}, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert moves() == 0
    assert IdempotencyRecord.objects.count() == 0


def test_longest_key_is_accepted(user_client):
    assert post(user_client, {"amount_fen": 5}, key="k" * 255).status_code == 201
    assert moves() == 1


def test_invalid_body_is_not_remembered(user_client):
    response = post(user_client, {"amount_fen": 0}, key="k-bad-body")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert IdempotencyRecord.objects.count() == 0
    # fixing the body and retrying with the same key works: nothing was stored
    assert post(user_client, {"amount_fen": 1}, key="k-bad-body").status_code == 201


def test_domain_error_leaves_no_record_and_a_retry_runs(user_client):
    response = post(user_client, {"amount_fen": 5, "fail": "conflict"}, key="k-3")
    assert response.status_code == 409 and response.json()["code"] == "test_conflict"
    assert IdempotencyRecord.objects.count() == 0
    assert moves() == 0  # the view's transaction rolled back
    retry = post(user_client, {"amount_fen": 5}, key="k-3")
    # a different body is fine too: the failed request is forgotten
    assert retry.status_code == 201 and "Idempotent-Replayed" not in retry
    assert moves() == 1


def test_crash_leaves_no_record_and_a_retry_runs(user_client):
    with pytest.raises(RuntimeError):  # the test client re-raises what would be a 500
        post(user_client, {"amount_fen": 5, "fail": "crash"}, key="k-4")
    assert IdempotencyRecord.objects.count() == 0
    assert moves() == 0


def test_crash_then_retry_runs(user_client):
    with pytest.raises(RuntimeError):
        post(user_client, {"amount_fen": 5, "fail": "crash"}, key="k-5")
    response = post(user_client, {"amount_fen": 5}, key="k-5")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert moves() == 1


def test_server_error_response_is_not_remembered(user_client):
    assert post(user_client, {"amount_fen": 5, "fail": "500"}, key="k-6").status_code == 500
    assert IdempotencyRecord.objects.count() == 0
    assert post(user_client, {"amount_fen": 5}, key="k-6").status_code == 201


def test_request_still_running_gets_409(user_client, user):
    IdempotencyRecord.objects.create(
        owner=f"u{user.pk}", key="k-busy", method="POST", path=URL, request_hash=_hash_of(user_client, "k-probe")
    )
    response = post(user_client, {"amount_fen": 5}, key="k-busy")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert moves() == 1  # only the probe


def _hash_of(client, key):
    """The stored hash of {"amount_fen": 5} on URL, learnt by posting it once under another key."""
    post(client, {"amount_fen": 5}, key=key)
    return IdempotencyRecord.objects.get(key=key).request_hash


def test_anonymous_requests_are_refused_before_anything_is_stored(api_client, db):
    response = post(api_client, {"amount_fen": 5}, key="k-anon")
    assert response.status_code == 401
    assert IdempotencyRecord.objects.count() == 0


def test_purge_job_removes_old_records_only(user_client):
    post(user_client, {"amount_fen": 5}, key="old")
    post(user_client, {"amount_fen": 5}, key="new")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    assert job_run(name="api.purge_idempotency_records") == {"deleted": 1}
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    # the forgotten key may be used again (a day later it is a new request)
    assert post(user_client, {"amount_fen": 5}, key="old").status_code == 201
    assert moves() == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_requests_with_one_key_move_money_once():
    user = UserFactory()
    token = token_issue(user=user)
    clients = []
    for _ in range(20):
        clients.append(APIClient())
        clients[-1].credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def run(i):
        response = post(clients[i], {"amount_fen": 7}, key="race")
        return (response.status_code, response.get("Idempotent-Replayed"), response.json())

    results = run_at_once(run, 20, domain_errors=False)  # any exception in a thread fails the test
    assert len(results) == 20, results
    assert not [r for r in results if isinstance(r, BaseException)], results
    kinds = Counter(
        "first" if (status == 201 and not replayed) else "replayed" if status == 201 else body["code"]
        for status, replayed, body in results
    )
    assert kinds["first"] == 1, kinds
    assert set(kinds) <= {"first", "replayed", "idempotency_in_progress"}, kinds
    assert moves() == 1
    firsts = [body for status, replayed, body in results if status == 201]
    assert all(body == firsts[0] for body in firsts)  # every replay is the first response
    record = IdempotencyRecord.objects.get()
    assert record.completed_at is not None and record.status_code == 201

"""The Django admin as the operators' console: users and the ledger (read-only)."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import AuthToken, Follow
from accounts.services import follow_create, token_hash, token_issue
from api.models import IdempotencyRecord
from ledger.admin import yuan
from ledger.models import Account, AccountKind, Entry, LedgerTransaction
from ledger.services import account_get_or_create, ledger_post
from tests.factories import UserFactory


@pytest.fixture
def books(user):
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)
    escrow = account_get_or_create(kind=AccountKind.CAMPAIGN_ESCROW, ref="crowdfund:9")
    txn = ledger_post(
        kind="test.pay", idempotency_key="admin-1", legs=[(outside, -1050), (wallet, 1000), (escrow, 50)],
        memo="=HYPERLINK(\"http://evil\")", cause_type="mall.order", cause_id="A1",
    ).transaction
    return {"outside": outside, "wallet": wallet, "escrow": escrow, "txn": txn}


def test_yuan_formatting_is_exact():
    assert [yuan(v) for v in (0, 5, -5, 100, 123456, -100001, None)] == [
        "0.00", "0.05", "-0.05", "1.00", "1,234.56", "-1,000.01", "-"
    ]


def test_every_changelist_and_change_page_opens(admin_client, user, books):
    follow = follow_create(follower=user, followee=UserFactory())[0]
    token_issue(user=user)
    token = AuthToken.objects.first()
    IdempotencyRecord.objects.create(owner=f"u{user.pk}", key="k", method="POST", path="/x/", request_hash="h")
    record = IdempotencyRecord.objects.get()
    entry = Entry.objects.filter(transaction=books["txn"]).first()
    pages = {
        "accounts/user": user.pk,
        "accounts/authtoken": token.pk,
        "accounts/follow": follow.pk,
        "ledger/account": books["wallet"].pk,
        "ledger/ledgertransaction": books["txn"].pk,
        "ledger/entry": entry.pk,
        "api/idempotencyrecord": record.pk,
    }
    for model, pk in pages.items():
        listing = admin_client.get(f"/admin/{model}/")
        assert listing.status_code == 200, model
        change = admin_client.get(f"/admin/{model}/{pk}/change/")
        assert change.status_code == 200, model
    # the transaction page shows its entries inline, amounts in yuan
    page = admin_client.get(f"/admin/ledger/ledgertransaction/{books['txn'].pk}/change/").content.decode()
    assert books["wallet"].code in page and "10.00" in page and "-10.50" in page


@pytest.mark.parametrize(
    "url",
    [
        "/admin/ledger/account/?kind__exact=user_wallet",
        "/admin/ledger/account/?owner_type=user",
        "/admin/ledger/account/?owner_type=thing",
        "/admin/ledger/account/?owner_type=platform",
        "/admin/ledger/account/?q=crowdfund",
        "/admin/ledger/ledgertransaction/?kind=test.pay",
        "/admin/ledger/ledgertransaction/?q=admin-1",
        "/admin/ledger/entry/?account__kind=user_wallet",
        "/admin/ledger/entry/?q=admin-1",
        "/admin/accounts/user/?q=用户",
        "/admin/accounts/user/?is_staff__exact=1",
        "/admin/accounts/authtoken/?status=active",
        "/admin/accounts/authtoken/?status=revoked",
        "/admin/accounts/authtoken/?status=expired",
        "/admin/accounts/follow/?q=user",
        "/admin/api/idempotencyrecord/?completed_at__isempty=1",
    ],
)
def test_filters_and_search_answer(admin_client, books, url):
    assert admin_client.get(url).status_code == 200


def test_filters_really_filter(admin_client, user, books):
    page = admin_client.get("/admin/ledger/account/?owner_type=user").content.decode()
    assert books["wallet"].code in page and books["escrow"].code not in page
    page = admin_client.get("/admin/ledger/account/?owner_type=thing").content.decode()
    assert books["escrow"].code in page and books["wallet"].code not in page
    page = admin_client.get(f"/admin/ledger/entry/?account__id__exact={books['escrow'].pk}").content.decode()
    assert books["escrow"].code in page and books["wallet"].code not in page
    date = timezone.localdate()
    url = f"/admin/ledger/ledgertransaction/?created_at__year={date.year}&created_at__month={date.month}"
    assert "admin-1" in admin_client.get(url).content.decode()
    assert "admin-1" not in admin_client.get("/admin/ledger/ledgertransaction/?q=nothing-like-it").content.decode()


@pytest.mark.parametrize("model", ["account", "ledgertransaction", "entry"])
def test_the_ledger_cannot_be_written_from_the_admin(admin_client, books, model):
    before = (Account.objects.count(), LedgerTransaction.objects.count(), Entry.objects.count())
    pk = {"account": books["wallet"].pk, "ledgertransaction": books["txn"].pk,
          "entry": Entry.objects.filter(transaction=books["txn"]).first().pk}[model]
    assert admin_client.get(f"/admin/ledger/{model}/add/").status_code == 403
    assert admin_client.post(f"/admin/ledger/{model}/add/", {"amount_fen": 1}).status_code == 403
    assert admin_client.post(f"/admin/ledger/{model}/{pk}/change/", {"balance_fen": 999}).status_code == 403
    assert admin_client.get(f"/admin/ledger/{model}/{pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/ledger/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
    response = admin_client.post(f"/admin/ledger/{model}/", {"action": "delete_selected", "_selected_action": [pk],
                                                         "post": "yes"})
    assert response.status_code in (200, 302)  # delete_selected is not offered: "no action selected"
    assert (Account.objects.count(), LedgerTransaction.objects.count(), Entry.objects.count()) == before
    assert Account.objects.get(pk=books["wallet"].pk).balance_fen == 1000
    assert f"/admin/ledger/{model}/add/" not in admin_client.get(f"/admin/ledger/{model}/").content.decode()


def test_staff_without_ledger_permission_is_refused(client, books):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/ledger/account/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_account"))
    assert client.get("/admin/ledger/account/").status_code == 200
    assert client.get("/admin/ledger/entry/").status_code == 403


def test_normal_users_cannot_open_the_admin(client, user):
    client.force_login(user)
    response = client.get("/admin/ledger/account/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_csv_export_of_entries(admin_client, books):
    ids = list(Entry.objects.filter(transaction=books["txn"]).values_list("pk", flat=True))
    response = admin_client.post("/admin/ledger/entry/", {"action": "export_csv", "_selected_action": ids})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["id", "transaction_id", "transaction__kind", "transaction__idempotency_key",
                       "account__code", "amount_fen", "created_at"]
    amounts = sorted(int(r[5]) for r in rows[1:])
    assert amounts == [-1050, 50, 1000]


def test_csv_export_quotes_formulas(admin_client, books):
    response = admin_client.post(
        "/admin/ledger/ledgertransaction/", {"action": "export_csv", "_selected_action": [books["txn"].pk]}
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    memo = rows[1][rows[0].index("memo")]
    assert memo.startswith("'=")  # a spreadsheet shows it as text instead of running it


def test_csv_export_of_accounts(admin_client, books):
    ids = [books["wallet"].pk, books["escrow"].pk]
    response = admin_client.post("/admin/ledger/account/", {"action": "export_csv", "_selected_action": ids})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {(r[1], r[6]) for r in rows[1:]} == {(books["wallet"].code, "1000"), (books["escrow"].code, "50")}


def test_tokens_are_read_only_but_can_be_revoked(admin_client, user):
    raw = token_issue(user=user)
    kept = token_issue(user=UserFactory())
    token = AuthToken.objects.get(key_hash=token_hash(raw))
    assert admin_client.get("/admin/accounts/authtoken/add/").status_code == 403
    assert admin_client.post(f"/admin/accounts/authtoken/{token.pk}/change/", {"prefix": "x"}).status_code == 403
    assert raw not in admin_client.get(f"/admin/accounts/authtoken/{token.pk}/change/").content.decode()
    response = admin_client.post("/admin/accounts/authtoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuthToken.objects.get(key_hash=token_hash(kept)).revoked_at is None
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/me/").status_code == 401


def test_revoke_needs_the_change_permission(client, user):
    raw = token_issue(user=user)
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_authtoken"))
    client.force_login(staff)
    token = AuthToken.objects.get(key_hash=token_hash(raw))
    response = client.post("/admin/accounts/authtoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 200  # the action is not offered
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_status_filter(admin_client, user):
    active = token_issue(user=user)
    expired = token_issue(user=user)
    AuthToken.objects.filter(key_hash=token_hash(expired)).update(expires_at=timezone.now() - timedelta(hours=1))
    page = admin_client.get("/admin/accounts/authtoken/?status=expired").content.decode()
    assert expired[:8] in page and active[:8] not in page
    page = admin_client.get("/admin/accounts/authtoken/?status=active").content.decode()
    assert active[:8] in page and expired[:8] not in page


def test_user_admin_shows_and_edits_wechat_fields(admin_client, user):
    page = admin_client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert user.openid in page and 'name="nickname"' in page and 'name="unionid"' in page
    assert user.nickname in admin_client.get(f"/admin/accounts/user/?q={user.openid}").content.decode()


def test_operator_can_add_a_user(admin_client):
    response = admin_client.post(
        "/admin/accounts/user/add/",
        {"username": "newop", "password1": "Xk2-very-long-pw", "password2": "Xk2-very-long-pw",
         "usable_password": "true", "nickname": "新运营"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    from accounts.models import User

    assert User.objects.get(username="newop").nickname == "新运营"


def test_follow_admin_lists_follows(admin_client, user):
    other = UserFactory()
    follow_create(follower=user, followee=other, source="red_envelope")
    page = admin_client.get("/admin/accounts/follow/?source=red_envelope").content.decode()
    assert str(other) in page
    assert Follow.objects.count() == 1

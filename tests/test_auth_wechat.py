"""WeChat login end to end: our API -> wechat.oauth (real wechatpy) -> the sandbox over real HTTP."""
from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from accounts.models import AuthToken, User
from tests.concurrency import run_at_once
from tests.factories import UserFactory
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models import SandboxFault, SandboxOAuthCode
from wechat.sandbox.mp_views import sandbox_wait_idle

LOGIN = "/api/v1/auth/wechat/"


def issue_code(sandbox, openid: str, **fields) -> str:
    res = requests.post(f"{sandbox.url}/wechat-sandbox/oauth/code/", json={"openid": openid, **fields}, timeout=5)
    assert res.status_code == 201, res.text
    return res.json()["code"]


def bearer(api_client, token: str):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api_client


def test_first_login_creates_user_and_a_working_token(wechat_sandbox, api_client):
    code = issue_code(wechat_sandbox, "o-alice", nickname="Alice", avatar="https://img.example/a.png", unionid="u-1")

    res = api_client.post(LOGIN, {"code": code}, format="json")

    assert res.status_code == 200, res.json()
    body = res.json()
    user = User.objects.get(openid="o-alice")
    assert (user.nickname, user.avatar_url, user.unionid) == ("Alice", "https://img.example/a.png", "u-1")
    assert body["user"]["id"] == user.pk and body["user"]["nickname"] == "Alice"
    assert SandboxOAuthCode.objects.get(code=code).used_at is not None
    me = bearer(api_client, body["token"]).get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["id"] == user.pk


def test_second_login_same_openid_is_the_same_user_with_updated_nickname(wechat_sandbox, api_client):
    first = api_client.post(LOGIN, {"code": issue_code(wechat_sandbox, "o-bob", nickname="Bob")}, format="json")
    second = api_client.post(LOGIN, {"code": issue_code(wechat_sandbox, "o-bob", nickname="Bobby")}, format="json")

    assert first.status_code == second.status_code == 200
    assert first.json()["user"]["id"] == second.json()["user"]["id"]
    assert User.objects.filter(openid="o-bob").count() == 1
    assert User.objects.get(openid="o-bob").nickname == "Bobby"
    assert first.json()["token"] != second.json()["token"]
    assert AuthToken.objects.filter(user__openid="o-bob").count() == 2


def _assert_refused(res, *codes):
    assert res.status_code == 400, res.content
    assert res.json()["code"] in codes


def test_used_code_is_refused_and_issues_no_token(wechat_sandbox, api_client):
    code = issue_code(wechat_sandbox, "o-carol")
    assert api_client.post(LOGIN, {"code": code}, format="json").status_code == 200
    tokens = AuthToken.objects.count()

    res = api_client.post(LOGIN, {"code": code}, format="json")

    _assert_refused(res, "invalid_code")
    assert res.json()["extra"]["errcode"] == 40163
    assert AuthToken.objects.count() == tokens


def test_unknown_code_is_refused_and_creates_nothing(wechat_sandbox, api_client):
    res = api_client.post(LOGIN, {"code": "0" * 32}, format="json")

    _assert_refused(res, "invalid_code")
    assert res.json()["extra"]["errcode"] == 40029
    assert User.objects.count() == 0 and AuthToken.objects.count() == 0


def test_expired_code_is_refused_and_creates_nothing(wechat_sandbox, api_client):
    code = issue_code(wechat_sandbox, "o-dave")
    SandboxOAuthCode.objects.filter(code=code).update(created_at=timezone.now() - timedelta(minutes=6))

    res = api_client.post(LOGIN, {"code": code}, format="json")

    _assert_refused(res, "invalid_code")
    assert not User.objects.filter(openid="o-dave").exists() and AuthToken.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"code": ""},
        {"code": "   "},
        {"code": None},
        {"code": "x" * 129},
        {"code": "x" * 100_000},
        {"code": ["abc"]},
        {"code": {"a": 1}},
        {"code": "bad code!"},
        {"code": "代码"},
        {"code": "a\x00b"},
    ],
    ids=["missing", "empty", "blank", "null", "129", "huge", "list", "object", "space", "non-ascii", "nul"],
)
@pytest.mark.django_db
def test_malformed_code_is_refused_before_calling_wechat(settings, api_client, payload):
    # Nothing listens there: a call out would end in 502, not 400.
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"

    res = api_client.post(LOGIN, payload, format="json")

    _assert_refused(res, "invalid", "invalid_code")
    assert User.objects.count() == 0 and AuthToken.objects.count() == 0


def test_malformed_code_does_not_reach_the_sandbox(wechat_sandbox, api_client):
    # An armed fault that a call to the sandbox would use up: it stays armed if we never call out.
    fault_arm(endpoint="oauth.access_token", mode="fail", err_code="-1")

    _assert_refused(api_client.post(LOGIN, {"code": "bad code!"}, format="json"), "invalid_code")

    assert SandboxFault.objects.get().times == 1


def test_numeric_code_is_refused_as_not_a_string(wechat_sandbox, api_client):
    res = api_client.post(LOGIN, {"code": 12345}, format="json")

    _assert_refused(res, "invalid")  # text fields are JSON strings only (api/fields.py StrictCharField)
    assert "code" in res.json()["extra"]["fields"]
    assert User.objects.count() == 0


def test_sandbox_timeout_is_504_and_creates_nothing(wechat_sandbox, api_client):
    code = issue_code(wechat_sandbox, "o-erin")
    fault_arm(endpoint="oauth.access_token", mode="timeout")

    res = api_client.post(LOGIN, {"code": code}, format="json")
    assert sandbox_wait_idle()  # the sandbox's late answer is done before we look

    assert res.status_code == 504 and res.json()["code"] == "wechat_timeout"
    assert User.objects.count() == 0 and AuthToken.objects.count() == 0


@pytest.mark.parametrize(("mode", "err_code"), [("fail", "-1"), ("fail", "45009"), ("http_error", "")])
def test_sandbox_failure_is_502_and_creates_nothing(wechat_sandbox, api_client, mode, err_code):
    code = issue_code(wechat_sandbox, "o-frank")
    fault_arm(endpoint="oauth.access_token", mode=mode, err_code=err_code)

    res = api_client.post(LOGIN, {"code": code}, format="json")

    assert res.status_code == 502 and res.json()["code"] == "wechat_error"
    if err_code:
        assert res.json()["extra"]["errcode"] == int(err_code)
    assert User.objects.count() == 0 and AuthToken.objects.count() == 0


def test_userinfo_timeout_is_504_and_creates_nothing(wechat_sandbox, api_client):
    code = issue_code(wechat_sandbox, "o-gina", nickname="Gina")
    fault_arm(endpoint="oauth.userinfo", mode="timeout")

    res = api_client.post(LOGIN, {"code": code}, format="json")
    assert sandbox_wait_idle()

    assert res.status_code == 504
    assert User.objects.count() == 0


def test_base_scope_logs_in_with_openid_only(wechat_sandbox, api_client):
    code = issue_code(wechat_sandbox, "o-hank", nickname="Hank", scope="snsapi_base")

    res = api_client.post(LOGIN, {"code": code}, format="json")

    assert res.status_code == 200
    assert User.objects.get(openid="o-hank").nickname == ""


def test_disabled_user_cannot_log_in_with_wechat(wechat_sandbox, api_client):
    UserFactory(openid="o-ivan", is_active=False)

    res = api_client.post(LOGIN, {"code": issue_code(wechat_sandbox, "o-ivan")}, format="json")

    assert res.status_code == 401 and res.json()["code"] == "account_disabled"
    assert AuthToken.objects.count() == 0


def test_revoked_token_is_refused(wechat_sandbox, api_client):
    token = api_client.post(LOGIN, {"code": issue_code(wechat_sandbox, "o-judy")}, format="json").json()["token"]
    client = bearer(api_client, token)
    assert client.get("/api/v1/me/").status_code == 200

    assert client.post("/api/v1/auth/logout/", {}, format="json").status_code == 204

    res = client.get("/api/v1/me/")
    assert res.status_code == 401 and res.json()["code"] == "authentication_failed"
    assert AuthToken.objects.get().revoked_at is not None


@pytest.mark.django_db
def test_expired_token_is_refused(user, client_for, settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0  # the row is edited behind the cache (tests/api/test_auth_cache.py: with it)
    client = client_for(user)
    assert client.get("/api/v1/me/").status_code == 200
    AuthToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))

    res = client.get("/api/v1/me/")

    assert res.status_code == 401


@pytest.mark.django_db
def test_operator_login_ok_for_staff(api_client):
    staff = UserFactory(username="op1", is_staff=True)

    res = api_client.post("/api/v1/auth/login/", {"username": "op1", "password": "pw-Secret-123"}, format="json")

    assert res.status_code == 200
    assert res.json()["user"]["id"] == staff.pk and res.json()["user"]["is_staff"] is True
    assert bearer(api_client, res.json()["token"]).get("/api/v1/me/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "password"),
    [
        ({"is_staff": True}, "wrong-password"),
        ({"is_staff": False}, "pw-Secret-123"),
        ({"is_staff": True, "is_active": False}, "pw-Secret-123"),
    ],
    ids=["wrong-password", "not-staff", "inactive"],
)
def test_operator_login_refused(api_client, fields, password):
    UserFactory(username="op2", **fields)

    res = api_client.post("/api/v1/auth/login/", {"username": "op2", "password": password}, format="json")

    assert res.status_code == 401
    assert AuthToken.objects.count() == 0


@pytest.mark.postgres
def test_concurrent_first_logins_of_one_openid_make_one_user(wechat_sandbox):
    codes = [issue_code(wechat_sandbox, "o-crowd", nickname=f"n{i}") for i in range(10)]
    def login(i: int):
        res = requests.post(f"{wechat_sandbox.url}{LOGIN}", json={"code": codes[i]}, timeout=30)
        return (res.status_code, res.json())

    results = run_at_once(login, len(codes), domain_errors=False)

    assert [status for status, _ in results] == [200] * 10, results
    assert len({body["user"]["id"] for _, body in results}) == 1
    assert User.objects.filter(openid="o-crowd").count() == 1
    assert AuthToken.objects.filter(user__openid="o-crowd").count() == 10

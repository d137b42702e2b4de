"""Login limits (issue 9 item 6): failed operator logins per username and per IP, shared by the admin's
/admin/login/ and POST /api/v1/auth/login/; WeChat logins limited per code and per openid, never per IP.

The new modules are imported inside the tests, so that on the code before the limits each test fails
on its own (and the count of failures there means something)."""
from __future__ import annotations

import logging
import time

import pytest
import requests
from django.core.management import call_command
from django.test import Client

from accounts.models import AuthToken, User
from tests.concurrency import run_at_once
from tests.factories import UserFactory

API_LOGIN = "/api/v1/auth/login/"
ADMIN_LOGIN = "/admin/login/?next=/admin/"
WECHAT_LOGIN = "/api/v1/auth/wechat/"
PASSWORD = "pw-Secret-123"
LOCKED_TEXT = "Too many failed logins"


@pytest.fixture(autouse=True)
def defaults(settings):
    """The shipped defaults, whatever the environment says."""
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 900
    settings.LOGIN_FAILURES_PER_USERNAME = 5
    settings.LOGIN_FAILURES_PER_IP = 50
    settings.LOGIN_WECHAT_CODE_ATTEMPTS = 3
    settings.LOGIN_WECHAT_PER_OPENID_PER_MINUTE = 30
    settings.LOGIN_WECHAT_PER_IP = "600/min"
    return settings


@pytest.fixture
def production_rates(settings):
    """The DRF throttle rates of config/settings/base.py (the test settings raise them out of the way)."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "600/min", "anon": "300/min", "login": "20/min"},
    }


def api_login(api_client, username, password=PASSWORD, ip="10.0.0.1", **extra):
    extra.setdefault("HTTP_ACCEPT_LANGUAGE", "en")  # LOCKED_TEXT is the English message (zh-hans is the default)
    return api_client.post(API_LOGIN, {"username": username, "password": password}, format="json",
                           REMOTE_ADDR=ip, **extra)


def admin_login(client: Client, username, password=PASSWORD, ip="10.0.0.1", **extra):
    return client.post(ADMIN_LOGIN, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def admin_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def assert_locked(res, *limits):
    assert res.status_code == 429, res.content
    body = res.json()
    assert body["code"] == "too_many_login_failures"
    assert LOCKED_TEXT in body["message"]
    wait = body["extra"]["retry_after_seconds"]
    assert isinstance(wait, int) and 1 <= wait <= 900
    assert res["Retry-After"] == str(wait)
    if limits:
        assert sorted(body["extra"]["limits"]) == sorted(limits)


def assert_admin_locked(res, client):
    assert res.status_code == 200  # the login page again, with the form's error
    assert LOCKED_TEXT in res.content.decode()
    assert not admin_logged_in(client)


def fresh_window(seconds: int, margin: float = 1.0) -> None:
    """Wait for a fresh fixed window when less than `margin` s of this one is left (no test straddles one)."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.05)


# --- the two front doors ----------------------------------------------------------------------


def test_sixty_wrong_passwords_then_the_right_one_do_not_log_in_to_the_admin(client, operator):
    statuses = [admin_login(client, "operator", "wrong").status_code for _ in range(60)]

    res = admin_login(client, "operator")

    assert statuses == [200] * 60  # the form again each time, never a redirect into the admin
    assert_admin_locked(res, client)
    assert client.get("/admin/").status_code == 302  # still sent to the login page


def test_sixty_wrong_passwords_then_the_right_one_do_not_log_in_to_the_api(api_client, operator):
    statuses = [api_login(api_client, "operator", "wrong").status_code for _ in range(60)]

    res = api_login(api_client, "operator")

    assert statuses == [401] * 5 + [429] * 55  # the 6th attempt is refused before the password check
    assert_locked(res, "username")
    assert AuthToken.objects.count() == 0


def test_the_right_password_logs_in_below_the_limit(client, api_client, operator):
    for _ in range(4):
        assert api_login(api_client, "operator", "wrong").status_code == 401
    assert api_login(api_client, "operator").status_code == 200
    assert admin_login(client, "operator").status_code == 302 and admin_logged_in(client)


def test_failures_on_the_admin_block_the_api(client, api_client, operator):
    for _ in range(5):
        assert admin_login(client, "operator", "wrong").status_code == 200

    assert_locked(api_login(api_client, "operator", ip="10.9.9.9"), "username")
    assert AuthToken.objects.count() == 0


def test_failures_on_the_api_block_the_admin(client, api_client, operator):
    for _ in range(5):
        assert api_login(api_client, "operator", "wrong").status_code == 401

    assert_admin_locked(admin_login(client, "operator", ip="10.9.9.9"), client)


def test_failures_split_between_the_doors_add_up(client, api_client, operator):
    for i in range(5):
        if i % 2:
            assert admin_login(client, "operator", "wrong").status_code == 200
        else:
            assert api_login(api_client, "operator", "wrong").status_code == 401

    assert_locked(api_login(api_client, "operator"))
    assert_admin_locked(admin_login(client, "operator"), client)


# --- per address, per username ----------------------------------------------------------------


def test_the_per_ip_limit_holds_across_many_usernames(api_client, client, operator):
    for i in range(50):
        assert api_login(api_client, f"guess{i}", "wrong", ip="198.51.100.7").status_code == 401

    assert_locked(api_login(api_client, "operator", ip="198.51.100.7"), "ip")
    assert_locked(api_login(api_client, "nobody", "x", ip="198.51.100.7"), "ip")
    assert_admin_locked(admin_login(client, "operator", ip="198.51.100.7"), client)
    # another address, and the same username, are not affected
    assert api_login(api_client, "operator", ip="198.51.100.8").status_code == 200


def test_the_per_username_limit_holds_across_many_ips(api_client, operator):
    for i in range(5):
        assert api_login(api_client, "operator", "wrong", ip=f"203.0.113.{i + 1}").status_code == 401

    assert_locked(api_login(api_client, "operator", ip="203.0.113.200"), "username")
    # spellings of the username share its count (the admin form NFKC-normalises, the API strips blanks)
    assert_locked(api_login(api_client, " OPERATOR ", ip="203.0.113.201"), "username")
    assert_locked(api_login(api_client, "ｏｐｅｒａｔｏｒ", ip="203.0.113.202"), "username")
    # another operator from one of those addresses is fine
    UserFactory(username="op2", is_staff=True)
    assert api_login(api_client, "op2", ip="203.0.113.1").status_code == 200


def test_the_address_is_the_one_the_trusted_proxy_appended(api_client, client, operator, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    settings.LOGIN_FAILURES_PER_IP = 3
    for i in range(3):  # the client makes up a new leftmost entry each time; the proxy's entry is the same
        res = api_login(api_client, f"guess{i}", "wrong", ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}, 192.0.2.50")
        assert res.status_code == 401

    assert_locked(api_login(api_client, "operator", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="9.9.9.9, 192.0.2.50"), "ip")
    assert_admin_locked(admin_login(client, "operator", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.50"), client)
    # the same proxy, another client
    assert api_login(api_client, "operator", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.51").status_code == 200


def test_without_a_trusted_proxy_a_forwarded_header_changes_nothing(api_client, operator, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    for i in range(3):
        res = api_login(api_client, f"guess{i}", "wrong", ip="192.0.2.60", HTTP_X_FORWARDED_FOR=f"1.2.3.{i}")
        assert res.status_code == 401

    assert_locked(api_login(api_client, "operator", ip="192.0.2.60", HTTP_X_FORWARDED_FOR="5.5.5.5"), "ip")


def test_an_ipv6_network_counts_as_one_address(api_client, operator, settings):
    settings.LOGIN_FAILURES_PER_IP = 3
    for i in range(3):
        assert api_login(api_client, f"guess{i}", "wrong", ip=f"2001:db8:1:2::{i + 1:x}").status_code == 401

    assert_locked(api_login(api_client, "operator", ip="2001:db8:1:2:ffff::9"), "ip")
    assert api_login(api_client, "operator", ip="2001:db8:1:3::1").status_code == 200  # another /64


@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_get_no_more_password_checks_than_the_limit(operator):
    from accounts.services import operator_authenticate

    results = run_at_once(
        lambda i: operator_authenticate(username="operator", password=f"wrong{i}", ip=f"10.1.0.{i}"), 20
    )

    assert sorted(results) == ["invalid_credentials"] * 5 + ["too_many_login_failures"] * 15


# --- what a success resets, and the window -----------------------------------------------------


def test_a_success_forgets_the_usernames_failures(api_client, operator):
    for _ in range(4):
        assert api_login(api_client, "operator", "wrong").status_code == 401
    assert api_login(api_client, "operator").status_code == 200

    for _ in range(5):  # a fresh count of 5
        assert api_login(api_client, "operator", "wrong").status_code == 401
    assert_locked(api_login(api_client, "operator"), "username")


def test_logging_into_ones_own_account_does_not_reset_the_address(api_client, operator, settings):
    """An attacker who owns one operator account cannot wipe the address's count by logging in between guesses."""
    settings.LOGIN_FAILURES_PER_IP = 5
    UserFactory(username="eve", is_staff=True)
    for i in range(5):
        assert api_login(api_client, f"victim{i}", "guess", ip="192.0.2.99").status_code == 401
        if i < 4:
            assert api_login(api_client, "eve", ip="192.0.2.99").status_code == 200

    assert_locked(api_login(api_client, "eve", ip="192.0.2.99"), "ip")
    assert_locked(api_login(api_client, "operator", ip="192.0.2.99"), "ip")


def test_the_right_password_works_again_when_the_window_ends(api_client, client, operator, settings):
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 2
    fresh_window(2, margin=1.5)
    for _ in range(5):
        assert api_login(api_client, "operator", "wrong").status_code == 401
    res = api_login(api_client, "operator")
    assert_locked(res, "username")
    assert res.json()["extra"]["retry_after_seconds"] <= 2

    time.sleep(2 - time.time() % 2 + 0.05)  # the window is over

    assert api_login(api_client, "operator").status_code == 200
    assert admin_login(client, "operator").status_code == 302 and admin_logged_in(client)


def test_refused_attempts_do_not_count(api_client, operator, settings):
    """Attempts refused for the username do not use up the address's count (an office sharing it)."""
    settings.LOGIN_FAILURES_PER_IP = 8
    for _ in range(5):
        assert api_login(api_client, "operator", "wrong").status_code == 401
    for _ in range(20):
        assert_locked(api_login(api_client, "operator"), "username")

    UserFactory(username="colleague", is_staff=True)
    assert api_login(api_client, "colleague").status_code == 200  # 5 of 8 used, not 25


def test_limits_can_be_turned_off(api_client, operator, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 0
    settings.LOGIN_FAILURES_PER_IP = 0
    for _ in range(30):
        assert api_login(api_client, "operator", "wrong").status_code == 401
    assert api_login(api_client, "operator").status_code == 200


# --- logging -------------------------------------------------------------------------------


def test_failures_and_refusals_are_logged_without_the_password(api_client, client, operator, caplog):
    caplog.set_level(logging.INFO, logger="accounts.login")
    for _ in range(3):
        api_login(api_client, "operator", "s3cret-guess-1", ip="192.0.2.10")
    for _ in range(2):
        admin_login(client, "operator", "s3cret-guess-2", ip="192.0.2.11")
    api_login(api_client, "operator", PASSWORD, ip="192.0.2.12")
    admin_login(client, "operator", PASSWORD, ip="192.0.2.13")

    records = [r for r in caplog.records if r.name == "accounts.login"]
    failed = [r for r in records if r.levelno == logging.WARNING and "login failed" in r.getMessage()]
    refused = [r for r in records if r.levelno == logging.WARNING and "login refused" in r.getMessage()]
    assert len(failed) == 5 and len(refused) == 2
    assert all("'operator'" in r.getMessage() for r in failed + refused)
    assert {r.client_ip for r in failed} == {"192.0.2.10", "192.0.2.11"}
    assert {r.client_ip for r in refused} == {"192.0.2.12", "192.0.2.13"}
    assert all("192.0.2.12" in r.getMessage() or "192.0.2.13" in r.getMessage() for r in refused)
    text = "\n".join(r.getMessage() + repr(r.__dict__) for r in caplog.records)
    assert "s3cret-guess" not in text and PASSWORD not in text


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"password": PASSWORD},
        {"username": "", "password": "x"},
        {"username": "operator"},
        {"username": "u" * 10_240, "password": "x"},
        {"username": "operator", "password": "p" * 10_240},
        {"username": 123, "password": "x"},
        {"username": ["operator"], "password": "x"},
        {"username": {"a": 1}, "password": "x"},
        {"username": "operator", "password": 12345},
        {"username": None, "password": "x"},
        ["operator", "x"],
        "operator",
        42,
    ],
    ids=["no-username", "empty-username", "no-password", "10KB-username", "10KB-password", "number-username",
         "list-username", "object-username", "number-password", "null-username", "list-body", "string-body",
         "number-body"],
)
def test_bad_input_is_a_clear_400_and_counts_nothing(api_client, operator, settings, payload):
    settings.LOGIN_FAILURES_PER_USERNAME = 1
    settings.LOGIN_FAILURES_PER_IP = 1
    for _ in range(3):
        res = api_client.post(API_LOGIN, payload, format="json", REMOTE_ADDR="10.0.0.1")
        assert res.status_code == 400, res.content
        assert res.json()["code"] == "invalid" and res.json()["message"]

    assert api_login(api_client, "operator").status_code == 200  # nothing was counted


def test_a_body_that_is_not_json_is_a_clear_400(api_client, operator, settings):
    settings.LOGIN_FAILURES_PER_IP = 1
    res = api_client.post(API_LOGIN, b"username=operator&password=x", content_type="application/json",
                          REMOTE_ADDR="10.0.0.1")
    assert res.status_code == 400 and res.json()["code"] == "parse_error"
    assert api_login(api_client, "operator").status_code == 200


@pytest.mark.parametrize(
    "form",
    [{"username": "u" * 10_240, "password": "x"}, {"username": "", "password": "x"}, {"username": "operator"}],
    ids=["10KB-username", "empty-username", "no-password"],
)
def test_bad_admin_form_input_counts_nothing(client, operator, settings, form):
    settings.LOGIN_FAILURES_PER_USERNAME = 1
    settings.LOGIN_FAILURES_PER_IP = 1
    for _ in range(3):
        res = client.post(ADMIN_LOGIN, form, REMOTE_ADDR="10.0.0.1")
        assert res.status_code == 200 and not admin_logged_in(client)
        assert LOCKED_TEXT not in res.content.decode()

    assert admin_login(client, "operator").status_code == 302 and admin_logged_in(client)


def test_a_non_staff_user_with_the_right_password_counts_as_a_failure(api_client, client, user):
    for _ in range(3):
        assert api_login(api_client, user.username).status_code == 401
    for _ in range(2):
        assert admin_login(client, user.username).status_code == 200
    assert_locked(api_login(api_client, user.username), "username")


# --- unlocking by hand -------------------------------------------------------------------------


def test_login_unlock_clears_a_username(api_client, operator, capsys):
    for _ in range(5):
        api_login(api_client, "operator", "wrong")
    assert_locked(api_login(api_client, "operator"))

    call_command("login_unlock", username="Operator", show=True)
    assert "username 'Operator': 5 failed login(s)" in capsys.readouterr().out
    assert_locked(api_login(api_client, "operator"))  # --show changes nothing

    call_command("login_unlock", username="Operator")
    assert "unlocked" in capsys.readouterr().out
    assert api_login(api_client, "operator").status_code == 200


def test_login_unlock_clears_an_address(api_client, operator, settings, capsys):
    settings.LOGIN_FAILURES_PER_IP = 2
    for i in range(2):
        api_login(api_client, f"guess{i}", "wrong", ip="192.0.2.77")
    assert_locked(api_login(api_client, "operator", ip="192.0.2.77"), "ip")

    call_command("login_unlock", ip="192.0.2.77")

    assert "address 192.0.2.77: 2 failed login(s)" in capsys.readouterr().out
    assert api_login(api_client, "operator", ip="192.0.2.77").status_code == 200


def test_login_unlock_needs_something_to_unlock(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("login_unlock")


# --- the cache ------------------------------------------------------------------------------


def test_a_cache_outage_does_not_lock_operators_out(api_client, operator, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert api_login(api_client, "operator", "wrong").status_code == 401
    assert api_login(api_client, "operator").status_code == 200
    assert any("cache unavailable, not limiting" in r.getMessage() for r in caplog.records)


def test_cache_decr_takes_one_back_and_never_creates_a_key():
    from django.core.cache import cache

    from core.cache import cache_decr, cache_incr

    cache_incr("t:decr", ttl=60)
    cache_incr("t:decr", ttl=60)
    assert cache_decr("t:decr") == 1
    assert cache_decr("t:missing") is None
    assert cache.get("t:missing") is None


@pytest.mark.redis
def test_the_counts_live_in_redis_with_an_expiry(api_client, operator):
    from django.conf import settings as django_settings

    from core.cache import cache_redis_client

    api_login(api_client, "operator", "wrong", ip="192.0.2.5")
    client = cache_redis_client()
    keys = [k.decode() for k in client.scan_iter(match="*login:fail:*")]
    assert len(keys) == 2 and any(":ip:192.0.2.5:" in k for k in keys)
    assert all(0 < client.ttl(k) <= django_settings.LOGIN_FAILURE_WINDOW_SECONDS + 1 for k in keys)


# --- WeChat logins: never per IP ----------------------------------------------------------------


def issue_code(sandbox, openid: str, **fields) -> str:
    res = requests.post(f"{sandbox.url}/wechat-sandbox/oauth/code/", json={"openid": openid, **fields}, timeout=5)
    assert res.status_code == 201, res.text
    return res.json()["code"]


def test_a_hundred_wechat_users_behind_one_nat_address_all_log_in(wechat_sandbox, api_client, production_rates):
    codes = [issue_code(wechat_sandbox, f"o-town-{i:03d}", nickname=f"n{i}") for i in range(100)]

    results = [api_client.post(WECHAT_LOGIN, {"code": code}, format="json", REMOTE_ADDR="100.64.0.1")
               for code in codes]

    assert [r.status_code for r in results] == [200] * 100, [r.json() for r in results if r.status_code != 200][:1]
    assert User.objects.filter(openid__startswith="o-town-").count() == 100
    assert len({r.json()["token"] for r in results}) == 100


def test_operator_failures_from_the_nat_address_do_not_touch_wechat_logins(wechat_sandbox, api_client, operator,
                                                                          settings):
    settings.LOGIN_FAILURES_PER_IP = 2
    for i in range(3):
        api_login(api_client, f"guess{i}", "wrong", ip="100.64.0.2")
    assert_locked(api_login(api_client, "operator", ip="100.64.0.2"), "ip")

    res = api_client.post(WECHAT_LOGIN, {"code": issue_code(wechat_sandbox, "o-nat")}, format="json",
                          REMOTE_ADDR="100.64.0.2")
    assert res.status_code == 200


def test_one_code_is_tried_a_few_times_then_refused_without_asking_wechat(wechat_sandbox, api_client):
    from wechat.sandbox.faults import fault_arm
    from wechat.sandbox.models import SandboxFault

    code = issue_code(wechat_sandbox, "o-repeat")
    assert api_client.post(WECHAT_LOGIN, {"code": code}, format="json").status_code == 200
    for _ in range(2):  # used: WeChat says so (40163)
        res = api_client.post(WECHAT_LOGIN, {"code": code}, format="json")
        assert res.status_code == 400 and res.json()["code"] == "invalid_code"
    fault_arm(endpoint="oauth.access_token", mode="fail", err_code="-1")  # used up by any call to the sandbox

    statuses = {api_client.post(WECHAT_LOGIN, {"code": code}, format="json").status_code for _ in range(5)}

    assert statuses == {429}
    res = api_client.post(WECHAT_LOGIN, {"code": code}, format="json")
    assert res.json()["code"] == "too_many_login_attempts" and res.json()["extra"]["limit"] == "code"
    assert SandboxFault.objects.get().times == 1  # WeChat was not asked again
    assert AuthToken.objects.count() == 1


def test_an_unknown_code_is_limited_too(wechat_sandbox, api_client):
    statuses = [api_client.post(WECHAT_LOGIN, {"code": "0" * 32}, format="json").status_code for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    # another code (another user) is not affected
    assert api_client.post(WECHAT_LOGIN, {"code": issue_code(wechat_sandbox, "o-next")}, format="json").status_code \
        == 200


def test_one_openid_is_limited_per_minute(wechat_sandbox, api_client, settings):
    settings.LOGIN_WECHAT_PER_OPENID_PER_MINUTE = 3
    codes = [issue_code(wechat_sandbox, "o-busy") for _ in range(4)]
    other = issue_code(wechat_sandbox, "o-calm")
    fresh_window(60, margin=10)

    statuses = [api_client.post(WECHAT_LOGIN, {"code": c}, format="json").status_code for c in codes]

    assert statuses == [200, 200, 200, 429]
    assert AuthToken.objects.filter(user__openid="o-busy").count() == 3
    assert api_client.post(WECHAT_LOGIN, {"code": other}, format="json").status_code == 200


def test_the_wechat_per_ip_ceiling_is_generous_and_separate(wechat_sandbox, api_client, settings, production_rates):
    settings.LOGIN_WECHAT_PER_IP = "3/min"  # lowered only to see it work
    fresh_window(60, margin=10)
    results = [api_client.post(WECHAT_LOGIN, {"code": "0" * 30 + f"{i:02d}"}, format="json",
                               REMOTE_ADDR="100.64.0.9") for i in range(4)]

    assert [r.status_code for r in results] == [400, 400, 400, 429]
    assert results[-1].json()["code"] == "throttled"
    assert api_client.post(WECHAT_LOGIN, {"code": "1" * 32}, format="json", REMOTE_ADDR="100.64.0.10").status_code \
        == 400  # another address has its own ceiling

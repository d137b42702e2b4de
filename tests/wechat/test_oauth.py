"""wechat.oauth against the sandbox over real HTTP (real wechatpy), and the sandbox's OAuth side."""
from __future__ import annotations

import pytest
import requests

from tests.concurrency import run_at_once
from wechat.errors import InvalidOAuthCode, WechatError, WechatTimeout
from wechat.oauth import api_base_url, oauth_identity_from_code
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models import SandboxAccessToken, SandboxOAuthCode
from wechat.sandbox.mp_views import sandbox_wait_idle


def issue_code(sandbox, openid: str, **fields) -> str:
    res = requests.post(f"{sandbox.url}/wechat-sandbox/oauth/code/", json={"openid": openid, **fields}, timeout=5)
    assert res.status_code == 201, res.text
    return res.json()["code"]


def test_base_url_follows_the_mode(settings):
    settings.WECHAT_MODE = "live"
    assert api_base_url() == "https://api.weixin.qq.com/"
    settings.WECHAT_MODE = "sandbox"
    settings.WECHAT_SANDBOX_BASE_URL = "http://sandbox.test:81/"
    assert api_base_url() == "http://sandbox.test:81/wechat-sandbox/api/"


def test_identity_from_code(wechat_sandbox):
    code = issue_code(wechat_sandbox, "o-1", nickname="小明", avatar="https://img.example/1.png", unionid="u-9")

    identity = oauth_identity_from_code(code=code)

    assert (identity.openid, identity.unionid, identity.nickname, identity.avatar_url) == (
        "o-1",
        "u-9",
        "小明",
        "https://img.example/1.png",
    )
    token = SandboxAccessToken.objects.get(kind="oauth")
    assert token.openid == "o-1" and token.oauth_code.code == code


def test_avatar_that_is_not_a_url_is_dropped(wechat_sandbox):
    identity = oauth_identity_from_code(code=issue_code(wechat_sandbox, "o-2", avatar="javascript:alert(1)"))
    assert identity.avatar_url == ""


def test_code_is_usable_once(wechat_sandbox):
    code = issue_code(wechat_sandbox, "o-3")
    oauth_identity_from_code(code=code)

    with pytest.raises(InvalidOAuthCode) as exc:
        oauth_identity_from_code(code=code)

    assert exc.value.extra["errcode"] == 40163
    assert SandboxAccessToken.objects.filter(kind="oauth").count() == 1


@pytest.mark.postgres  # the live server shares one in-memory SQLite connection between threads
def test_concurrent_exchanges_of_one_code_one_wins(wechat_sandbox):
    code = issue_code(wechat_sandbox, "o-4")
    def exchange(i):
        try:
            return oauth_identity_from_code(code=code).openid
        except InvalidOAuthCode:
            return "refused"

    outcomes = run_at_once(exchange, 5, domain_errors=False)

    assert sorted(outcomes) == ["o-4"] + ["refused"] * 4
    assert SandboxAccessToken.objects.filter(kind="oauth").count() == 1


@pytest.mark.parametrize("code", ["", "a b", "abc\n", "x" * 129, "ünïcode", None, 123, b"bytes"])
def test_malformed_codes_raise_before_any_call(settings, code):
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"  # a call out would be a WechatError instead
    with pytest.raises(InvalidOAuthCode):
        oauth_identity_from_code(code=code)


def test_userinfo_scope_error_falls_back_to_openid_only(wechat_sandbox):
    code = issue_code(wechat_sandbox, "o-5", nickname="Five", unionid="u-5")
    fault_arm(endpoint="oauth.userinfo", mode="fail", err_code="48001")

    identity = oauth_identity_from_code(code=code)

    assert (identity.openid, identity.unionid, identity.nickname) == ("o-5", "u-5", "")


def test_other_userinfo_errors_are_wechat_errors(wechat_sandbox):
    code = issue_code(wechat_sandbox, "o-6")
    fault_arm(endpoint="oauth.userinfo", mode="fail", err_code="40001")

    with pytest.raises(WechatError) as exc:
        oauth_identity_from_code(code=code)

    assert exc.value.extra["errcode"] == 40001 and exc.value.extra["step"] == "userinfo"


def test_timeout_and_http_error(wechat_sandbox):
    fault_arm(endpoint="oauth.access_token", mode="timeout")
    with pytest.raises(WechatTimeout):
        oauth_identity_from_code(code=issue_code(wechat_sandbox, "o-7"))
    assert sandbox_wait_idle()

    fault_arm(endpoint="oauth.access_token", mode="http_error")
    with pytest.raises(WechatError) as exc:
        oauth_identity_from_code(code=issue_code(wechat_sandbox, "o-7"))
    assert exc.value.extra["http_status"] == 500


def test_errors_never_carry_the_secret(wechat_sandbox, settings):
    fault_arm(endpoint="oauth.access_token", mode="fail", err_code="40125")
    with pytest.raises(WechatError) as exc:
        oauth_identity_from_code(code=issue_code(wechat_sandbox, "o-8"))
    assert settings.WECHAT_SECRET not in repr(exc.value.extra) + exc.value.message


# --- the sandbox's own rules ----------------------------------------------------------------


def _token_url(sandbox) -> str:
    return f"{sandbox.url}/wechat-sandbox/api/sns/oauth2/access_token"


def test_sandbox_checks_appid_and_secret(wechat_sandbox, settings):
    code = issue_code(wechat_sandbox, "o-9")
    base = {"appid": settings.WECHAT_APPID, "secret": settings.WECHAT_SECRET, "code": code}
    base["grant_type"] = "authorization_code"

    wrong_secret = requests.get(_token_url(wechat_sandbox), params={**base, "secret": "nope"}, timeout=5).json()
    wrong_appid = requests.get(_token_url(wechat_sandbox), params={**base, "appid": "wxnope"}, timeout=5).json()

    assert wrong_secret["errcode"] == 40125 and wrong_appid["errcode"] == 40013
    assert SandboxOAuthCode.objects.get(code=code).used_at is None  # refused calls do not use the code up
    assert requests.get(_token_url(wechat_sandbox), params=base, timeout=5).json()["openid"] == "o-9"


@pytest.mark.parametrize(
    "payload",
    [{}, {"openid": ""}, {"openid": "has space"}, {"openid": "o" * 65}, {"openid": "o", "scope": "snsapi_all"}],
)
def test_sandbox_code_issue_validates(wechat_sandbox, payload):
    res = requests.post(f"{wechat_sandbox.url}/wechat-sandbox/oauth/code/", json=payload, timeout=5)
    assert res.status_code == 400
    assert SandboxOAuthCode.objects.count() == 0

"""WeChat's text content check (wechat.content.text_check, msgSecCheck) through wechatpy,
against the sandbox over real HTTP: v2 with an openid, v1 without, the sandbox's word list,
and failures that never let a text through."""
from __future__ import annotations

import pytest
import requests
from django.test import override_settings

from api.errors import DOMAIN_STATUS
from core.errors import InvalidInput
from wechat.content import text_check
from wechat.errors import ContentFlagged, WechatError, WechatTimeout
from wechat.miniprogram import miniprogram_client
from wechat.sandbox import wxa_views
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models import SandboxAccessToken, SandboxFault
from wechat.sandbox.mp_views import sandbox_wait_idle

OPENID = "o-mini-writer-1"
ENDPOINT = "wxa.msg_sec_check"


def _sandbox_token() -> str:
    client = miniprogram_client()
    try:
        return client.access_token
    finally:
        client.close()


def _check_url(sandbox) -> str:
    return f"{sandbox.url}/wechat-sandbox/api/wxa/msg_sec_check"


# --- passing and flagged -------------------------------------------------------------------


@pytest.mark.parametrize("openid", [OPENID, ""], ids=["v2", "v1"])
def test_a_clean_text_passes(wechat_sandbox, openid):
    assert text_check(content="加油！一起拼团", openid=openid) is None
    assert text_check(content="good luck, see you there", openid=openid) is None
    # WeChat was really asked (the client fetched a token) and the token was reused.
    assert SandboxAccessToken.objects.filter(kind="mp").count() == 1


def test_flagged_with_an_openid_is_v2_risky(wechat_sandbox):
    with pytest.raises(ContentFlagged) as exc:
        text_check(content="来玩赌博吧", openid=OPENID)
    assert exc.value.code == "content_flagged"
    assert exc.value.extra == {"suggest": "risky", "label": 20006}  # v2: a label; v1 has none


def test_flagged_without_an_openid_is_v1_87014(wechat_sandbox):
    with pytest.raises(ContentFlagged) as exc:
        text_check(content="可以代开发票", openid="")
    assert exc.value.extra == {"suggest": "risky", "label": None}


@pytest.mark.parametrize("openid", [OPENID, ""], ids=["v2", "v1"])
@pytest.mark.parametrize("content", ["this has a FLAGGED-WORD in it", "Flagged-Word", "xx fLaGgEd-wOrD"])
def test_the_word_list_matches_case_insensitively(wechat_sandbox, openid, content):
    with pytest.raises(ContentFlagged):
        text_check(content=content, openid=openid)


def test_review_counts_as_refused(wechat_sandbox, monkeypatch):
    monkeypatch.setattr(wxa_views, "HIT_SUGGEST", "review")
    with pytest.raises(ContentFlagged) as exc:
        text_check(content="赌博", openid=OPENID)
    assert exc.value.extra == {"suggest": "review", "label": 20006}


def test_an_unknown_suggest_is_a_wechat_error_not_a_pass(wechat_sandbox, monkeypatch):
    monkeypatch.setattr(wxa_views, "HIT_SUGGEST", "maybe")
    with pytest.raises(WechatError) as exc:
        text_check(content="赌博", openid=OPENID)
    assert not isinstance(exc.value, ContentFlagged)
    assert exc.value.extra == {"call": ENDPOINT}


def test_what_wechat_is_sent(wechat_sandbox, monkeypatch):
    bodies = []
    real = wxa_views._json_body

    def recording(request):
        data = real(request)
        bodies.append(data)
        return data

    monkeypatch.setattr(wxa_views, "_json_body", recording)
    text_check(content="hello", openid=OPENID)
    text_check(content="hello", openid=OPENID, scene=4)
    text_check(content="hello")
    assert bodies == [
        {"content": "hello", "version": 2, "scene": 2, "openid": OPENID},
        {"content": "hello", "version": 2, "scene": 4, "openid": OPENID},
        {"content": "hello"},
    ]


def test_an_openid_wechat_refuses_is_a_wechat_error(wechat_sandbox):
    # The sandbox refuses a malformed openid (40003), as WeChat refuses one that is not the
    # mini-program's: a refusal of the check itself is a WeChat error, never a pass.
    with pytest.raises(WechatError) as exc:
        text_check(content="hello", openid="not an openid!")
    assert not isinstance(exc.value, ContentFlagged)
    assert exc.value.extra["errcode"] == 40003


def test_content_flagged_is_a_400():
    assert issubclass(ContentFlagged, InvalidInput)
    status = next(code for cls, code in DOMAIN_STATUS if isinstance(ContentFlagged(), cls))
    assert status == 400
    assert ContentFlagged().message == "This message did not pass WeChat's content check; please change it."


# --- the word list setting -------------------------------------------------------------------


def test_the_word_list_follows_the_setting(wechat_sandbox):
    with override_settings(WECHAT_SANDBOX_FLAGGED_WORDS=["团购返现", " Spam "]):
        assert text_check(content="赌博", openid=OPENID) is None  # the defaults no longer apply
        assert text_check(content="flagged-word", openid="") is None
        with pytest.raises(ContentFlagged):
            text_check(content="限时团购返现", openid=OPENID)
        with pytest.raises(ContentFlagged):
            text_check(content="no SPAM please", openid="")
    with override_settings(WECHAT_SANDBOX_FLAGGED_WORDS=[]):
        assert text_check(content="赌博 flagged-word", openid=OPENID) is None
    with override_settings(WECHAT_SANDBOX_FLAGGED_WORDS=["", " "]):  # blank entries flag nothing
        assert text_check(content="hello", openid=OPENID) is None


# --- nothing to check, bad arguments ---------------------------------------------------------


@pytest.mark.parametrize("content", ["", "   ", "\n\t "])
@pytest.mark.parametrize("openid", [OPENID, ""], ids=["v2", "v1"])
def test_empty_content_is_not_sent(wechat_sandbox, content, openid):
    fault_arm(endpoint=ENDPOINT, mode="fail", err_code="45009")
    assert text_check(content=content, openid=openid) is None
    assert SandboxFault.objects.get(endpoint=ENDPOINT).times == 1  # the armed fault was not used
    assert SandboxAccessToken.objects.count() == 0  # not even a token was fetched


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kwargs",
    [
        {"content": None},
        {"content": 5},
        {"content": "x" * 2501},
        {"content": "ok", "openid": None},
        {"content": "ok", "scene": 0},
        {"content": "ok", "scene": 5},
        {"content": "ok", "scene": "2"},
        {"content": "ok", "scene": True},
    ],
)
def test_bad_arguments_call_nothing(settings, kwargs):
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"  # nothing listens: a call would fail differently
    with pytest.raises(InvalidInput) as exc:
        text_check(**kwargs)
    assert not isinstance(exc.value, ContentFlagged)


# --- WeChat failing: the check fails closed --------------------------------------------------


@pytest.mark.parametrize("openid", [OPENID, ""], ids=["v2", "v1"])
def test_a_wechat_error_is_raised(wechat_sandbox, openid):
    fault_arm(endpoint=ENDPOINT, mode="fail", err_code="45009")
    with pytest.raises(WechatError) as exc:
        text_check(content="hello", openid=openid)
    assert exc.value.extra == {"call": ENDPOINT, "errcode": 45009, "errmsg": "system error (sandbox fault)"}
    assert text_check(content="hello", openid=openid) is None  # the fault was used once


@pytest.mark.parametrize("openid", [OPENID, ""], ids=["v2", "v1"])
def test_an_http_error_is_raised(wechat_sandbox, openid):
    fault_arm(endpoint=ENDPOINT, mode="http_error")
    with pytest.raises(WechatError) as exc:
        text_check(content="hello", openid=openid)
    assert exc.value.extra == {"call": ENDPOINT, "http_status": 500}


def test_a_timeout_is_raised(wechat_sandbox):
    fault_arm(endpoint=ENDPOINT, mode="timeout")
    with pytest.raises(WechatTimeout) as exc:
        text_check(content="赌博", openid=OPENID)
    assert exc.value.extra == {"call": ENDPOINT}
    assert sandbox_wait_idle()


@pytest.mark.django_db
def test_wechat_unreachable_is_a_wechat_error(settings):
    settings.WECHAT_SANDBOX_BASE_URL = "http://127.0.0.1:9"
    with pytest.raises(WechatError) as exc:
        text_check(content="hello", openid=OPENID)
    assert exc.value.message == "WeChat could not be reached."


def test_the_client_is_closed_every_time(wechat_sandbox, monkeypatch):
    from wechat.miniprogram import MiniProgramClient

    closed = []
    real_close = MiniProgramClient.close
    monkeypatch.setattr(MiniProgramClient, "close", lambda self: (closed.append(1), real_close(self)))
    text_check(content="hello", openid=OPENID)
    with pytest.raises(ContentFlagged):
        text_check(content="赌博")
    fault_arm(endpoint=ENDPOINT, mode="fail")
    with pytest.raises(WechatError):
        text_check(content="hello", openid=OPENID)
    assert len(closed) == 3


# --- the sandbox endpoint itself ---------------------------------------------------------------


def test_sandbox_endpoint_answers_like_wechat(wechat_sandbox):
    url = _check_url(wechat_sandbox)
    bad_token = requests.post(url, params={"access_token": "nope"}, json={"content": "x"}, timeout=5)
    assert (bad_token.status_code, bad_token.json()["errcode"]) == (200, 40001)
    token = _sandbox_token()

    def ask(body=None, data=None):
        res = requests.post(url, params={"access_token": token}, json=body, data=data, timeout=5)
        assert res.status_code == 200
        return res.json()

    assert ask(data=b"{not json")["errcode"] == 47001
    assert ask({"version": 2, "scene": 2, "openid": OPENID})["errcode"] == 47001  # no content
    assert ask({"content": "hi", "version": 3})["errcode"] == 40097
    assert ask({"content": "hi", "version": 2, "scene": 9, "openid": OPENID})["errcode"] == 40097
    assert ask({"content": "hi", "version": 2, "scene": 2})["errcode"] == 40003
    assert ask({"content": "hi", "version": 2, "scene": 2, "openid": ""})["errcode"] == 40003
    assert ask({"content": "hi", "version": 2, "scene": 2, "openid": "bad openid"})["errcode"] == 40003

    assert ask({"content": "hi"}) == {"errcode": 0, "errmsg": "ok"}
    assert ask({"content": "有人赌博"}) == {"errcode": 87014, "errmsg": "risky content"}

    clean = ask({"content": "hi", "version": 2, "scene": 2, "openid": OPENID})
    assert (clean["errcode"], clean["result"]) == (0, {"suggest": "pass", "label": 100})
    assert clean["trace_id"]
    hit = ask({"content": "有人赌博", "version": 2, "scene": 2, "openid": OPENID})
    assert (hit["errcode"], hit["result"]) == (0, {"suggest": "risky", "label": 20006})
    assert hit["detail"][0]["keyword"] == "赌博"


def test_sandbox_endpoint_fault_comes_before_the_token_check(wechat_sandbox):
    fault_arm(endpoint=ENDPOINT, mode="http_error")
    res = requests.post(_check_url(wechat_sandbox), params={"access_token": "nope"}, json={"content": "x"}, timeout=5)
    assert res.status_code == 500

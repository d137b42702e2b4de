"""Error messages follow the request's language (api/i18n.py): zh-hans by default, en when
Accept-Language asks; the message and the field messages of one answer are in one language."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.utils import translation

from api.i18n import PATTERNS, translate
from distributors.models import DistributionSettings

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


def strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    elif isinstance(value, str):
        yield value


def assert_chinese(body):
    texts = [body["message"], *strings(body["extra"].get("fields", {}))]
    assert texts and all(CJK.search(text) for text in texts), body


def assert_english(body):
    texts = [body["message"], *strings(body["extra"].get("fields", {}))]
    assert texts and not any(CJK.search(text) for text in texts), body


@pytest.mark.parametrize("headers", [{}, ZH], ids=["default", "zh-CN"])
def test_a_validation_error_is_all_chinese_by_default_and_for_zh(user_client, headers):
    res = user_client.post(
        "/api/v1/orders/", {"items": [{"sku_id": "1", "quantity": 0}], "address": {"name": 5}}, format="json", **headers
    )
    assert res.status_code == 400 and res.json()["code"] == "invalid"
    body = res.json()
    assert body["message"] == "输入无效。"
    assert_chinese(body)
    assert res["Content-Language"] == "zh-hans"


def test_the_same_validation_error_is_all_english_when_asked(user_client):
    res = user_client.post(
        "/api/v1/orders/", {"items": [{"sku_id": "1", "quantity": 0}], "address": {"name": 5}}, format="json", **EN
    )
    body = res.json()
    assert res.status_code == 400 and body["message"] == "The input is not valid."
    assert_english(body)
    assert body["extra"]["fields"]["items"][0]["sku_id"] == ["Must be a JSON integer (no string, float or boolean)."]
    assert res["Content-Language"] == "en"


def test_a_domain_error_follows_the_language(user_client):
    en = user_client.get("/api/v1/orders/NO-SUCH-ORDER/", **EN)
    assert en.status_code == 404 and en.json()["code"] == "not_found"
    assert_english(en.json())
    zh = user_client.get("/api/v1/orders/NO-SUCH-ORDER/")
    assert zh.json()["code"] == "not_found"
    assert_chinese(zh.json())


def test_domain_field_messages_with_figures_are_translated(operator_client, db):
    before = DistributionSettings.objects.get_or_create(pk=1)[0].updated_at
    for headers, check in ((ZH, assert_chinese), (EN, assert_english)):
        res = operator_client.patch(
            "/api/v1/ops/settings/distribution/",
            {"default_level1_bps": 6000, "default_level2_bps": 5000},
            format="json",
            **headers,
        )
        assert res.status_code == 400, res.content
        check(res.json())
    assert DistributionSettings.objects.get(pk=1).updated_at == before
    with translation.override("zh-hans"):
        assert translate("Must be an integer from 0 to 10000.") == "必须是 0 到 10000 之间的整数。"
        assert (
            translate("A pool of 100 fen cannot give 200 shares of at least 1 fen.")
            == "100 分无法分成 200 份、每份至少 1 分。"
        )
        assert translate("Something nobody translated.") == "Something nobody translated."
    with translation.override("en"):
        assert translate("Must be an integer from 0 to 10000.") == "Must be an integer from 0 to 10000."


def test_not_authenticated_and_throttle_messages_follow_the_language(api_client, db):
    zh = api_client.get("/api/v1/me/")
    en = api_client.get("/api/v1/me/", **EN)
    assert zh.status_code == en.status_code == 401
    assert_chinese(zh.json())
    assert_english(en.json())


def test_an_unknown_api_url_answers_in_the_error_shape_with_debug_on(user_client, settings):
    settings.DEBUG = True
    for path in ("/api/v1/no-such-thing/", "/api/nothing", "/api/v1/orders/1/nope/"):
        res = user_client.get(path, **EN)
        assert res.status_code == 404 and res["Content-Type"].startswith("application/json"), path
        assert res.json() == {"code": "not_found", "message": "Not found.", "extra": {}}
    assert user_client.get("/api/v1/no-such-thing/").json()["message"] == "未找到。"
    # a URL that only lacks its slash is still redirected (CommonMiddleware), not a 404
    assert user_client.get("/api/v1/orders").status_code == 301


def test_outside_the_api_a_debug_404_stays_djangos_page(client, settings, db):
    settings.DEBUG = True
    res = client.get("/no-such-page/")
    assert res.status_code == 404 and not res["Content-Type"].startswith("application/json")


# --- the catalog ----------------------------------------------------------------------------


def _po_entries() -> dict[str, str]:
    text = (ROOT / "api/locale/zh_Hans/LC_MESSAGES/django.po").read_text()
    entries = {}
    for msgid, msgstr in re.findall(r'^msgid "(.*)"\nmsgstr "(.*)"$', text, re.M):
        if msgid:
            entries[msgid.replace('\\"', '"')] = msgstr.replace('\\"', '"')
    return entries


def test_the_committed_mo_is_the_compiled_po():
    entries = _po_entries()
    assert len(entries) > 200
    compiled = gettext.translation("django", ROOT / "api/locale", ["zh_Hans"])
    assert {msgid: msgstr for msgid, msgstr in entries.items() if compiled.gettext(msgid) != msgstr} == {}
    # and Django serves a Chinese text for each (DRF's catalog comes first for a few of its own words)
    with translation.override("zh-hans"):
        assert [msgid for msgid in entries if not CJK.search(translation.gettext(msgid))] == []


def test_every_pattern_has_a_translation():
    entries = _po_entries()
    assert [p for p in PATTERNS if p not in entries] == []


DOMAIN_APPS = ("accounts", "mall", "distributors", "commissions", "campaigns", "ledger", "core")
ERRORS = {
    "InvalidInput",
    "Conflict",
    "Forbidden",
    "NotFound",
    "InvalidTransition",
    "InsufficientBalance",
    "NotAuthenticated",
    "TooManyRequests",
    "SelfApproval",
    "NotADistributor",
    "DomainError",
}


def _domain_messages():
    """The constant messages the domain apps raise to a client (first argument of a domain error,
    or a field message inside extra={"fields": ...})."""
    found = set()
    for app in DOMAIN_APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts or "management" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name not in ERRORS:
                    continue
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
                for keyword in node.keywords:
                    if keyword.arg == "extra":
                        for inner in ast.walk(keyword.value):
                            if isinstance(inner, ast.List):
                                found.update(
                                    e.value
                                    for e in inner.elts
                                    if isinstance(e, ast.Constant) and isinstance(e.value, str)
                                )
    return found


def test_every_constant_domain_message_has_its_chinese():
    messages = _domain_messages()
    assert len(messages) > 90
    with translation.override("zh-hans"):
        missing = sorted(m for m in messages if not CJK.search(translate(m)))
    assert missing == []


def test_a_commission_rule_message_naming_its_field_is_translated(operator_client):
    from tests.mall.orders_helpers import make_sku

    body = {"scope": "sku", "sku_id": make_sku().pk, "level1_bps": 20000}
    zh = operator_client.post("/api/v1/ops/commission-rules/", body, format="json")
    en = operator_client.post("/api/v1/ops/commission-rules/", body, format="json", **EN)
    assert zh.status_code == en.status_code == 400, zh.content
    assert zh.json()["message"].startswith("level1_bps: ") and CJK.search(zh.json()["message"])
    assert en.json()["message"] == "level1_bps: Must be between 0 and 10000."

"""The console's model and app names are in one language: Chinese by default, English when the
browser asks for it (verbose_name msgids in English, core/locale/zh_Hans translates them)."""

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.utils import translation
from django.utils.text import capfirst

pytestmark = pytest.mark.django_db

OUR_APPS = ("core", "wechat", "accounts", "ledger", "mall", "distributors", "commissions", "campaigns", "api")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _our_models():
    return [m for label in OUR_APPS for m in apps.get_app_config(label).get_models()]


def test_every_model_and_app_name_is_translated_to_chinese_and_english_stays_english():
    untranslated = []
    for label in OUR_APPS:
        config = apps.get_app_config(label)
        with translation.override("zh-hans"):
            if not CJK.search(str(config.verbose_name)):
                untranslated.append(label)
        with translation.override("en"):
            assert not CJK.search(str(config.verbose_name)), label
    for model in _our_models():
        meta = model._meta
        assert "verbose_name" in meta.original_attrs and "verbose_name_plural" in meta.original_attrs, model
        with translation.override("zh-hans"):
            for name in (meta.verbose_name, meta.verbose_name_plural):
                if not CJK.search(str(name)):
                    untranslated.append(f"{model.__name__}: {name}")
        with translation.override("en"):
            for name in (meta.verbose_name, meta.verbose_name_plural):
                assert not CJK.search(str(name)), model
    assert untranslated == []


def test_the_console_index_speaks_one_language(admin_client):
    registered = [m for m in admin.site._registry if m._meta.app_label in OUR_APPS]
    assert len(registered) > 30
    zh = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    en = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    for model in registered:
        with translation.override("zh-hans"):
            plural_zh = str(model._meta.verbose_name_plural)
        with translation.override("en"):
            plural_en = capfirst(str(model._meta.verbose_name_plural))
        assert f">{plural_zh}</a>" in zh, model
        assert f">{plural_en}</a>" in en, model
        assert f">{plural_en}</a>" not in zh, model
    assert "商城" in zh and "佣金与提现" in zh and "站点管理" in zh
    assert "Mall" in en and "商城" not in en and "Site administration" in en


def test_messages_that_name_a_model_keep_its_english_name_whatever_the_language():
    """core.transitions names the model in an English message: the untranslated name, not
    "A 分销员 that is approved ..." when Chinese is active."""
    from core.errors import InvalidTransition
    from core.transitions import transition
    from distributors.models import DistributorStatus as S
    from tests.factories import DistributorFactory

    d = DistributorFactory(status=S.APPROVED, approved_at=None, real_name="张三", phone="13800000000")
    with translation.override("zh-hans"), pytest.raises(InvalidTransition) as exc:
        transition(d, S.REJECTED, table={S.APPROVED: frozenset({S.FROZEN})}, record=lambda *a: None)
    assert exc.value.message == "A distributor that is approved cannot become rejected."

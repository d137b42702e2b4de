"""Settings come from the environment: production checks, fallbacks without Redis, the sandbox switch."""
import json
import os
import subprocess
import sys

import pytest

from tests.config_helpers import PRODUCTION_ENV, ROOT


def _django(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WECHAT_"))}
    full_env.update({"DJANGO_SETTINGS_MODULE": "config.settings.base", **env})
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=120,
    )


def test_check_deploy_is_clean_with_production_env():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**os.environ, **PRODUCTION_ENV}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_the_development_defaults():
    """The same check fails when the production variables are missing: it is not a check that always passes."""
    env = {**os.environ, "DEBUG": "0", "DATABASE_URL": "sqlite:////tmp/fenxiao-deploy-check.sqlite3"}
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr  # the insecure default SECRET_KEY


def test_without_redis_it_falls_back_to_local_cache_and_eager_celery():
    code = (
        "from django.conf import settings; import json; print(json.dumps({"
        "'cache': settings.CACHES['default']['BACKEND'], 'eager': settings.CELERY_TASK_ALWAYS_EAGER,"
        "'redis': settings.REDIS_AVAILABLE}))"
    )
    result = _django(code, REDIS_URL="redis://127.0.0.1:1/0", DATABASE_URL="sqlite:////tmp/x.sqlite3")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"cache": "django.core.cache.backends.locmem.LocMemCache", "eager": True, "redis": False}


@pytest.mark.redis
def test_with_redis_it_uses_redis_for_cache_and_broker():
    code = (
        "from django.conf import settings; import json; print(json.dumps({"
        "'cache': settings.CACHES['default']['BACKEND'], 'broker': settings.CELERY_BROKER_URL}))"
    )
    result = _django(code, REDIS_URL="redis://127.0.0.1:6379/15", DATABASE_URL="sqlite:////tmp/x.sqlite3")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"cache": "django.core.cache.backends.redis.RedisCache", "broker": "redis://127.0.0.1:6379/15"}


def test_unknown_wechat_mode_is_refused():
    result = _django("pass", WECHAT_MODE="staging", DATABASE_URL="sqlite:////tmp/x.sqlite3")
    assert result.returncode != 0
    assert "WECHAT_MODE" in result.stderr


def test_sandbox_is_mounted_only_in_sandbox_mode():
    code = (
        "from django.urls import resolve, Resolver404\n"
        "from django.conf import settings\n"
        "try:\n    resolve('/wechat-sandbox/oauth/code/'); print('mounted')\n"
        "except Resolver404:\n    print('absent')\n"
        "print('app' if 'wechat.sandbox' in settings.INSTALLED_APPS else 'no-app')\n"
    )
    live = _django(code, WECHAT_MODE="live", DATABASE_URL="sqlite:////tmp/x.sqlite3")
    sandbox = _django(code, WECHAT_MODE="sandbox", DATABASE_URL="sqlite:////tmp/x.sqlite3")
    assert live.stdout.split() == ["absent", "no-app"], live.stderr
    assert sandbox.stdout.split() == ["mounted", "app"], sandbox.stderr


def test_json_logging_writes_one_json_object_per_line():
    code = "import logging; logging.getLogger('fenxiao.test').warning('hello %s', 'world')"
    result = _django(code, LOG_JSON="1", DATABASE_URL="sqlite:////tmp/x.sqlite3")
    line = [ln for ln in result.stderr.splitlines() if "hello" in ln][0]
    record = json.loads(line)
    assert record["message"] == "hello world"
    assert record["levelname"] == "WARNING"


def test_every_setting_read_from_the_environment_is_documented_in_env_example():
    import re

    settings_source = (ROOT / "config" / "settings" / "base.py").read_text()
    read = set(re.findall(r'env(?:\.[a-z]+)?\("([A-Z_]+)"', settings_source))
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read, "no settings found: the pattern is wrong"
    assert read - documented == set()

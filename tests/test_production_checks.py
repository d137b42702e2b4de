"""With DEBUG off, the development defaults stop `check --deploy` and gunicorn (core/checks.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .config_helpers import PRODUCTION_ENV, ROOT

SANDBOX_PRODUCTION = {**PRODUCTION_ENV, "WECHAT_MODE": "sandbox"}


def _env(**overrides: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WECHAT_", "SECRET_KEY", "DEBUG"))}
    env = {**base, **overrides}
    return {k: v for k, v in env.items() if v is not None}


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def _gunicorn_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    """What gunicorn does when it starts: load config.wsgi (--check-config loads the app and exits)."""
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "--check-config", "config.wsgi:application"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_the_sandbox_with_debug_off_stops_check_deploy_and_gunicorn():
    env = _env(**SANDBOX_PRODUCTION)
    deploy = _check_deploy(env)
    assert deploy.returncode != 0
    assert "fenxiao.E001" in deploy.stdout + deploy.stderr
    served = _gunicorn_check(env)
    assert served.returncode != 0
    assert "fenxiao.E001" in served.stdout + served.stderr


def test_the_sandbox_in_production_when_said_explicitly():
    env = _env(**SANDBOX_PRODUCTION, WECHAT_SANDBOX_IN_PRODUCTION="1")
    deploy = _check_deploy(env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "fenxiao.E" not in deploy.stdout + deploy.stderr
    served = _gunicorn_check(env)
    assert served.returncode == 0, served.stdout + served.stderr


def test_live_with_real_secrets_serves():
    served = _gunicorn_check(_env(**PRODUCTION_ENV))
    assert served.returncode == 0, served.stdout + served.stderr


@pytest.mark.parametrize(("name", "value", "check_id"), [
    ("SECRET_KEY", None, "fenxiao.E002"),  # unset: the settings' default
    ("SECRET_KEY", "change-me", "fenxiao.E002"),  # the value in .env.example
    ("WECHAT_MP_TOKEN", None, "fenxiao.E003"),
    ("WECHAT_MP_TOKEN", "sandbox-mp-token", "fenxiao.E003"),
    ("WECHAT_PAY_API_KEY", None, "fenxiao.E004"),
    ("WECHAT_PAY_API_KEY", "sandbox0api0key0sandbox0api0key00", "fenxiao.E004"),
])
def test_a_shipped_secret_with_debug_off_stops_check_deploy_and_gunicorn(name, value, check_id):
    env = _env(**{**PRODUCTION_ENV, name: value})
    deploy = _check_deploy(env)
    assert deploy.returncode != 0
    assert check_id in deploy.stdout + deploy.stderr
    others = {"fenxiao.E001", "fenxiao.E002", "fenxiao.E003", "fenxiao.E004"} - {check_id}
    assert not [o for o in others if o in deploy.stdout + deploy.stderr]  # only the one that is wrong
    served = _gunicorn_check(env)
    assert served.returncode != 0
    assert check_id in served.stdout + served.stderr


def test_make_run_keeps_working_with_debug_on_and_the_defaults():
    """`make run` (DEBUG=1, sandbox, shipped secrets) loads the WSGI app and passes the checks."""
    env = _env(DEBUG="1", DATABASE_URL="sqlite:////tmp/fenxiao-deploy-check.sqlite3")
    served = subprocess.run([sys.executable, "-c", "import config.wsgi"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert served.returncode == 0, served.stderr
    checked = subprocess.run([sys.executable, "manage.py", "check", "--fail-level", "ERROR"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr

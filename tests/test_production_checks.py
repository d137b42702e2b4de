"""With DEBUG off, the development defaults stop `check --deploy` and gunicorn (core/checks.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .config_helpers import PRODUCTION_ENV, ROOT, private_key_pem

SANDBOX_PRODUCTION = {**PRODUCTION_ENV, "WECHAT_MODE": "sandbox"}
ALL_CHECKS = {f"fenxiao.E00{n}" for n in range(1, 8)}
# The APIv3 settings of PRODUCTION_ENV removed: a live merchant that has none of them.
NO_V3_KEYS = {"WECHAT_PAY_APIV3_KEY": None, "WECHAT_MCH_PRIVATE_KEY": None, "WECHAT_MCH_CERT_SERIAL": None}


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
    others = ALL_CHECKS - {check_id}
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


def _only(result: subprocess.CompletedProcess, check_id: str) -> str:
    """The output of a failed check, after asserting that `check_id` and no other fenxiao check is in it."""
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert check_id in out, out
    assert not [o for o in ALL_CHECKS - {check_id} if o in out], out
    return out


BAD_PEM = "-----BEGIN PRIVATE KEY-----\\nbm90IGEga2V5\\n-----END PRIVATE KEY-----"


@pytest.mark.parametrize(("overrides", "check_id", "said"), [
    # E005 the APIv3 key: unset (the settings' default), the shipped value, the wrong length
    ({"WECHAT_PAY_APIV3_KEY": None}, "fenxiao.E005", "shipped"),
    ({"WECHAT_PAY_APIV3_KEY": "sandbox0apiv30key0sandbox0apiv3k"}, "fenxiao.E005", "shipped"),
    ({"WECHAT_PAY_APIV3_KEY": ""}, "fenxiao.E005", "is empty"),
    ({"WECHAT_PAY_APIV3_KEY": "0123456789abcdef"}, "fenxiao.E005", "16 characters"),
    ({"WECHAT_PAY_APIV3_KEY": "0123456789abcdef0123456789abcdef0"}, "fenxiao.E005", "33 characters"),
    # E006 the merchant's API certificate key and serial
    ({"WECHAT_MCH_PRIVATE_KEY": None}, "fenxiao.E006", "WECHAT_MCH_PRIVATE_KEY empty"),
    ({"WECHAT_MCH_CERT_SERIAL": None}, "fenxiao.E006", "WECHAT_MCH_CERT_SERIAL empty"),
    ({"WECHAT_MCH_PRIVATE_KEY": BAD_PEM}, "fenxiao.E006", "does not load (ValueError"),
    ({"WECHAT_MCH_PRIVATE_KEY": "/nonexistent/apiclient_key.pem"}, "fenxiao.E006", "FileNotFoundError"),
    # E007 the WeChat Pay public key and its id go together
    ({"WECHAT_PAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000"}, "fenxiao.E007",
     "WECHAT_PAY_PUBLIC_KEY_ID set but WECHAT_PAY_PUBLIC_KEY empty"),
    ({"WECHAT_PAY_PUBLIC_KEY": "/etc/wechat/pub_key.pem"}, "fenxiao.E007",
     "WECHAT_PAY_PUBLIC_KEY set but WECHAT_PAY_PUBLIC_KEY_ID empty"),
    ({"WECHAT_PAY_PUBLIC_KEY": "/nonexistent/pub_key.pem",
      "WECHAT_PAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000"}, "fenxiao.E007", "does not load"),
])
def test_a_missing_or_broken_apiv3_key_stops_check_deploy(overrides, check_id, said):
    """Payouts default to transfer bills (APIv3), so a live shop needs its APIv3 keys."""
    out = _only(_check_deploy(_env(**{**PRODUCTION_ENV, **overrides})), check_id)
    assert said in out


def test_a_bad_apiv3_key_stops_gunicorn_too():
    served = _gunicorn_check(_env(**{**PRODUCTION_ENV, "WECHAT_MCH_PRIVATE_KEY": BAD_PEM}))
    _only(served, "fenxiao.E006")


def test_v3_payments_alone_need_the_apiv3_keys():
    env = _env(**{**PRODUCTION_ENV, **NO_V3_KEYS, "WECHAT_PAY_API": "v3", "WECHAT_PAYOUT_API": "v2"})
    out = _check_deploy(env)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "fenxiao.E005" in text and "fenxiao.E006" in text, text
    assert "WECHAT_PAY_API=v3" in text


def test_a_v2_only_shop_needs_no_apiv3_key():
    """WECHAT_PAY_API=v2 and WECHAT_PAYOUT_API=v2 (an old merchant that still has 企业付款): none of E005-E007."""
    env = _env(**{**PRODUCTION_ENV, **NO_V3_KEYS, "WECHAT_PAY_API": "v2", "WECHAT_PAYOUT_API": "v2"})
    deploy = _check_deploy(env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    served = _gunicorn_check(env)
    assert served.returncode == 0, served.stdout + served.stderr
    # and the same environment with the default payout API (transfer bills) is refused
    refused = _check_deploy(_env(**{**PRODUCTION_ENV, **NO_V3_KEYS, "WECHAT_PAY_API": "v2"}))
    assert refused.returncode != 0
    assert "fenxiao.E005" in refused.stdout + refused.stderr


def test_the_sandbox_in_production_needs_no_apiv3_key():
    """In sandbox mode the keys are generated (WECHAT_SANDBOX_KEY_DIR): E005-E007 are for live merchants."""
    env = _env(**{**SANDBOX_PRODUCTION, **NO_V3_KEYS, "WECHAT_SANDBOX_IN_PRODUCTION": "1"})
    deploy = _check_deploy(env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr


def test_keys_in_files_and_the_wechat_pay_public_key_serve(tmp_path):
    """The usual live set-up: apiclient_key.pem and pub_key.pem as files (paths in the settings), both
    WeChat Pay APIs on v3."""
    from cryptography.hazmat.primitives import serialization

    key_file = tmp_path / "apiclient_key.pem"
    key_file.write_text(private_key_pem())
    key_file.chmod(0o600)
    wechat_key = serialization.load_pem_private_key(private_key_pem().encode(), password=None)
    pub_file = tmp_path / "pub_key.pem"
    pub_file.write_bytes(wechat_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))
    env = _env(**{**PRODUCTION_ENV, "WECHAT_PAY_API": "v3", "WECHAT_PAYOUT_API": "v3_transfer_bills",
                  "WECHAT_MCH_PRIVATE_KEY": str(key_file), "WECHAT_PAY_PUBLIC_KEY": str(pub_file),
                  "WECHAT_PAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0114232134912410000000000000"})
    deploy = _check_deploy(env)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "fenxiao.E" not in deploy.stdout + deploy.stderr
    served = _gunicorn_check(env)
    assert served.returncode == 0, served.stdout + served.stderr

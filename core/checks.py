"""Refuse to run a production server (DEBUG off) on development defaults.

With `DEBUG=0` these are errors (so `manage.py check --deploy` fails and
`config/wsgi.py` refuses to hand gunicorn an application):

* `fenxiao.E001` the WeChat sandbox is mounted (`WECHAT_MODE=sandbox`): anyone can mint a
  login for any openid at `/wechat-sandbox/` and "pay" any order for free. A staging or
  benchmark deployment that means it says so with `WECHAT_SANDBOX_IN_PRODUCTION=1`.
* `fenxiao.E002` `SECRET_KEY` is a shipped default (settings or `.env.example`).
* `fenxiao.E003` `WECHAT_MP_TOKEN` is a shipped default: anyone could sign official-account pushes.
* `fenxiao.E004` the WeChat Pay key (`WECHAT_PAY_API_KEY`) is a shipped default: anyone
  could sign payment notifications.

With `WECHAT_MODE=live` and APIv3 in use (`WECHAT_PAY_API=v3`, or `WECHAT_PAYOUT_API=v3_transfer_bills`,
the default for payouts; docs/wechat.md, "Certificates and keys to configure"):

* `fenxiao.E005` `WECHAT_PAY_APIV3_KEY` is the shipped default or not 32 characters: callbacks
  and platform certificates would not open (or anyone knowing the default could seal them).
* `fenxiao.E006` `WECHAT_MCH_PRIVATE_KEY` or `WECHAT_MCH_CERT_SERIAL` is empty, or the private
  key (inline PEM or a file) does not load as an RSA private key (the loader's error is given):
  no APIv3 request could be signed.
* `fenxiao.E007` only one of `WECHAT_PAY_PUBLIC_KEY` / `WECHAT_PAY_PUBLIC_KEY_ID` is set (they
  go together; both empty means the platform certificates), or the public key does not load.

With `DEBUG=1` (`make run`) nothing here is checked. The tests run with the test settings
and pytest, which run no system checks.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core import checks

TAG = "fenxiao_production"

# Values this repository ships: the settings' defaults and the ones in .env.example.
SHIPPED_SECRET_KEYS = frozenset({"django-insecure-dev-only-change-me", "change-me", ""})
SHIPPED_MP_TOKENS = frozenset({"sandbox-mp-token", ""})
SHIPPED_PAY_KEYS = frozenset({"sandbox0api0key0sandbox0api0key00", ""})
SHIPPED_APIV3_KEYS = frozenset({"sandbox0apiv30key0sandbox0apiv3k", ""})
APIV3_KEY_LENGTH = 32


def _v3_in_use() -> bool:
    return (getattr(settings, "WECHAT_PAY_API", "v2") == "v3"
            or getattr(settings, "WECHAT_PAYOUT_API", "v2") == "v3_transfer_bills")


def _pem(value: str) -> bytes:
    """As wechat.v3 reads a key setting: an inline PEM (literal \\n allowed) or a file's path."""
    text = (value or "").strip()
    if text.startswith("-----BEGIN"):
        return text.replace("\\n", "\n").encode()
    return Path(text).expanduser().read_bytes()


def _private_key_problem(value: str) -> str:
    """Why the merchant's API certificate key does not load ('' when it does)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(_pem(value), password=None)
    except (OSError, ValueError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(key, rsa.RSAPrivateKey):
        return "not an RSA private key"
    return ""


def _public_key_problem(value: str) -> str:
    """Why the WeChat Pay public key (a PEM public key or certificate) does not load ('' when it does)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        raw = _pem(value)
        key = (x509.load_pem_x509_certificate(raw).public_key() if b"CERTIFICATE" in raw
               else serialization.load_pem_public_key(raw))
    except (OSError, ValueError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if not isinstance(key, rsa.RSAPublicKey):
        return "not an RSA public key"
    return ""


def _apiv3_problems() -> list[checks.CheckMessage]:
    """E005-E007: the APIv3 keys of a live merchant that uses APIv3."""
    if settings.WECHAT_MODE != "live" or not _v3_in_use():
        return []
    errors: list[checks.CheckMessage] = []
    uses = (f"WECHAT_PAY_API={getattr(settings, 'WECHAT_PAY_API', 'v2')}, "
            f"WECHAT_PAYOUT_API={getattr(settings, 'WECHAT_PAYOUT_API', 'v2')}")
    apiv3_key = settings.WECHAT_PAY_APIV3_KEY or ""
    if apiv3_key in SHIPPED_APIV3_KEYS or len(apiv3_key) != APIV3_KEY_LENGTH:
        if not apiv3_key:
            why = "is empty"
        elif apiv3_key in SHIPPED_APIV3_KEYS:
            why = "is the value shipped with the code"
        else:
            why = f"has {len(apiv3_key)} characters, not {APIV3_KEY_LENGTH}"
        errors.append(checks.Error(
            f"WECHAT_PAY_APIV3_KEY {why}, and APIv3 is in use ({uses}): WeChat's callbacks and platform "
            "certificates cannot be opened, or anyone could seal them.",
            hint="Set WECHAT_PAY_APIV3_KEY to the merchant's APIv3 key (32 characters, merchant platform → "
                 "账户中心 → API安全 → 设置APIv3密钥).",
            id="fenxiao.E005",
        ))
    private_key = settings.WECHAT_MCH_PRIVATE_KEY or ""
    serial = settings.WECHAT_MCH_CERT_SERIAL or ""
    missing = [name for name, value in (("WECHAT_MCH_PRIVATE_KEY", private_key),
                                        ("WECHAT_MCH_CERT_SERIAL", serial)) if not value.strip()]
    problem = _private_key_problem(private_key) if private_key.strip() else ""
    if missing or problem:
        what = f"{' and '.join(missing)} empty" if missing else f"WECHAT_MCH_PRIVATE_KEY does not load ({problem})"
        errors.append(checks.Error(
            f"APIv3 is in use ({uses}) with {what}: no request to WeChat Pay can be signed.",
            hint="Set WECHAT_MCH_PRIVATE_KEY to the API certificate's apiclient_key.pem (its path, or the PEM "
                 "itself) and WECHAT_MCH_CERT_SERIAL to that certificate's serial number (merchant platform → "
                 "账户中心 → API安全 → API证书).",
            id="fenxiao.E006",
        ))
    public_key = (settings.WECHAT_PAY_PUBLIC_KEY or "").strip()
    public_key_id = (settings.WECHAT_PAY_PUBLIC_KEY_ID or "").strip()
    if bool(public_key) != bool(public_key_id):
        given, empty = (("WECHAT_PAY_PUBLIC_KEY", "WECHAT_PAY_PUBLIC_KEY_ID") if public_key
                        else ("WECHAT_PAY_PUBLIC_KEY_ID", "WECHAT_PAY_PUBLIC_KEY"))
        errors.append(checks.Error(
            f"APIv3 is in use ({uses}) with {given} set but {empty} empty: WeChat's answers signed with the "
            "WeChat Pay public key could not be verified.",
            hint="Set both (the public key PEM or its file, and its id PUB_KEY_ID_…, from merchant platform → "
                 "账户中心 → API安全 → 微信支付公钥), or neither to use the platform certificates.",
            id="fenxiao.E007",
        ))
    elif public_key and (problem := _public_key_problem(public_key)):
        errors.append(checks.Error(
            f"APIv3 is in use ({uses}) and WECHAT_PAY_PUBLIC_KEY does not load ({problem}).",
            hint="Set WECHAT_PAY_PUBLIC_KEY to the WeChat Pay public key (pub_key.pem: its path, or the PEM itself).",
            id="fenxiao.E007",
        ))
    return errors


def production_problems() -> list[checks.CheckMessage]:
    """The errors that keep a DEBUG=0 process from serving (empty when DEBUG is on)."""
    if settings.DEBUG:
        return []
    errors: list[checks.CheckMessage] = []
    if settings.WECHAT_SANDBOX and not getattr(settings, "WECHAT_SANDBOX_IN_PRODUCTION", False):
        errors.append(checks.Error(
            "The WeChat sandbox is on (WECHAT_MODE=sandbox) with DEBUG off: /wechat-sandbox/ lets anyone log in "
            "as any openid and pay any order for free.",
            hint="Set WECHAT_MODE=live with real credentials, or WECHAT_SANDBOX_IN_PRODUCTION=1 for a staging "
                 "or benchmark deployment that must run the sandbox.",
            id="fenxiao.E001",
        ))
    if settings.SECRET_KEY in SHIPPED_SECRET_KEYS or settings.SECRET_KEY.startswith("django-insecure"):
        errors.append(checks.Error(
            "SECRET_KEY is the value shipped with the code: sessions and signed values can be forged.",
            hint="Set SECRET_KEY to a long random value: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
            id="fenxiao.E002",
        ))
    if settings.WECHAT_MP_TOKEN in SHIPPED_MP_TOKENS:
        errors.append(checks.Error(
            "WECHAT_MP_TOKEN is the value shipped with the code: anyone can sign official-account messages.",
            hint="Set WECHAT_MP_TOKEN to the token configured in the official account's server settings.",
            id="fenxiao.E003",
        ))
    if settings.WECHAT_PAY_API_KEY in SHIPPED_PAY_KEYS:
        errors.append(checks.Error(
            "WECHAT_PAY_API_KEY is the value shipped with the code: anyone can sign payment notifications.",
            hint="Set WECHAT_PAY_API_KEY to the merchant's API key (32 characters, from the merchant platform).",
            id="fenxiao.E004",
        ))
    errors.extend(_apiv3_problems())
    return errors


@checks.register(TAG, deploy=True)
def check_production_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    return production_problems()


def refuse_to_serve_on_defaults() -> None:
    """Called by config/wsgi.py and asgi.py: raise before a server gets an application."""
    from django.core.exceptions import ImproperlyConfigured

    errors = production_problems()
    if errors:
        lines = "\n".join(f"{e.id}: {e.msg} HINT: {e.hint}" for e in errors)
        raise ImproperlyConfigured(f"refusing to serve with DEBUG off:\n{lines}")

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

With `DEBUG=1` (`make run`) nothing here is checked. The tests run with the test settings
and pytest, which run no system checks.
"""
from __future__ import annotations

from django.conf import settings
from django.core import checks

TAG = "fenxiao_production"

# Values this repository ships: the settings' defaults and the ones in .env.example.
SHIPPED_SECRET_KEYS = frozenset({"django-insecure-dev-only-change-me", "change-me", ""})
SHIPPED_MP_TOKENS = frozenset({"sandbox-mp-token", ""})
SHIPPED_PAY_KEYS = frozenset({"sandbox0api0key0sandbox0api0key00", ""})


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

"""Template helpers of the H5 pages: `{% load h5 %}`.

* `{{ fen|yuan }}` shows integer fen as yuan, "¥398.00" (display only; money stays fen).
* `{% h5_config %}` the page's configuration for h5.js, as a `<script type="application/json"
  id="h5-config">` element: API base, WeChat mode, login URL, language and the translated
  messages the script shows (so a page without its own view context still has them).
"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.html import json_script
from django.utils.translation import get_language, pgettext

from core import money

from ..labels import status_labels

register = template.Library()


def yuan_text(fen) -> str:
    """Fen as shown to people: ¥398.00 (core.money.yuan, the sign before the ¥: -¥2.50); "" for None."""
    if fen is None or isinstance(fen, bool):
        return ""
    text = money.yuan(int(fen))
    return f"-¥{text[1:]}" if text.startswith("-") else f"¥{text}"


@register.filter(name="yuan")
def yuan(fen) -> str:
    return yuan_text(fen)


def js_messages() -> dict[str, str]:
    """The strings h5.js shows, in the request's language."""
    return {
        "error": pgettext("h5", "Something went wrong. Please try again."),
        "network": pgettext("h5", "The network is not reachable. Please try again."),
        "login_required": pgettext("h5", "Please log in first."),
        "loading": pgettext("h5", "Loading…"),
        "empty": pgettext("h5", "Nothing here yet."),
        "paid": pgettext("h5", "Paid"),
        "pay_cancelled": pgettext("h5", "Payment cancelled."),
        "transfer_cancelled": pgettext("h5", "You have not confirmed receipt yet."),
        "copied": pgettext("h5", "Copied."),
        "saved": pgettext("h5", "Saved."),
        "confirm": pgettext("h5", "Are you sure?"),
        "more": pgettext("h5", "More"),
    }


@register.simple_tag(takes_context=True)
def h5_config(context) -> str:
    request = context.get("request")
    config = {
        "api": "/api/v1",
        "h5": reverse("h5:home").rstrip("/"),
        "login": reverse("h5:login"),
        "wechat_mode": settings.WECHAT_MODE,
        "lang": get_language() or settings.LANGUAGE_CODE,
        "path": request.get_full_path() if request is not None else "",
        "messages": js_messages(),
        "labels": status_labels(),
    }
    return json_script(config, "h5-config")


@register.simple_tag
def h5_shop_name() -> str:
    return getattr(settings, "SHOP_NAME", "") or pgettext("h5", "Micro-store")


@register.simple_tag
def h5_wechat_mode() -> str:
    return settings.WECHAT_MODE

"""The API's error messages in the request's language.

LocaleMiddleware picks the language from Accept-Language (zh-hans first, en when asked:
LANGUAGES in settings). DRF's own messages and the lazy ones of api/ follow it by themselves.
The domain's messages are plain English strings (the domain apps know nothing of HTTP or
languages); api/errors.py passes each one through `translate()` when it writes the error:

* an exact message is looked up in the catalog (api/locale/zh_Hans/LC_MESSAGES/django.po);
* a message with figures in it ("Must be an integer from 0 to 10000.") is matched against
  PATTERNS, whose translations fill the same figures in;
* anything else stays as it is.

So for zh-hans the message and the field messages are Chinese, for en English. A new domain
message needs its msgid in the catalog (tests/api/test_error_language.py lists every message the
domain raises and fails on one without a translation).
"""

from __future__ import annotations

import re

from django.utils.translation import get_language, gettext, gettext_noop

# Messages with figures or names in them, as the domain writes them; `%(name)s` stands for what
# varies. The translations are in the catalog under these very msgids.
PATTERNS = [
    gettext_noop("Too many failed logins for this username or from this address. Try again in %(n)s minutes."),
    gettext_noop("Too many failed logins for this username or from this address. Try again in %(n)s minute."),
    gettext_noop("Too many logins of this WeChat user; try again in %(n)s s."),
    gettext_noop("Unknown refund status %(status)s."),
    gettext_noop("Between 1 and %(high)s fen."),
    gettext_noop("Between 0 and %(high)s."),
    gettext_noop("Between %(low)s and %(high)s."),
    gettext_noop("Must be between %(low)s and %(high)s."),
    gettext_noop("A whole number of days from 0 to %(high)s, or null for the freeze period plus 7 days."),
    gettext_noop("Unknown fields: %(names)s."),
    gettext_noop("At most %(n)s items per order."),
    gettext_noop("quantity must be 1 to %(n)s."),
    gettext_noop("Must be an integer from %(low)s to %(high)s."),
    gettext_noop("An integer from %(low)s to %(high)s."),
    gettext_noop("Must be one of %(choices)s."),
    gettext_noop("One of %(choices)s."),
    gettext_noop("The range is longer than %(n)s days."),
    gettext_noop("At most %(n)s days."),
    gettext_noop("%(name)s must be a date YYYY-MM-DD."),
    gettext_noop("%(name)s is not a valid date."),
    gettext_noop("%(name)s is out of range."),
    gettext_noop("%(name)s is given more than once."),
    gettext_noop("%(name)s must be an integer, got %(type)s."),
    gettext_noop("ids must be 1 to %(n)s withdrawal ids."),
    gettext_noop("A pool of %(pool)s fen cannot give %(count)s shares of at least %(min)s fen."),
    gettext_noop("A pool of %(pool)s fen cannot fit in %(count)s shares of at most %(max)s fen."),
    gettext_noop("A whole number of fen from 0 to %(high)s."),
    gettext_noop("A whole number from %(low)s to %(high)s."),
    gettext_noop("A message has at most %(n)s characters."),
    gettext_noop("At most %(n)s characters."),
    gettext_noop("At most %(n)s images."),
    gettext_noop("At most %(n)s SKUs."),
    gettext_noop("Select at most %(n)s."),
    gettext_noop("A name of 1 to %(n)s characters is required."),
    gettext_noop("Each image is a URL of at most %(n)s characters."),
    gettext_noop("Each SKU needs a name of 1 to %(n)s characters."),
    gettext_noop("Duplicate SKU name %(name)s."),
    gettext_noop("Duplicate SKU names: %(names)s."),
    gettext_noop("Each new SKU needs %(key)s."),
    gettext_noop("Required for %(type)s links."),
    gettext_noop("A %(type)s link takes no target_id (omit it or send 0)."),
    gettext_noop("Required for a %(scope)s rule."),
    gettext_noop("A %(scope)s rule takes %(field)s only."),
    gettext_noop("The smallest withdrawal is %(n)s fen."),
    gettext_noop("One withdrawal pays out at most %(n)s fen."),
    gettext_noop("At most %(n)s withdrawals a day."),
    gettext_noop("At most %(n)s fen a day."),
    gettext_noop("The payout is over the per-transfer maximum of %(n)s fen."),
    gettext_noop("A %(status)s withdrawal cannot be approved."),
    gettext_noop("A %(status)s withdrawal cannot be rejected."),
    gettext_noop("The %(what)s changed meanwhile; try again."),
    gettext_noop("%(article)s %(name)s that is %(prev)s cannot become %(to)s."),
    gettext_noop("Idempotency-Key must be 1 to %(n)s printable characters."),
    gettext_noop("content must be at most %(n)s characters."),
    gettext_noop("WeChat answered HTTP %(status)s."),
    gettext_noop("WeChat refused the request: %(reason)s"),
    gettext_noop("Set either level%(a)s_bps or level%(b)s_fixed_fen, not both."),
]
# "field: message" (commissions/services/rules.py names the field first): the message is translated.
_FIELD_FIRST = re.compile(r"^([a-z][a-z0-9_]*): (.+)$", re.S)


def _regex(msgid: str) -> re.Pattern:
    parts = re.split(r"%\((\w+)\)s", msgid)
    out = []
    for i, part in enumerate(parts):
        out.append(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)")
    return re.compile("^" + "".join(out) + "$", re.S)


_COMPILED = sorted(((_regex(p), p) for p in PATTERNS), key=lambda item: -len(item[1]))


def wants_english() -> bool:
    return (get_language() or "zh-hans").lower().startswith("en")


def translate(message):
    """`message` in the active language: the catalog, then PATTERNS; else unchanged."""
    if not isinstance(message, str) or not message or wants_english():
        return message
    found = gettext(message)
    if found != message:
        return found
    for regex, msgid in _COMPILED:
        match = regex.match(message)
        if match:
            translated = gettext(msgid)
            if translated != msgid:
                return translated % match.groupdict()
    field_first = _FIELD_FIRST.match(message)
    if field_first:
        inner = translate(field_first.group(2))
        if inner != field_first.group(2):
            return f"{field_first.group(1)}: {inner}"
    return message


def translate_all(value):
    """Every string in a (nested) dict or list of field messages, translated."""
    if isinstance(value, dict):
        return {key: translate_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [translate_all(item) for item in value]
    return translate(value) if isinstance(value, str) else value

"""Ledger helpers: unique idempotency keys and a way to fund accounts from the outside world."""
from __future__ import annotations

import itertools

from ledger.models import AccountKind
from ledger.services import account_get_or_create, ledger_post

_keys = itertools.count(1)


def next_key(prefix: str = "test") -> str:
    return f"{prefix}:{next(_keys)}"


def fund(account, amount_fen: int, *, key: str | None = None):
    """Money arrives from outside (WeChat users' own money) into `account`."""
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    return ledger_post(
        kind="test.fund", idempotency_key=key or next_key("fund"), legs=[(outside, -amount_fen), (account, amount_fen)]
    )

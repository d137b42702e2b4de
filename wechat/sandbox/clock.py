"""What every part of the sandbox stamps its records with: Beijing time and random ids."""
from __future__ import annotations

import secrets
from datetime import datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    return datetime.now(SHANGHAI)


def rand(n: int) -> str:
    """n random hex characters."""
    return secrets.token_hex(n)[:n]

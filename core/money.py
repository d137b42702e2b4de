"""Money helpers shared by the apps: fen to text, basis points.

Money is integer fen everywhere; rates are integer basis points (`*_bps`, BPS = 100 %).
Nothing here uses a float.
"""
from __future__ import annotations

BPS = 10_000  # basis points in one whole (a rate of BPS is 100 %)


def yuan(fen: int | None, *, grouped: bool = False, unit: str = "") -> str:
    """12345 -> "123.45" from integers (divmod), never a float; None -> "-".

    grouped=True puts thousands separators in ("1,234.56", the operators' console);
    unit is appended ("元" in messages to people: "123.45元")."""
    if fen is None:
        return "-"
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}{unit}" if grouped else f"{sign}{whole}.{cents:02d}{unit}"

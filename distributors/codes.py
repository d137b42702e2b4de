"""Short codes for invites and share links: unambiguous characters, random, not guessable in sequence.

31 characters (digits and capitals without 0 O 1 I L), drawn with `secrets`; 8 characters give
31^8 ≈ 8.5e11 codes, so guessing a live code is hopeless and collisions (retried by the
callers against a unique constraint) are rare.
"""
from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITE_CODE_LENGTH = 8
SHARE_CODE_LENGTH = 8


def code_generate(length: int = SHARE_CODE_LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def code_normalise(raw: str) -> str | None:
    """A code as typed by a person (case, spaces, look-alikes O→0 are not in the alphabet), or None
    when it cannot be one of ours."""
    if not isinstance(raw, str):
        return None
    code = raw.strip().upper()
    if not 4 <= len(code) <= 12 or any(ch not in ALPHABET for ch in code):
        return None
    return code

"""Signing short tokens on hot paths (cookies set by `/s/{code}`, the attribution hint).

`CachedKeySigner` is django.core.signing.Signer — same format, same keys (SECRET_KEY and its
fallbacks), same salt rules — with the derived HMAC key computed once per signer instead of on
every call (Signer derives it from the salt and SECRET_KEY each time; on the short link that
is a measurable share of the request).
"""
from __future__ import annotations

import hashlib
import hmac

from django.core import signing
from django.utils.encoding import force_bytes


class CachedKeySigner(signing.Signer):
    """django.core.signing.Signer with the derived HMAC key computed once."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        derived = hashlib.sha256((self.salt + "signer").encode() + force_bytes(self.key)).digest()
        self._mac = hmac.new(derived, digestmod=hashlib.sha256) if self.algorithm == "sha256" else None

    def signature(self, value, key=None):
        if self._mac is None or (key is not None and key != self.key):
            return super().signature(value, key)
        mac = self._mac.copy()
        mac.update(force_bytes(value))
        return signing.b64_encode(mac.digest()).decode()

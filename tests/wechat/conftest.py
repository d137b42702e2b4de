"""Fixtures for the official-account tests (tests/wechat/test_mp*.py) and the WeChat Pay tests
(handlers registered for tests/wechat/pay_helpers.py PURPOSE that record what they saw)."""
from __future__ import annotations

import base64
import hashlib

import pytest
from django.conf import settings as django_settings

from tests.wechat.pay_helpers import PURPOSE, Calls, confirm, create_payment
from wechat import hooks
from wechat.hooks_mp import (
    register_scene_handler,
    register_text_handler,
    text_handlers,
    unregister_scene_handler,
    unregister_text_handler,
)
from wechat.models import PaymentStatus


@pytest.fixture(params=["redis", "db"])
def store(request, settings):
    """Which replay store is in use: Redis (skipped without it), or the database (a local
    cache, as on a machine without Redis)."""
    if request.param == "redis":
        if not django_settings.REDIS_AVAILABLE:
            pytest.skip("needs Redis")
    else:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                       "LOCATION": "mp-replay-test"}}
        from django.core.cache import cache

        cache.clear()  # a local cache outlives the test; start it empty
    return request.param


@pytest.fixture
def texts():
    """A text handler that answers "订单" with the sender's orders, standing in for the real
    one (distributors'), which is set aside meanwhile so this one is asked."""
    calls: list[dict] = []

    def handler(**kwargs):
        calls.append(kwargs)
        return f"orders of {kwargs['openid']}"

    real = text_handlers()
    for name, _ in real:
        unregister_text_handler(name)
    register_text_handler("test-orders", handler)
    yield calls
    unregister_text_handler("test-orders")
    for name, fn in real:
        register_text_handler(name, fn)


@pytest.fixture
def scene_calls():
    """Calls to a scene handler registered for the "test:" prefix."""
    calls: list[dict] = []
    register_scene_handler("test:", lambda **kw: calls.append(kw))
    yield calls
    unregister_scene_handler("test:")


@pytest.fixture
def safe_mode(settings):
    """Safe mode (AES) on: WeChat, and so the sandbox, encrypt every message."""
    settings.WECHAT_MP_AES_KEY = base64.b64encode(hashlib.sha256(b"fenxiao").digest()).decode().rstrip("=")
    return settings


@pytest.fixture
def payment_hook():
    calls = Calls()
    hooks.register_payment_handler(PURPOSE, calls)
    yield calls
    hooks.unregister_payment_handler(PURPOSE, calls)


@pytest.fixture
def refund_hook():
    calls = Calls()
    hooks.register_refund_handler(PURPOSE, calls)
    yield calls
    hooks.unregister_refund_handler(PURPOSE, calls)


@pytest.fixture
def transfer_hook():
    calls = Calls()
    hooks.register_transfer_handler(PURPOSE, calls)
    yield calls
    hooks.unregister_transfer_handler(PURPOSE, calls)


@pytest.fixture
def paid(wechat_sandbox):
    """A payment of 1000 fen, paid in the sandbox."""
    payment, _ = create_payment(amount_fen=1000)
    confirm(wechat_sandbox, payment.prepay_id)
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PAID
    return payment

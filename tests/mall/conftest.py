import pytest

from mall.hooks import OrderMoment, register_order_handler, unregister_order_handler


@pytest.fixture
def moments():
    """Records every published order moment (what a subscriber such as commissions would see)."""
    seen: list[tuple[str, str]] = []
    handlers = {}
    for moment in OrderMoment:
        handlers[moment] = (lambda m: lambda order, **data: seen.append((m.value, order.no)))(moment)
        register_order_handler(moment, handlers[moment])
    yield seen
    for moment, fn in handlers.items():
        unregister_order_handler(moment, fn)

from core.errors import Conflict, InvalidInput


class OutOfStock(Conflict):
    code = "out_of_stock"
    default_message = "Not enough stock."


class OrderNotPayable(Conflict):
    code = "order_not_payable"
    default_message = "This order cannot be paid (closed, paid already, or past its payment deadline)."


class SkuUnavailable(InvalidInput):
    code = "sku_unavailable"
    default_message = "A SKU is unknown, inactive or off the shelf."


class AmountTooLarge(InvalidInput):
    code = "amount_too_large"
    default_message = "The amount is larger than allowed."


class AmountTooSmall(InvalidInput):
    code = "amount_too_small"
    default_message = "The amount must be at least 1 fen."


class RefundWindowClosed(Conflict):
    code = "refund_window_closed"
    default_message = "The time for asking for a refund of this order has passed; contact customer service."

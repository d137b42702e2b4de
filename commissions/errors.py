"""Stable failure codes of commissions and withdrawals (API.md)."""
from core.errors import Conflict, Forbidden, InvalidInput
from mall.errors import AmountTooLarge, AmountTooSmall

__all__ = ["AmountTooLarge", "AmountTooSmall", "WithdrawalLimit", "DebtOutstanding", "SelfApproval", "NoOpenid"]


class WithdrawalLimit(Conflict):
    code = "withdrawal_limit"
    default_message = "The daily withdrawal limit is reached."


class DebtOutstanding(Conflict):
    code = "debt_outstanding"
    default_message = "You owe commission that was refunded after it settled; it must be paid off first."


class SelfApproval(Forbidden):
    code = "self_approval"
    default_message = "Nobody may review their own withdrawal."


class NoOpenid(InvalidInput):
    code = "no_openid"
    default_message = "Withdrawals go to a WeChat balance: log in with WeChat first."

"""The words the pages' scripts show for the API's status values, in the request's language."""

from __future__ import annotations

from django.utils.translation import pgettext_lazy

STATUS_LABELS = {
    "order": {
        "pending_payment": pgettext_lazy("h5", "Awaiting payment"),
        "paid": pgettext_lazy("h5", "Paid, awaiting shipment"),
        "shipped": pgettext_lazy("h5", "Shipped"),
        "completed": pgettext_lazy("h5", "Completed"),
        "closed": pgettext_lazy("h5", "Closed"),
        "refunding": pgettext_lazy("h5", "Refunding"),
        "refunded": pgettext_lazy("h5", "Refunded"),
        "partially_refunded": pgettext_lazy("h5", "Partially refunded"),
    },
    "refund": {
        "requested": pgettext_lazy("h5", "Requested, in review"),
        "approved": pgettext_lazy("h5", "Approved, refunding"),
        "succeeded": pgettext_lazy("h5", "Refunded"),
        "rejected": pgettext_lazy("h5", "Rejected"),
        "failed": pgettext_lazy("h5", "Failed"),
    },
    "commission": {
        "pending": pgettext_lazy("h5", "Pending (order paid)"),
        "frozen": pgettext_lazy("h5", "Frozen"),
        "settled": pgettext_lazy("h5", "Settled"),
        "reversed": pgettext_lazy("h5", "Reversed"),
    },
    "withdrawal": {
        "requested": pgettext_lazy("h5", "In review"),
        "approved": pgettext_lazy("h5", "Approved"),
        "paying": pgettext_lazy("h5", "Paying"),
        "confirming": pgettext_lazy("h5", "Confirm receipt in WeChat"),
        "paid": pgettext_lazy("h5", "Paid"),
        "rejected": pgettext_lazy("h5", "Rejected"),
        "failed": pgettext_lazy("h5", "Failed"),
        "cancelled": pgettext_lazy("h5", "Cancelled"),
    },
    "distributor": {
        "pending": pgettext_lazy("h5", "Pending review"),
        "approved": pgettext_lazy("h5", "Approved"),
        "rejected": pgettext_lazy("h5", "Rejected"),
        "frozen": pgettext_lazy("h5", "Frozen"),
    },
    "account": {
        "user_wallet": pgettext_lazy("h5", "Available"),
        "user_frozen": pgettext_lazy("h5", "Frozen"),
        "user_withdrawing": pgettext_lazy("h5", "Withdrawing"),
        "user_debt": pgettext_lazy("h5", "Owed"),
    },
    "entry": {
        "commission.accrue": pgettext_lazy("h5", "Commission for an order"),
        "commission.settle": pgettext_lazy("h5", "Commission settled"),
        "commission.reverse": pgettext_lazy("h5", "Commission taken back (refund)"),
        "withdrawal.request": pgettext_lazy("h5", "Withdrawal requested"),
        "withdrawal.paid": pgettext_lazy("h5", "Withdrawal paid"),
        "withdrawal.reject": pgettext_lazy("h5", "Withdrawal rejected: money back"),
        "withdrawal.fail": pgettext_lazy("h5", "Withdrawal failed: money back"),
        "withdrawal.cancel": pgettext_lazy("h5", "Withdrawal cancelled: money back"),
        "campaigns.envelope_grabs": pgettext_lazy("h5", "Red envelope grabbed"),
        "campaigns.envelope_fund": pgettext_lazy("h5", "Red envelope sent from the wallet"),
        "campaigns.envelope_top_up": pgettext_lazy("h5", "Red envelope topped up from the wallet"),
        "campaigns.envelope_return": pgettext_lazy("h5", "Red envelope: the rest came back"),
        "campaigns.envelope_refund": pgettext_lazy("h5", "Red envelope refunded"),
        "campaigns.envelope_cancel": pgettext_lazy("h5", "Red envelope cancelled"),
        "campaigns.contribution_refund": pgettext_lazy("h5", "Crowdfund contribution refunded"),
    },
    "target": {
        "product": pgettext_lazy("h5", "Product"),
        "store": pgettext_lazy("h5", "Shop"),
        "recruit": pgettext_lazy("h5", "Recruitment"),
        "crowdfund": pgettext_lazy("h5", "Crowdfund"),
        "red_envelope": pgettext_lazy("h5", "Red envelope"),
    },
}


def status_labels() -> dict[str, dict[str, str]]:
    return {group: {k: str(v) for k, v in values.items()} for group, values in STATUS_LABELS.items()}

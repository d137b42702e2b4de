"""The words the pages' scripts show for the API's status values, in the request's language."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

STATUS_LABELS = {
    "order": {
        "pending_payment": _("Awaiting payment"),
        "paid": _("Paid, awaiting shipment"),
        "shipped": _("Shipped"),
        "completed": _("Completed"),
        "closed": _("Closed"),
        "refunding": _("Refunding"),
        "refunded": _("Refunded"),
        "partially_refunded": _("Partially refunded"),
    },
    "refund": {
        "requested": _("Requested, in review"),
        "approved": _("Approved, refunding"),
        "succeeded": _("Refunded"),
        "rejected": _("Rejected"),
        "failed": _("Failed"),
    },
    "commission": {
        "pending": _("Pending (order paid)"),
        "frozen": _("Frozen"),
        "settled": _("Settled"),
        "reversed": _("Reversed"),
    },
    "withdrawal": {
        "requested": _("In review"),
        "approved": _("Approved"),
        "paying": _("Paying"),
        "paid": _("Paid"),
        "rejected": _("Rejected"),
        "failed": _("Failed"),
    },
    "distributor": {
        "pending": _("Pending review"),
        "approved": _("Approved"),
        "rejected": _("Rejected"),
        "frozen": _("Frozen"),
    },
    "account": {
        "user_wallet": _("Available"),
        "user_frozen": _("Frozen"),
        "user_withdrawing": _("Withdrawing"),
        "user_debt": _("Owed"),
    },
    "entry": {
        "commission.accrue": _("Commission for an order"),
        "commission.settle": _("Commission settled"),
        "commission.reverse": _("Commission taken back (refund)"),
        "withdrawal.request": _("Withdrawal requested"),
        "withdrawal.paid": _("Withdrawal paid"),
        "withdrawal.reject": _("Withdrawal rejected: money back"),
        "withdrawal.fail": _("Withdrawal failed: money back"),
        "campaigns.envelope_grabs": _("Red envelope grabbed"),
        "campaigns.envelope_fund": _("Red envelope sent from the wallet"),
        "campaigns.envelope_top_up": _("Red envelope topped up from the wallet"),
        "campaigns.envelope_return": _("Red envelope: the rest came back"),
        "campaigns.envelope_refund": _("Red envelope refunded"),
        "campaigns.envelope_cancel": _("Red envelope cancelled"),
        "campaigns.contribution_refund": _("Crowdfund contribution refunded"),
    },
    "target": {
        "product": _("Product"),
        "store": _("Shop"),
        "recruit": _("Recruitment"),
        "crowdfund": _("Crowdfund"),
        "red_envelope": _("Red envelope"),
    },
}


def status_labels() -> dict[str, dict[str, str]]:
    return {group: {k: str(v) for k, v in values.items()} for group, values in STATUS_LABELS.items()}

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

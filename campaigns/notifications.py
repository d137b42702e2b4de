"""PLACEHOLDER being replaced by the notifications helper (not to be committed like this)."""


def notify_contribution_paid(*, contribution_id: int) -> None:
    pass


def notify_crowdfund_result(*, crowdfund_id: int) -> None:
    pass


def notify_contribution_refunded(*, refund_id: int) -> None:
    pass

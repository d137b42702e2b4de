"""Campaign failures, as domain errors with stable codes (API.md)."""
from core.errors import Conflict, Forbidden, InvalidInput


class CrowdfundClosed(Conflict):
    code = "crowdfund_closed"
    default_message = "This crowdfund is no longer open."


class CrowdfundFull(Conflict):
    code = "crowdfund_full"
    default_message = "Nothing is missing any more (what is left is reserved by friends paying now)."


class CrowdfundingOff(Conflict):
    code = "crowdfunding_off"
    default_message = "Crowdfunding is turned off for this product."


class AmountTooSmall(InvalidInput):
    code = "amount_too_small"
    default_message = "The amount is below the minimum contribution."


class AmountTooLarge(InvalidInput):
    code = "amount_too_large"
    default_message = "The amount is more than what is still missing."


class NotInitiator(Forbidden):
    code = "not_initiator"
    default_message = "Only the person who started this crowdfund can do this."

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


# --- bargains (砍价) ---------------------------------------------------------------------


class BargainOfferClosed(Conflict):
    code = "bargain_offer_closed"
    default_message = "This bargain offer is not open now."


class BargainSoldOut(Conflict):
    code = "bargain_sold_out"
    default_message = "This bargain offer has no stock left."


class BargainLimitReached(Conflict):
    code = "bargain_limit_reached"
    default_message = "You have started as many bargains on this offer as allowed."


class BargainClosed(Conflict):
    code = "bargain_closed"
    default_message = "This bargain is over."


class BargainExpired(Conflict):
    code = "bargain_expired"
    default_message = "This bargain's time limit has passed."


class BargainFloorReached(Conflict):
    code = "bargain_floor_reached"
    default_message = "This bargain has already reached its lowest price."


class AlreadyHelped(Conflict):
    code = "already_helped"
    default_message = "You have already helped this bargain."


class OwnBargain(Forbidden):
    code = "own_bargain"
    default_message = "You cannot help your own bargain."


class WechatUserRequired(Forbidden):
    code = "wechat_user_required"
    default_message = "Only a WeChat user of the shop can help a bargain."


class AccountTooNew(Forbidden):
    code = "account_too_new"
    default_message = "Your account is too new to help a bargain; try again later."


class HelpLimitReached(Conflict):
    code = "help_limit_reached"
    default_message = "You have given as many bargain helps today as allowed."

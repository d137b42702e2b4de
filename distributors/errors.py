from core.errors import Conflict, Forbidden, InvalidInput


class NotADistributor(Forbidden):
    code = "not_a_distributor"
    default_message = "You are not a distributor."


class DistributorNotApproved(Forbidden):
    code = "distributor_not_approved"
    default_message = "Your distributor account is not approved (pending, rejected or frozen)."


class SelfReferral(InvalidInput):
    code = "self_referral"
    default_message = "You cannot use your own invite or share code."


class InvalidInviteCode(InvalidInput):
    code = "invalid_invite_code"
    default_message = "The invite code does not belong to an approved distributor."


class InviteCycle(Conflict):
    code = "invite_cycle"
    default_message = "That inviter is already in your downline: the recruiter tree cannot loop."


class AlreadyApplied(Conflict):
    code = "already_applied"
    default_message = "You have applied already."


class ThresholdNotMet(Conflict):
    code = "recruitment_threshold_not_met"
    default_message = "Completed purchases do not reach the amount needed to become a distributor yet."

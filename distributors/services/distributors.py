"""Distributors: applying, operator review, the recruiter tree, tiers.

Status machine (DISTRIBUTOR_TRANSITIONS in distributors/models.py; every change goes through
core.transitions.transition on the locked row and writes a DistributorEvent):

    pending ──approve──▶ approved ──freeze──▶ frozen ──unfreeze──▶ approved
       └──reject──▶ rejected ──(apply again)──▶ pending / approved

The row keeps the last rejection or freeze reason; any other move clears it. The cached
entries of the distributor's links carry its status: every move forgets them (`then`), at once
and after commit — `transition` updates the row without save(), so the post_save receiver in
services/clicks/entries.py (kept for the admin's edits) does not see it.

The recruiter tree: each distributor has at most one inviter, set once. Changes to the tree
are serialised by locking the settings row, and a new inviter is refused when the
distributor is among the inviter's ancestors, so no chain can loop — also when two people
name each other at the same moment.
"""
from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import InvalidInput, InvalidTransition, NotFound
from core.transitions import transition

from ..codes import INVITE_CODE_LENGTH, code_generate, code_normalise
from ..errors import AlreadyApplied, InvalidInviteCode, InviteCycle, SelfReferral, ThresholdNotMet
from ..models import (
    DISTRIBUTOR_TRANSITIONS,
    DistributionSettings,
    Distributor,
    DistributorEvent,
    DistributorStatus,
    RecruitmentMode,
    Tier,
)
from ..selectors.distributors import distributor_figures
from ..selectors.purchases import user_completed_purchases_fen
from .clicks.entries import distributor_link_entries_invalidate
from .settings import distribution_settings_get

logger = logging.getLogger(__name__)

S = DistributorStatus
MAX_TREE_DEPTH = 10_000  # a guard for the ancestor walk; real trees are far shallower


def _event(distributor: Distributor, *, kind: str, from_value: str = "", to_value: str = "", reason: str = "",
           actor=None) -> None:
    DistributorEvent.objects.create(distributor=distributor, kind=kind, from_value=from_value, to_value=to_value,
                                    reason=reason[:200], actor=actor)


def _link_entries_forget(distributor: Distributor) -> None:
    """The `then` of every status change: forget the cached entries of the distributor's links."""
    distributor_link_entries_invalidate(distributor_id=distributor.pk)


def _recorded(kind: str, *, actor=None, reason: str = ""):
    """The `record` of core.transitions.transition for a distributor: the status event."""
    def record(distributor: Distributor, from_status: str, to_status: str) -> None:
        _event(distributor, kind=kind, from_value=from_status, to_value=to_status, reason=reason, actor=actor)
    return record


def _lock_tree() -> None:
    """Serialise changes to the recruiter tree (rare writes; reads never wait)."""
    DistributionSettings.objects.get_or_create(pk=1)
    DistributionSettings.objects.select_for_update().get(pk=1)


def distributor_ancestor_ids(*, distributor_id: int) -> list[int]:
    """The inviter, the inviter's inviter, … (nearest first)."""
    ids: list[int] = []
    current = Distributor.objects.filter(pk=distributor_id).values_list("inviter_id", flat=True).first()
    while current is not None and len(ids) < MAX_TREE_DEPTH:
        if current in ids:  # pragma: no cover - a loop would be a bug; stop rather than spin
            logger.error("recruiter tree loop at %s", current)
            break
        ids.append(current)
        current = Distributor.objects.filter(pk=current).values_list("inviter_id", flat=True).first()
    return ids


def _inviter_for(*, user, invite_code: str | None) -> Distributor | None:
    if not invite_code:
        return None
    code = code_normalise(invite_code)
    inviter = Distributor.objects.filter(invite_code=code, status=S.APPROVED).first() if code else None
    if inviter is None:
        raise InvalidInviteCode()
    if inviter.user_id == user.pk:
        raise SelfReferral()
    return inviter


def _initial_status(*, user, settings: DistributionSettings) -> str:
    if settings.recruitment_mode == RecruitmentMode.OPEN:
        return S.APPROVED
    if settings.recruitment_mode == RecruitmentMode.PURCHASE:
        spent = user_completed_purchases_fen(user=user)
        if spent < settings.recruitment_threshold_fen:
            raise ThresholdNotMet(extra={"needed_fen": settings.recruitment_threshold_fen, "spent_fen": spent})
        return S.APPROVED
    return S.PENDING


def _entry_tier() -> Tier | None:
    return Tier.objects.order_by("rank").first()


@transaction.atomic
def distributor_apply(*, user, real_name: str, phone: str, invite_code: str | None = None) -> Distributor:
    """Become a distributor: `pending` or `approved` by the recruitment mode."""
    settings = distribution_settings_get()
    _lock_tree()
    existing = Distributor.objects.select_for_update().filter(user=user).first()
    inviter = _inviter_for(user=user, invite_code=invite_code)
    status = _initial_status(user=user, settings=settings)
    now = timezone.now()
    if existing is not None:
        if existing.status != S.REJECTED:
            raise AlreadyApplied(extra={"status": existing.status})
        existing.real_name, existing.phone = real_name, phone
        existing.save(update_fields=["real_name", "phone"])
        if inviter is not None and existing.inviter_id is None:
            _set_inviter(existing, inviter)
        transition(existing, status, table=DISTRIBUTOR_TRANSITIONS, record=_recorded("reapplied", actor=user),
                   fields={"approved_at": now if status == S.APPROVED else None, "reason": ""}, locked=True,
                   then=_link_entries_forget, what="distributor")
        return existing
    for _ in range(5):
        try:
            with transaction.atomic():
                distributor = Distributor.objects.create(
                    user=user, real_name=real_name, phone=phone, invite_code=code_generate(INVITE_CODE_LENGTH),
                    inviter=inviter, status=status, tier=_entry_tier(),
                    approved_at=now if status == S.APPROVED else None,
                )
            break
        except IntegrityError as exc:
            if Distributor.objects.filter(user=user).exists():
                raise AlreadyApplied() from exc
            continue  # an invite code collision: draw again
    else:  # pragma: no cover
        raise RuntimeError("could not draw a unique invite code")
    _event(distributor, kind="applied", to_value=status, actor=user)
    if inviter is not None:
        _event(distributor, kind="inviter_set", to_value=str(inviter.pk), actor=user)
    if status == S.APPROVED and inviter is not None:
        transaction.on_commit(lambda: tier_evaluate_by_id(distributor_id=inviter.pk))
    return distributor


def _set_inviter(distributor: Distributor, inviter: Distributor) -> None:
    if inviter.pk == distributor.pk:
        raise SelfReferral()
    if distributor.pk in distributor_ancestor_ids(distributor_id=inviter.pk):
        raise InviteCycle()
    updated = Distributor.objects.filter(pk=distributor.pk, inviter__isnull=True).update(inviter=inviter)
    if not updated:
        raise InvalidTransition("The inviter is set once and cannot change.", code="inviter_already_set")
    distributor.inviter = inviter
    _event(distributor, kind="inviter_set", to_value=str(inviter.pk))


@transaction.atomic
def distributor_set_inviter(*, user, invite_code: str) -> Distributor:
    """A distributor who joined without an inviter names one, once."""
    _lock_tree()
    distributor = Distributor.objects.select_for_update().filter(user=user).first()
    if distributor is None:
        raise NotFound("You are not a distributor.", code="not_a_distributor")
    if distributor.inviter_id is not None:
        raise InvalidTransition("The inviter is set once and cannot change.", code="inviter_already_set")
    _set_inviter(distributor, _inviter_for(user=user, invite_code=invite_code))
    return distributor


def _lock(distributor_id: int) -> Distributor:
    distributor = Distributor.objects.select_for_update().filter(pk=distributor_id).first()
    if distributor is None:
        raise NotFound("Distributor not found.")
    return distributor


@transaction.atomic
def distributor_approve(*, actor, distributor_id: int) -> Distributor:
    """Approve an application (pending only: a frozen distributor is unfrozen, not approved)."""
    distributor = _lock(distributor_id)
    if distributor.status != S.PENDING:
        raise InvalidTransition("Only a pending application can be approved.", extra={"status": distributor.status})
    transition(distributor, S.APPROVED, table=DISTRIBUTOR_TRANSITIONS, record=_recorded("approved", actor=actor),
               fields={"approved_at": timezone.now(), "reviewed_by": actor, "reason": ""}, locked=True,
               then=_link_entries_forget, what="distributor")
    if distributor.inviter_id:
        inviter_id = distributor.inviter_id
        transaction.on_commit(lambda: tier_evaluate_by_id(distributor_id=inviter_id))
    return distributor


def _required_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A reason is required.", extra={"fields": {"reason": ["This field is required."]}})
    return reason[:200]


@transaction.atomic
def distributor_reject(*, actor, distributor_id: int, reason: str) -> Distributor:
    reason = _required_reason(reason)
    distributor = _lock(distributor_id)
    transition(distributor, S.REJECTED, table=DISTRIBUTOR_TRANSITIONS,
               record=_recorded("rejected", actor=actor, reason=reason),
               fields={"reviewed_by": actor, "reason": reason}, locked=True,
               then=_link_entries_forget, what="distributor")
    return distributor


@transaction.atomic
def distributor_freeze(*, actor, distributor_id: int, reason: str) -> Distributor:
    reason = _required_reason(reason)
    distributor = _lock(distributor_id)
    transition(distributor, S.FROZEN, table=DISTRIBUTOR_TRANSITIONS,
               record=_recorded("frozen", actor=actor, reason=reason), fields={"reason": reason}, locked=True,
               then=_link_entries_forget, what="distributor")
    return distributor


@transaction.atomic
def distributor_unfreeze(*, actor, distributor_id: int) -> Distributor:
    distributor = _lock(distributor_id)
    transition(distributor, S.APPROVED, table=DISTRIBUTOR_TRANSITIONS, record=_recorded("unfrozen", actor=actor),
               fields={"reason": ""}, locked=True, then=_link_entries_forget, what="distributor")
    return distributor


# --- purchase-mode recruitment --------------------------------------------------------------


def on_order_completed_recruit(order, **data) -> None:
    """Purchase mode: a pending applicant whose completed purchases reach the threshold is approved."""
    settings = distribution_settings_get()
    if settings.recruitment_mode != RecruitmentMode.PURCHASE:
        return
    distributor = Distributor.objects.select_for_update().filter(user_id=order.user_id, status=S.PENDING).first()
    if distributor is None:
        return
    if user_completed_purchases_fen(user=order.user) >= settings.recruitment_threshold_fen:
        transition(distributor, S.APPROVED, table=DISTRIBUTOR_TRANSITIONS,
                   record=_recorded("approved_by_purchase", reason=f"completed order {order.no}"),
                   fields={"approved_at": timezone.now(), "reason": ""}, locked=True,
                   then=_link_entries_forget, what="distributor")


# --- tiers -------------------------------------------------------------------------------------

def tier_qualifies(tier: Tier, figures: dict[str, int]) -> bool:
    checks = [
        (tier.min_own_gmv_fen, figures["own_gmv_fen"]),
        (tier.min_team_gmv_fen, figures["team_gmv_fen"]),
        (tier.min_order_count, figures["order_count"]),
        (tier.min_invited_count, figures["invited_count"]),
    ]
    required = [(need, have) for need, have in checks if need]
    if not required:
        return True
    met = [have >= need for need, have in required]
    return all(met) if tier.match == "all" else any(met)


@transaction.atomic
def tier_evaluate_by_id(*, distributor_id: int) -> Tier | None:
    """Upgrade the distributor to the best tier whose conditions hold (never downgrade)."""
    distributor = (
        Distributor.objects.select_for_update(of=("self",)).select_related("tier").filter(pk=distributor_id).first()
    )
    if distributor is None or distributor.status != S.APPROVED:
        return None
    current_rank = distributor.tier.rank if distributor.tier else -1
    candidates = list(Tier.objects.filter(rank__gt=current_rank).order_by("-rank"))
    if not candidates:
        return distributor.tier
    figures = distributor_figures(distributor_id=distributor_id)
    for tier in candidates:
        if tier_qualifies(tier, figures):
            _event(distributor, kind="tier_upgraded", from_value=distributor.tier.name if distributor.tier else "",
                   to_value=tier.name, reason=", ".join(f"{k}={v}" for k, v in figures.items()))
            Distributor.objects.filter(pk=distributor.pk).update(tier=tier, tier_changed_at=timezone.now())
            return tier
    return distributor.tier


def tiers_evaluate_all() -> dict:
    """Beat job: evaluate every approved distributor below the top tier."""
    top = Tier.objects.order_by("-rank").first()
    if top is None:
        return {"evaluated": 0, "upgraded": 0}
    ids = list(
        Distributor.objects.filter(status=S.APPROVED)
        .filter(Q(tier__isnull=True) | Q(tier__rank__lt=top.rank))
        .values_list("pk", "tier_id")
    )
    upgraded = 0
    for distributor_id, tier_id in ids:
        tier = tier_evaluate_by_id(distributor_id=distributor_id)
        upgraded += tier is not None and tier.pk != tier_id
    return {"evaluated": len(ids), "upgraded": upgraded}


def on_order_completed_tiers(order, **data) -> None:
    """After a completed order, the distributor who brought it and their inviter may move up."""
    distributor_id = (order.attribution or {}).get("distributor_id")
    if not distributor_id:
        return
    inviter_id = Distributor.objects.filter(pk=distributor_id).values_list("inviter_id", flat=True).first()
    for target in (distributor_id, inviter_id):
        if target:
            transaction.on_commit(lambda target=target: tier_evaluate_by_id(distributor_id=target))

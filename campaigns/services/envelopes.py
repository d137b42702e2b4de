"""Red envelopes (红包): filling one from the wallet, topping it up, opening it, expiring it.

Work in progress of issue 12 (see docs/campaigns.md, "Red envelopes"): funding and top-ups
(wallet here; WeChat in envelope_payments.py), the fair split when it is opened, grabbing
(envelope_grabs.py), the batched posting of grabbed money (envelope_posting.py), the expiry
here and the cancel of unopened envelopes (envelope_payments.py). Not yet: the HTTP API, the
operators' side, template messages.

Money: `campaigns.envelope_fund` / `campaigns.envelope_top_up` move wallet → the envelope's
escrow; grabs move escrow → the grabbers' wallets in set-based batches
(`campaigns.envelope_grabs`); `campaigns.envelope_return` gives what nobody grabbed back to
the owner's wallet at the end of the envelope's lifetime.
"""
from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput
from distributors.codes import code_generate
from distributors.models import Distributor, DistributorStatus
from distributors.services.links import share_link_get_or_create
from ledger.locks import accounts_lock, user_account_ids
from ledger.models import AccountKind
from ledger.services import ledger_post
from wechat import content as wechat_content

from ..models import (
    MAX_MESSAGE_CHARS,
    BackingStatus,
    EnvelopeBacking,
    EnvelopeShare,
    EnvelopeStatus,
    PayWith,
    RedEnvelope,
    SplitMode,
)
from ..notifications import notify_envelope_result
from .envelope_opening import envelope_open_locked
from .envelope_payments import backing_wechat_pay
from .envelope_posting import envelope_gate_drop_after_commit
from .envelope_state import (
    backing_no_generate,
    envelope_escrow_account,
    envelope_event,
    envelope_lock,
    envelope_move,
    envelope_settings_get,
)

logger = logging.getLogger(__name__)

E = EnvelopeStatus
SHARE_CODE_LENGTH = 10
CODE_ATTEMPTS = 5
BATCH = 200


class EnvelopeNotFunding(Conflict):
    code = "envelope_not_funding"
    default_message = "Only an envelope that is not open yet can be topped up or opened."


class NotEnvelopeOwner(Forbidden):
    code = "not_envelope_owner"
    default_message = "Only the envelope's owner can do this."


def _int_field(value, *, field: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise InvalidInput(extra={"fields": {field: [f"A whole number from {low} to {high}."]}})
    return value


def envelope_limits_check(*, pool_fen: int, count: int, max_share_fen: int | None = None) -> None:
    """The operator's limits on a pool of `pool_fen` split into `count` shares: at least 1 fen a
    share, the pool and each share at most their maximum (`max_share_fen`: the envelope's own,
    fixed when it was created, so a later change of the setting cannot make it unopenable)."""
    config = envelope_settings_get()
    max_share = config.max_share_fen if max_share_fen is None else max_share_fen
    if pool_fen < count:
        raise InvalidInput("Every share needs at least 1 fen.", code="amount_too_small",
                           extra={"total_fen": pool_fen, "count": count})
    if pool_fen > config.max_total_fen:
        raise InvalidInput("The envelope is larger than allowed.", code="amount_too_large",
                           extra={"max_total_fen": config.max_total_fen})
    if pool_fen > count * max_share:
        raise InvalidInput("A share would be larger than allowed.", code="share_too_large",
                           extra={"max_share_fen": max_share, "count": count})


def _wallet_and_escrow(*, user_id: int, envelope_id: int):
    """The user's wallet and the envelope's escrow, locked together in ONE id-ordered statement
    (ledger/locks.py: never a second batch of locks later)."""
    escrow = envelope_escrow_account(envelope_id=envelope_id)
    wallet_id = user_account_ids(user_ids=[user_id], kinds=[AccountKind.USER_WALLET])[0]
    locked = accounts_lock(accounts_or_ids=[wallet_id, escrow.pk])
    return locked[wallet_id], locked[escrow.pk]


def _wallet_pay_into(env: RedEnvelope, *, user, amount_fen: int, kind: str, is_owner: bool) -> EnvelopeBacking:
    """Inside the envelope's lock: the user's wallet → the escrow, and the backing row."""
    wallet, escrow = _wallet_and_escrow(user_id=user.pk, envelope_id=env.pk)
    backing = EnvelopeBacking.objects.create(
        no=backing_no_generate(), envelope=env, user=user, is_owner=is_owner, amount_fen=amount_fen,
        pay_with=PayWith.WALLET, status=BackingStatus.PAID, paid_at=timezone.now())
    ledger_post(kind=kind, idempotency_key=f"{kind}:{backing.no}", legs=[(wallet, -amount_fen), (escrow, amount_fen)],
                memo=f"envelope {env.pk} {'funded' if is_owner else 'topped up'} from the wallet",
                cause_type="campaigns.red_envelope", cause_id=env.pk)  # InsufficientBalance rolls it all back
    RedEnvelope.objects.filter(pk=env.pk).update(pool_fen=F("pool_fen") + amount_fen, updated_at=timezone.now())
    env.refresh_from_db(fields=["pool_fen"])
    envelope_event(env.pk, kind="funded" if is_owner else "topped_up", actor=user,
                   data={"backing": backing.no, "amount_fen": amount_fen, "pay_with": PayWith.WALLET})
    return backing


def envelope_create(*, owner, total_fen, count, split="random", greeting="", expires_hours=None,
                    pay_with="wallet", open_now=False, client_ip: str = "") -> tuple[RedEnvelope, dict | None]:
    """Fill an envelope: from the owner's wallet (available balance, at once; 409
    insufficient_balance) or by WeChat Pay (pending until the payment arrives; the answer's
    second part is the JSAPI pay parameters). (envelope, pay or None)."""
    config = envelope_settings_get()
    if not config.enabled:
        raise Conflict("Red envelopes are turned off.", code="envelopes_off")
    _int_field(count, field="count", low=1, high=config.max_count)
    _int_field(total_fen, field="total_fen", low=1, high=10**12)
    if split not in SplitMode.values:
        raise InvalidInput(extra={"fields": {"split": ["random or equal."]}})
    if expires_hours is None:
        expires_hours = config.default_expires_hours
    _int_field(expires_hours, field="expires_hours", low=1, high=config.max_expires_hours)
    if not isinstance(greeting, str) or len(greeting) > MAX_MESSAGE_CHARS:
        raise InvalidInput(extra={"fields": {"greeting": [f"At most {MAX_MESSAGE_CHARS} characters."]}})
    if type(open_now) is not bool:
        raise InvalidInput(extra={"fields": {"open_now": ["true or false."]}})
    if pay_with not in PayWith.values:
        raise InvalidInput(extra={"fields": {"pay_with": ["wallet or wechat."]}})
    if pay_with == PayWith.WECHAT and not getattr(owner, "openid", ""):
        raise InvalidInput("Paying with WeChat needs a WeChat login.", code="no_openid")
    envelope_limits_check(pool_fen=total_fen, count=count)
    greeting = greeting.strip()
    if greeting:  # shown to everyone who opens the link: WeChat's content check first (v1, see crowdfunds)
        wechat_content.text_check(content=greeting)
    with transaction.atomic():
        env = None
        for _ in range(CODE_ATTEMPTS):
            try:
                with transaction.atomic():
                    env = RedEnvelope.objects.create(
                        owner=owner, status=E.PENDING_PAYMENT, split=split, count=count, total_fen=total_fen,
                        greeting=greeting, share_code=code_generate(SHARE_CODE_LENGTH),
                        expires_hours=expires_hours, open_when_paid=open_now,
                        max_share_fen=envelope_settings_get().max_share_fen)
                break
            except IntegrityError:
                continue
        if env is None:  # pragma: no cover
            raise RuntimeError("could not draw a unique envelope code")
        if Distributor.objects.filter(user=owner, status=DistributorStatus.APPROVED).exists():
            # The owner shares their own short link: its clicks are counted and bind, like any link.
            link, _ = share_link_get_or_create(user=owner, target_type="red_envelope", target_id=env.pk)
            RedEnvelope.objects.filter(pk=env.pk).update(share_link=link, share_code=link.code)
        env = envelope_lock(envelope_id=env.pk)
        if pay_with == PayWith.WECHAT:
            backing = EnvelopeBacking.objects.create(no=backing_no_generate(), envelope=env, user=owner, is_owner=True,
                                                     amount_fen=total_fen, pay_with=PayWith.WECHAT)
            envelope_event(env.pk, kind="created", actor=owner, data={"backing": backing.no, "pay_with": pay_with})
        else:
            _wallet_pay_into(env, user=owner, amount_fen=total_fen, kind="campaigns.envelope_fund", is_owner=True)
            envelope_move(env, E.FUNDING, kind="paid", actor=owner, fields={"funded_at": timezone.now()})
            if open_now:
                envelope_open_locked(env, actor=owner)
    pay = backing_wechat_pay(backing=backing, user=owner, client_ip=client_ip) if pay_with == PayWith.WECHAT else None
    return RedEnvelope.objects.get(pk=env.pk), pay


def envelope_top_up(*, user, envelope_id: int, amount_fen, pay_with="wallet",
                    client_ip: str = "") -> tuple[EnvelopeBacking, dict | None]:
    """Anyone makes an envelope that is not open yet fatter: from their wallet at once, or by
    WeChat Pay (counted when the payment arrives, if the envelope is still not open)."""
    _int_field(amount_fen, field="amount_fen", low=1, high=10**12)
    if pay_with not in PayWith.values:
        raise InvalidInput(extra={"fields": {"pay_with": ["wallet or wechat."]}})
    if pay_with == PayWith.WECHAT and not getattr(user, "openid", ""):
        raise InvalidInput("Paying with WeChat needs a WeChat login.", code="no_openid")
    with transaction.atomic():
        env = envelope_lock(envelope_id=envelope_id)
        if env.status != E.FUNDING:
            raise EnvelopeNotFunding(extra={"status": env.status})
        envelope_limits_check(pool_fen=env.pool_fen + amount_fen, count=env.count, max_share_fen=env.max_share_fen)
        if pay_with == PayWith.WALLET:
            return _wallet_pay_into(env, user=user, amount_fen=amount_fen, kind="campaigns.envelope_top_up",
                                    is_owner=False), None
        backing = EnvelopeBacking.objects.create(no=backing_no_generate(), envelope=env, user=user,
                                                 amount_fen=amount_fen, pay_with=PayWith.WECHAT)
    return backing, backing_wechat_pay(backing=backing, user=user, client_ip=client_ip)


def envelope_open(*, user, envelope_id: int, rng=None) -> RedEnvelope:
    """The owner opens it: the whole pool split into `count` shares, stored in grab order."""
    with transaction.atomic():
        env = envelope_lock(envelope_id=envelope_id)
        if env.owner_id != user.pk:
            raise NotEnvelopeOwner()
        if env.status != E.FUNDING:
            raise EnvelopeNotFunding(extra={"status": env.status})
        envelope_open_locked(env, actor=user, rng=rng)
    return RedEnvelope.objects.get(pk=envelope_id)


# --- the end of its lifetime -------------------------------------------------------------


def envelope_expire(*, envelope_id: int, now=None) -> bool:
    """An active envelope past its lifetime: every share nobody grabbed is marked returned and
    its money goes back to the owner's wallet in one posting; `expired`. Grabbed shares whose
    money is not posted yet stay in the escrow for the poster."""
    now = now or timezone.now()
    with transaction.atomic():
        env = envelope_lock(envelope_id=envelope_id)
        if env.status != E.ACTIVE or env.expires_at is None or env.expires_at > now:
            return False
        free = EnvelopeShare.objects.filter(envelope=env, user__isnull=True, returned=False)
        returned = free.aggregate(s=Sum("amount_fen"))["s"] or 0
        free.update(returned=True)
        envelope_move(env, E.EXPIRED, kind="expired", data={"returned_fen": returned},
                      fields={"closed_at": now, "returned_fen": returned})
        notify_envelope_result(envelope_id=env.pk)
        if returned:
            wallet, escrow = _wallet_and_escrow(user_id=env.owner_id, envelope_id=env.pk)
            ledger_post(kind="campaigns.envelope_return", idempotency_key=f"campaigns.envelope_return:{env.pk}",
                        legs=[(escrow, -returned), (wallet, returned)],
                        memo=f"envelope {env.pk}: what nobody grabbed back to the owner",
                        cause_type="campaigns.red_envelope", cause_id=env.pk)
        envelope_gate_drop_after_commit(envelope_id=env.pk)
    logger.info("envelope.expired id=%s returned=%s", envelope_id, returned)
    return True


def envelopes_expire_due() -> dict:
    """Beat job: expire active envelopes past their lifetime (each in its own transaction)."""
    now = timezone.now()
    due = list(RedEnvelope.objects.filter(status=E.ACTIVE, expires_at__lte=now).order_by("expires_at")
               .values_list("pk", flat=True)[:BATCH])
    return {"due": len(due), "expired": sum(envelope_expire(envelope_id=pk, now=now) for pk in due)}

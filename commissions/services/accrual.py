"""Commission accrual, freezing and reversal, driven by the mall's order moments.

* PAID (in the payment's transaction): one Commission per order line and level for the
  distributors in the order's attribution snapshot who are approved now; the rate is resolved
  SKU rule > product rule > the beneficiary's tier > the default; amounts round down to the
  fen and level 1 + level 2 never exceed the line's base (the remainder stays with the
  platform). One ledger transaction per order: commission expense → each beneficiary's frozen
  account. A unique (order line, level) constraint makes a second accrual impossible.
* COMPLETED: pending → frozen, settles_at = completion + the freeze period (set-based).
* REFUNDED (once per successful refund): every commission of the order is reversed in
  proportion to what has been refunded so far (cumulative, so the parts add up exactly and a
  full refund reverses all); the reversed money goes back from the frozen account to
  commission expense in one ledger transaction per refund.

Reversing money that was already settled takes it from the wallet, and what the wallet lacks
becomes debt (commissions/services/settlement.py). Any status becomes `reversed` once all of
the commission is taken back (API.md); `reversed_fen` records partial reversals.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.money import BPS
from core.transitions import transition_set
from distributors.models import Distributor, DistributorStatus
from distributors.services.settings import distribution_settings_get
from ledger.locks import account_shard, accounts_lock, user_account_ids
from ledger.models import AccountKind
from ledger.services import account_get_or_create, ledger_post
from mall.hooks import OrderMoment

from ..models import COMMISSION_TRANSITIONS, Commission, CommissionRule, CommissionStatus, RuleScope
from ..notifications import notify_commission_accrued
from .settlement import USER_ACCOUNT_KINDS, settled_reversal_legs

logger = logging.getLogger(__name__)


def _expense_account(order_no: str):
    """Commission expense, sharded by order number like the mall's platform accounts (hot rows)."""
    return account_shard(kind=AccountKind.COMMISSION_EXPENSE, prefix="comm", key=order_no,
                         shards=django_settings.MALL_LEDGER_SHARDS)


def order_accounts(order, moment) -> list:
    """The ledger accounts (or ids) our handler of `moment` may post to for `order` — the
    provider registered with mall.hooks.register_order_accounts, so that the mall locks them
    with its own in one id-ordered statement before any posting (ledger/locks.py).
    PAID: the expense shard and the frozen accounts of the snapshot's approved distributors.
    REFUNDED: the expense shard and the frozen, wallet and debt accounts of the beneficiaries
    of the order's commissions not yet reversed. Created if missing; a superset is fine."""
    if moment == OrderMoment.PAID:
        attribution = order.attribution or {}
        ids = [attribution.get("level1_distributor_id"), attribution.get("level2_distributor_id")]
        ids = [i for i in ids if i]
        if not ids:
            return []
        users = set(Distributor.objects.filter(pk__in=ids, status=DistributorStatus.APPROVED)
                    .values_list("user_id", flat=True))
        if not users:
            return []
        return [_expense_account(order.no), *user_account_ids(user_ids=users, kinds=(AccountKind.USER_FROZEN,))]
    if moment == OrderMoment.REFUNDED:
        users = set(Commission.objects.filter(order=order).exclude(status=CommissionStatus.REVERSED)
                    .values_list("beneficiary_id", flat=True))
        if not users:
            return []
        return [_expense_account(order.no), *user_account_ids(user_ids=users, kinds=USER_ACCOUNT_KINDS)]
    return []


def commission_rate_resolve(*, sku_id: int, product_id: int, tier_id: int | None, level: int,
                            rules: dict | None = None) -> tuple[int | None, int | None, str]:
    """(rate_bps, fixed_fen_per_unit, source) for one line and level: the first rule that sets
    this level wins, in the order SKU, product, tier; else the default rate."""
    if rules is None:
        rules = _active_rules(sku_ids={sku_id}, product_ids={product_id}, tier_ids={tier_id} - {None})
    for scope, key in ((RuleScope.SKU, sku_id), (RuleScope.PRODUCT, product_id), (RuleScope.TIER, tier_id)):
        rule = rules.get((scope, key))
        if rule is None:
            continue
        fixed = getattr(rule, f"level{level}_fixed_fen")
        bps = getattr(rule, f"level{level}_bps")
        if fixed is not None:
            return None, fixed, str(scope)
        if bps is not None:
            return bps, None, str(scope)
    settings = distribution_settings_get()
    return getattr(settings, f"default_level{level}_bps"), None, "default"


def _active_rules(*, sku_ids: set[int], product_ids: set[int], tier_ids: set[int]) -> dict:
    rules = {}
    wanted = Q(sku_id__in=sku_ids) | Q(product_id__in=product_ids) | Q(tier_id__in=tier_ids)
    for rule in CommissionRule.objects.filter(wanted, is_active=True):
        key = {RuleScope.SKU: rule.sku_id, RuleScope.PRODUCT: rule.product_id, RuleScope.TIER: rule.tier_id}
        rules[(rule.scope, key[rule.scope])] = rule
    return rules


def commission_amount(*, base_fen: int, quantity: int, rate_bps: int | None, fixed_fen: int | None) -> int:
    """Round down to the fen (toward the platform), never more than the base."""
    if fixed_fen is not None:
        return min(fixed_fen * quantity, base_fen)
    return min(base_fen * (rate_bps or 0) // BPS, base_fen)


def on_order_paid(order, **data) -> None:
    attribution = order.attribution or {}
    ids = {1: attribution.get("level1_distributor_id"), 2: attribution.get("level2_distributor_id")}
    if not any(ids.values()):
        return
    settings = distribution_settings_get()
    if settings.levels < 2:
        ids[2] = None
    beneficiaries = {
        d.pk: d
        for d in Distributor.objects.filter(pk__in=[i for i in ids.values() if i], status=DistributorStatus.APPROVED)
    }
    levels = {level: beneficiaries.get(pk) for level, pk in ids.items() if pk and pk in beneficiaries}
    if not levels:
        return
    items = list(order.items.all())
    rules = _active_rules(
        sku_ids={i.sku_id for i in items}, product_ids={i.product_id for i in items},
        tier_ids={d.tier_id for d in levels.values() if d.tier_id},
    )
    rows: list[Commission] = []
    for item in items:
        granted = 0
        for level in sorted(levels):
            distributor = levels[level]
            bps, fixed, source = commission_rate_resolve(
                sku_id=item.sku_id, product_id=item.product_id, tier_id=distributor.tier_id, level=level, rules=rules
            )
            amount = commission_amount(base_fen=item.amount_fen, quantity=item.quantity, rate_bps=bps, fixed_fen=fixed)
            amount = min(amount, item.amount_fen - granted)  # level 1 + level 2 ≤ 100 % of the base
            if amount <= 0:
                continue
            granted += amount
            rows.append(Commission(
                order=order, order_item=item, level=level, distributor=distributor, beneficiary_id=distributor.user_id,
                base_fen=item.amount_fen, rate_bps=bps, fixed_fen=fixed, rule_source=source, amount_fen=amount,
            ))
    if not rows:
        return
    try:
        with transaction.atomic():
            Commission.objects.bulk_create(rows)
    except IntegrityError:
        logger.warning("commissions for order %s exist already; not accrued again", order.no)
        return
    per_user: dict[int, int] = defaultdict(int)
    for row in rows:
        per_user[row.beneficiary_id] += row.amount_fen
    legs = [(_expense_account(order.no), -sum(per_user.values()))]
    for user_id, amount in sorted(per_user.items()):
        legs.append((account_get_or_create(kind=AccountKind.USER_FROZEN, owner=_user(user_id)), amount))
    ledger_post(kind="commission.accrue", idempotency_key=f"commission.accrue:{order.no}", legs=legs,
                memo=f"commissions for order {order.no}", cause_type="mall.order", cause_id=order.no)
    notify_commission_accrued(order_id=order.pk)  # template messages, after commit


def _user(user_id: int):
    return get_user_model()(pk=user_id)


def on_order_completed(order, **data) -> None:
    now = timezone.now()
    days = distribution_settings_get().freeze_days
    transition_set(Commission.objects.filter(order=order), CommissionStatus.FROZEN, table=COMMISSION_TRANSITIONS,
                   fields={"frozen_at": now, "settles_at": now + timedelta(days=days)})


def on_order_refunded(order, refund=None, amount_fen: int = 0, **data) -> None:
    """Reverse commissions in proportion to what the order has had refunded so far."""
    if not order.paid_fen:
        return
    commissions = list(
        Commission.objects.select_for_update()
        .filter(order=order)
        .exclude(status=CommissionStatus.REVERSED)
        .order_by("pk")
    )
    frozen_back: dict[int, int] = defaultdict(int)  # pending/frozen money: from the frozen account
    settled_back: dict[int, int] = defaultdict(int)  # settled money: from the wallet, else as debt
    now = timezone.now()
    for commission in commissions:
        target = commission.amount_fen * order.refunded_fen // order.paid_fen
        delta = target - commission.reversed_fen
        if delta <= 0:
            continue
        fields = {"reversed_fen": F("reversed_fen") + delta}
        row = Commission.objects.filter(pk=commission.pk)
        if target == commission.amount_fen:
            transition_set(row, CommissionStatus.REVERSED, table=COMMISSION_TRANSITIONS,
                           fields={**fields, "reversed_at": now})
        else:
            row.update(**fields)  # partly reversed: the amount changes, the status does not
        bucket = settled_back if commission.status == CommissionStatus.SETTLED else frozen_back
        bucket[commission.beneficiary_id] += delta
    total = sum(frozen_back.values()) + sum(settled_back.values())
    if not total:
        return
    # All locks first, in ONE id-ordered statement (the mall has normally taken them already,
    # through order_accounts; then these are no-ops).
    expense = _expense_account(order.no)
    users = set(frozen_back) | set(settled_back)
    accounts_lock(accounts_or_ids=[expense, *user_account_ids(user_ids=users, kinds=USER_ACCOUNT_KINDS)])
    legs = [(expense, total)]
    for user_id, amount in sorted(frozen_back.items()):
        legs.append((account_get_or_create(kind=AccountKind.USER_FROZEN, owner=_user(user_id)), -amount))
    legs.extend(settled_reversal_legs(per_user=dict(settled_back)))
    legs = _merge(legs)
    cause = refund.no if refund is not None else f"{order.no}:{order.refunded_fen}"
    ledger_post(kind="commission.reverse", idempotency_key=f"commission.reverse:{cause}", legs=legs,
                memo=f"commissions reversed for a refund of order {order.no}", cause_type="mall.refund",
                cause_id=cause)


def _merge(legs: list) -> list:
    """One leg per account (a user may have both frozen and settled money taken back)."""
    by_account: dict[int, list] = {}
    for account, amount in legs:
        if account.pk in by_account:
            by_account[account.pk][1] += amount
        else:
            by_account[account.pk] = [account, amount]
    return [(account, amount) for account, amount in by_account.values() if amount]

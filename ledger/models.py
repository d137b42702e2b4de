"""Double-entry money.

Sign convention: an account's balance is the sum of its entries, and every
transaction's entries sum to zero, so all balances together sum to zero. A positive
balance is money the account's holder has (a user's wallet, the platform's cash at
WeChat); the counter-accounts (money from outside, revenue, commission expense) go
negative. Accounts that hold people's money may never go negative: a database CHECK
enforces it as the last line of defence.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.money import yuan


class AccountKind(models.TextChoices):
    USER_WALLET = "user_wallet", "User wallet (withdrawable)"
    USER_FROZEN = "user_frozen", "User frozen commissions"
    USER_WITHDRAWING = "user_withdrawing", "User withdrawals in review or paying"
    USER_DEBT = "user_debt", "User debt (≤ 0: money the user owes, e.g. commission refunded after settlement)"
    CAMPAIGN_ESCROW = "campaign_escrow", "Escrow of a campaign"
    PAYOUTS_IN_TRANSIT = "payouts_in_transit", "Payouts in transit to WeChat"
    PLATFORM_CASH = "platform_cash", "Platform cash (WeChat merchant account)"
    SALES_REVENUE = "sales_revenue", "Sales revenue"
    COMMISSION_EXPENSE = "commission_expense", "Commission expense"
    FEE_INCOME = "fee_income", "Fee income"
    WECHAT_EXTERNAL = "wechat_external", "Outside world (WeChat users' own money)"
    ROUNDING = "rounding", "Rounding remainders"


# Accounts that hold somebody's money must stay >= 0; the others are counter-accounts.
NON_NEGATIVE_KINDS = frozenset(
    {
        AccountKind.USER_WALLET,
        AccountKind.USER_FROZEN,
        AccountKind.USER_WITHDRAWING,
        AccountKind.CAMPAIGN_ESCROW,
        AccountKind.PAYOUTS_IN_TRANSIT,
    }
)
USER_KINDS = frozenset(
    {AccountKind.USER_WALLET, AccountKind.USER_FROZEN, AccountKind.USER_WITHDRAWING, AccountKind.USER_DEBT}
)


class Account(models.Model):
    code = models.CharField(max_length=96, unique=True, help_text="Stable name, e.g. user:42:user_wallet")
    kind = models.CharField(max_length=32, choices=AccountKind.choices, db_index=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    ref = models.CharField(max_length=64, blank=True, default="", help_text="What a non-user account belongs to")
    allow_negative = models.BooleanField(default=False)
    balance_fen = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ledger account")
        verbose_name_plural = _("ledger accounts")
        constraints = [
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance_fen__gte=0), name="ledger_account_non_negative"
            ),
        ]
        indexes = [models.Index(fields=["owner", "kind"])]

    def __str__(self) -> str:
        return self.code


class LedgerTransaction(models.Model):
    """One money movement: two or more entries summing to zero. Immutable."""

    kind = models.CharField(max_length=48, db_index=True, help_text="e.g. mall.payment, commission.accrue")
    idempotency_key = models.CharField(max_length=160, unique=True)
    memo = models.CharField(max_length=255, blank=True, default="")
    cause_type = models.CharField(max_length=48, blank=True, default="", help_text="What caused it, e.g. mall.order")
    cause_id = models.CharField(max_length=64, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("ledger transaction")
        verbose_name_plural = _("ledger transactions")
        indexes = [models.Index(fields=["cause_type", "cause_id"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.idempotency_key}"


class Entry(models.Model):
    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    amount_fen = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        constraints = [
            models.CheckConstraint(condition=~Q(amount_fen=0), name="ledger_entry_non_zero"),
            models.UniqueConstraint(fields=["transaction", "account"], name="ledger_entry_one_per_account"),
        ]
        indexes = [models.Index(fields=["account", "-id"])]

    def __str__(self) -> str:
        return f"{self.account_id} ¥{'+' if self.amount_fen >= 0 else ''}{yuan(self.amount_fen)}"

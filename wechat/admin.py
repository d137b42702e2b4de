"""WeChat Pay records in the operators' console: read-only (WeChat is the source of truth)."""
from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import WechatEvent, WechatPayment, WechatRedpack, WechatRefund, WechatTransfer


@admin.register(WechatPayment)
class WechatPaymentAdmin(ReadOnlyAdmin):
    list_display = ("out_trade_no", "api", "purpose", "ref", "amount_fen", "status", "transaction_id", "paid_at",
                    "notify_count", "created_at")
    list_filter = ("status", "api", "purpose", "created_at")
    search_fields = ("out_trade_no", "transaction_id", "ref", "openid", "prepay_id")
    date_hierarchy = "created_at"


@admin.register(WechatRefund)
class WechatRefundAdmin(ReadOnlyAdmin):
    list_display = ("out_refund_no", "payment", "amount_fen", "status", "refund_id", "succeeded_at", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("out_refund_no", "refund_id", "payment__out_trade_no")
    list_select_related = ("payment",)


@admin.register(WechatTransfer)
class WechatTransferAdmin(ReadOnlyAdmin):
    list_display = ("partner_trade_no", "api", "purpose", "ref", "openid", "amount_fen", "status", "bill_state",
                    "payment_no", "error_code", "attempts", "created_at")
    list_filter = ("status", "api", "bill_state", "purpose", "created_at")
    search_fields = ("partner_trade_no", "payment_no", "transfer_bill_no", "openid", "ref")


@admin.register(WechatRedpack)
class WechatRedpackAdmin(ReadOnlyAdmin):
    list_display = ("mch_billno", "purpose", "ref", "openid", "amount_fen", "status", "send_listid", "error_code",
                    "created_at")
    list_filter = ("status", "purpose", "created_at")
    search_fields = ("mch_billno", "send_listid", "openid", "ref")


@admin.register(WechatEvent)
class WechatEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "subject_type", "subject_key", "kind", "from_status", "to_status", "source")
    list_filter = ("subject_type", "kind", "source")
    search_fields = ("subject_key",)

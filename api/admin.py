"""Idempotency-Key records, read-only: what a client's repeat would get back."""
from django.contrib import admin

from core.admin import ReadOnlyAdmin

from .models import IdempotencyRecord


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "key", "method", "path", "status_code", "created_at", "completed_at")
    list_filter = ("method", "status_code", ("completed_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("=owner", "key", "path")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    show_full_result_count = False
    fields = ("owner", "key", "method", "path", "request_hash", "status_code", "response_body", "created_at",
              "completed_at")
    readonly_fields = fields


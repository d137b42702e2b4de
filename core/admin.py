"""Admin pieces shared by the apps: the read-only base and the CSV download."""
from __future__ import annotations

import csv
from collections.abc import Iterable

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.utils import timezone


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str | int:
    """Plain values; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool | int):
        return int(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _chain(*iterables):
    for it in iterables:
        yield from it


def csv_response(filename: str, header: list[str], rows: Iterable) -> StreamingHttpResponse:
    """A streamed CSV download (rows are read lazily; formula-looking text is quoted)."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow([_cell(v) for v in row]) for row in rows)
    response = StreamingHttpResponse(
        _chain([writer.writerow(header)], lines), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record the console shows but never adds, changes or deletes (money, WeChat, audit trails).

    With `csv_fields` set, the changelist also offers "Export the selected rows as CSV" (view
    permission); without, it offers no action at all."""

    csv_fields: tuple[str, ...] = ()
    actions = ["export_csv"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.csv_fields:
            actions.pop("export_csv", None)
        return actions

    @admin.action(description="Export the selected rows as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        name = f"{self.model._meta.model_name}-{timezone.localtime():%Y%m%d-%H%M%S}.csv"
        rows = queryset.order_by("pk").values_list(*self.csv_fields).iterator(chunk_size=2000)
        return csv_response(name, list(self.csv_fields), rows)

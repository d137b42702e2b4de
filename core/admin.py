"""Admin pieces shared by the apps: the read-only base and the CSV download."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from .admin_money import MoneyAdmin

# The console's name, in every language; the index title is Django's own ("站点管理" in Chinese).
admin.site.site_header = "fenxiao"
admin.site.site_title = "fenxiao"
admin.site.index_title = gettext_lazy("Site administration")
admin.site.index_template = "admin/core/index.html"  # Django's index plus a link to /admin/jobs/ (superusers)


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
    response = StreamingHttpResponse(_chain([writer.writerow(header)], lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ReadOnlyAdmin(MoneyAdmin):
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


# --- the periodic jobs, run now from the console -------------------------------------


def jobs_view(request):
    """/admin/jobs/: every registered periodic job with its schedule, and "Run now" (superusers).

    The same as `manage.py run_job NAME`, for an operator in the browser (and for
    `manage.py demo_story`, which drives the console over HTTP): e.g. settle the commissions
    whose freeze period is over without waiting for the next beat."""
    from django.contrib import messages
    from django.core.exceptions import PermissionDenied
    from django.shortcuts import redirect
    from django.template.response import TemplateResponse

    from .jobs import job_list, job_run

    if not request.user.is_superuser:
        raise PermissionDenied("Only superusers run jobs.")
    result = None
    if request.method == "POST":
        name = request.POST.get("name", "")
        known = {job.name for job in job_list()}
        if name not in known:
            messages.error(request, f"Unknown job: {name!r}.")
            return redirect("admin-jobs")
        result = job_run(name=name)
        messages.success(request, f"{name}: {result!r}")
    context = {
        **admin.site.each_context(request),
        "title": gettext_lazy("Periodic jobs"),
        # plain dicts: a Job is callable, and a template would call it
        "jobs": [
            {"name": j.name, "schedule_seconds": j.schedule_seconds, "description": j.description} for j in job_list()
        ],
        "ran": request.POST.get("name") if result is not None or request.method == "POST" else None,
        "result": result,
    }
    response = TemplateResponse(request, "admin/core/jobs.html", context)
    if request.method == "POST":
        response["X-Job-Result"] = json.dumps(result, default=str, ensure_ascii=True)[:4000]
    return response


def jobs_urls():
    """The console's extra routes (config/urls.py puts them before admin.site.urls)."""
    from django.urls import path

    return [path("admin/jobs/", admin.site.admin_view(jobs_view), name="admin-jobs")]

"""Money in the operators' console: stored as integer fen, shown as yuan (¥398.00).

`MoneyAdminMixin` goes in front of every ModelAdmin and inline of the apps (`MoneyAdmin`,
`MoneyTabularInline` here; core.admin.ReadOnlyAdmin has it too). For each model field whose
name ends in `_fen`:

* in the change list (`list_display`) and wherever the field is shown read-only (readonly_fields,
  view-only pages), the column shows `¥1,234.56` (`yuan_text`), titled by the field's name
  without "fen", and still sorts by the field;
* where it is edited, it stays an integer of fen (what the services validate and store), and
  its help text says so ("In fen: 39800 = ¥398.00").

CSV exports keep fen (they are for machines; core.admin.csv_response), as does the API.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import models

from .money import yuan

FEN_SUFFIX = "_fen"
YUAN_SUFFIX = "__yuan"  # the display attribute made for `<name>_fen`: `<name>_fen__yuan`


def yuan_text(fen: int | None) -> str:
    """39800 -> "¥398.00", 123456789 -> "¥1,234,567.89", -150 -> "¥-1.50" (the sign after the
    currency, as spreadsheets in zh-CN write it), None -> "-"."""
    if fen is None:
        return "-"
    return f"¥{yuan(int(fen), grouped=True)}"


def fen_fields(model) -> dict[str, models.Field]:
    """The model's integer fields named `*_fen`, by name."""
    return {
        f.name: f
        for f in model._meta.concrete_fields
        if f.name.endswith(FEN_SUFFIX) and isinstance(f, models.IntegerField)
    }


def money_label(field: models.Field) -> str:
    label = str(field.verbose_name)
    for tail in (" fen", "_fen"):
        if label.endswith(tail):
            label = label[: -len(tail)]
    return f"{label} (¥)"


def _display(field: models.Field):
    name = field.name

    @admin.display(description=money_label(field), ordering=name)
    def show(obj):
        return yuan_text(getattr(obj, name))

    return show


class MoneyAdminMixin:
    """Shows `*_fen` fields as ¥ and edits them in yuan (see the module's docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fen_fields = fen_fields(self.model)
        for name, field in self._fen_fields.items():
            attr = name + YUAN_SUFFIX
            if not hasattr(self, attr):
                setattr(self, attr, _display(field))

    def _yuan(self, names, shown_read_only) -> list:
        return [
            name + YUAN_SUFFIX if isinstance(name, str) and name in self._fen_fields and shown_read_only(name) else name
            for name in names
        ]

    def get_list_display(self, request):
        return self._yuan(super().get_list_display(request), lambda name: True)

    def get_readonly_fields(self, request, obj=None):
        return self._yuan(super().get_readonly_fields(request, obj), lambda name: True)

    def _read_only_test(self, request, obj):
        if not self.has_change_permission(request, obj) and not (obj is None and self._may_add(request)):
            return lambda name: True  # a view-only page shows every field read-only
        read_only = set(super().get_readonly_fields(request, obj))
        return lambda name: name in read_only

    def _may_add(self, request):
        try:
            return self.has_add_permission(request)
        except TypeError:  # inlines take (request, obj)
            return self.has_add_permission(request, None)

    def get_fields(self, request, obj=None):
        return self._yuan(super().get_fields(request, obj), self._read_only_test(request, obj))

    def get_fieldsets(self, request, obj=None):
        test = self._read_only_test(request, obj)
        fieldsets = []
        for title, options in super().get_fieldsets(request, obj):
            fields = options.get("fields", ())
            swapped = [
                tuple(self._yuan(f, test)) if isinstance(f, list | tuple) else self._yuan([f], test)[0] for f in fields
            ]
            fieldsets.append((title, {**options, "fields": swapped}))
        return fieldsets

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if field is not None and db_field.name in getattr(self, "_fen_fields", {}):
            # Typed as integer fen (what the services take); the help says what that is in yuan.
            example = "39800 = ¥398.00"
            field.help_text = (
                f"{field.help_text} In fen: {example}.".strip() if field.help_text else f"In fen: {example}."
            )
        return field


class MoneyAdmin(MoneyAdminMixin, admin.ModelAdmin):
    pass


class MoneyTabularInline(MoneyAdminMixin, admin.TabularInline):
    pass


class MoneyStackedInline(MoneyAdminMixin, admin.StackedInline):
    pass

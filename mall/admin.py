"""The operators' console for the mall.

Catalog edits made here invalidate the catalog cache like the API's (mall/cache.py). Counters
(sold_count, review_count, rating_sum) are read-only: they move with F() in services only, and
a product or SKU is saved with only the fields the form changed, so a save never writes back a
stale counter or stock level that an order moved in the meantime. SKUs are deactivated, not
deleted (order lines point at them). Review visibility changes only through the hide/unhide
actions, which move the product's counters.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.template.response import TemplateResponse

from core.admin_money import MoneyAdmin, MoneyTabularInline, yuan_text
from core.errors import DomainError, InvalidInput

from .cache import catalog_invalidate
from .models import Category, MallSettings, Order, OrderEvent, OrderItem, Product, Refund, Review, Sku
from .selectors.catalog import average_rating_text
from .services import catalog as catalog_services
from .services import orders as order_services
from .services import refunds as refund_services
from .services import reviews as review_services
from .services import settings as settings_services


def _save_changed(obj, form, *, always: tuple[str, ...] = ()) -> None:
    """Save a new object whole; an existing one with only the fields its form changed."""
    if obj.pk is None or not form.initial:
        obj.save()
        return
    names = {f.name for f in obj._meta.concrete_fields}
    fields = [name for name in form.changed_data if name in names]
    if fields:
        obj.save(update_fields=[*fields, *always])


# --- catalog ------------------------------------------------------------------------------


@admin.register(Category)
class CategoryAdmin(MoneyAdmin):
    list_display = ("id", "name", "parent", "sort", "is_active")
    list_filter = ("is_active",)
    search_fields = ("name",)
    list_editable = ("sort", "is_active")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        catalog_invalidate()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        catalog_invalidate()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        catalog_invalidate()


class SkuAdminForm(forms.ModelForm):
    class Meta:
        model = Sku
        fields = ("name", "price_fen", "stock", "is_active", "sort")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The stock level the operator saw travels with the form, so a change is applied as a
        # delta to the live stock (orders may have taken some meanwhile) and an untouched field
        # writes nothing.
        self.fields["stock"].show_hidden_initial = True

    def stock_seen(self) -> int | None:
        field = self.fields["stock"]
        raw = field.hidden_widget().value_from_datadict(self.data, self.files, self.add_initial_prefix("stock"))
        try:
            return field.to_python(raw)
        except forms.ValidationError:
            return None

    def clean_price_fen(self):
        price = self.cleaned_data["price_fen"]
        if price is not None and not 1 <= price <= catalog_services.PRICE_MAX_FEN:
            raise forms.ValidationError(f"Between 1 and {catalog_services.PRICE_MAX_FEN} fen.")
        return price

    def clean_stock(self):
        stock = self.cleaned_data["stock"]
        if stock is not None and not 0 <= stock <= catalog_services.STOCK_MAX:
            raise forms.ValidationError(f"Between 0 and {catalog_services.STOCK_MAX}.")
        return stock


class ProductAdminForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ("title", "description", "images", "category", "on_shelf", "sort")

    def clean_images(self):
        try:
            return catalog_services.validate_image_urls(self.cleaned_data.get("images") or [])
        except InvalidInput as exc:
            raise forms.ValidationError(exc.message)


class SkuInline(MoneyTabularInline):
    model = Sku
    form = SkuAdminForm
    extra = 1
    can_delete = False  # deactivate instead: order lines point at SKUs
    fields = ("name", "price_fen", "stock", "is_active", "sort")


@admin.register(Product)
class ProductAdmin(MoneyAdmin):
    form = ProductAdminForm
    inlines = [SkuInline]
    list_display = ("id", "title", "category", "on_shelf", "price_range", "sold_count", "rating", "updated_at")
    list_filter = ("on_shelf", "category", "created_at")
    search_fields = ("title", "description")
    list_select_related = ("category",)
    readonly_fields = ("sold_count", "review_count", "rating_sum", "created_at", "updated_at")
    fields = ("title", "description", "images", "category", "on_shelf", "sort", *readonly_fields)
    actions = ("put_on_shelf", "take_off_shelf")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("skus")

    @admin.display(description="price (¥)")
    def price_range(self, obj) -> str:
        prices = [sku.price_fen for sku in obj.skus.all() if sku.is_active]
        if not prices:
            return "—"
        low, high = min(prices), max(prices)
        return yuan_text(low) if low == high else f"{yuan_text(low)}–{yuan_text(high)}"

    @admin.display(description="rating")
    def rating(self, obj) -> str:
        average = average_rating_text(rating_sum=obj.rating_sum, review_count=obj.review_count)
        return f"{average} ({obj.review_count})" if average else "—"

    def save_model(self, request, obj, form, change):
        _save_changed(obj, form, always=("updated_at",))

    def save_formset(self, request, form, formset, change):
        if formset.model is not Sku:
            return super().save_formset(request, form, formset, change)
        for sku_form in formset.forms:
            if not sku_form.has_changed() or not sku_form.is_valid() or not sku_form.cleaned_data:
                continue
            sku = sku_form.save(commit=False)
            sku.product = form.instance
            if sku.pk is None:
                sku.save()
                continue
            names = [n for n in sku_form.changed_data if n in SkuAdminForm.Meta.fields and n != "stock"]
            if names:
                sku.save(update_fields=names)
            seen = sku_form.stock_seen()
            if "stock" in sku_form.changed_data and seen is not None and sku.stock != seen:
                try:
                    catalog_services.sku_adjust_stock(sku_id=sku.pk, delta=sku.stock - seen)
                except (InvalidInput, catalog_services.InsufficientStock) as exc:
                    messages.error(request, f"{sku.name}: stock not changed ({exc.message})")
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        catalog_invalidate(product_id=form.instance.pk)  # after the SKUs are saved too

    def delete_model(self, request, obj):
        if not catalog_services.product_delete(product_id=obj.pk):
            messages.warning(request, f"{obj} has orders: it was taken off the shelf instead.")

    def delete_queryset(self, request, queryset):
        for product_id in list(queryset.values_list("pk", flat=True)):
            self.delete_model(request, Product(pk=product_id))

    @admin.action(description="Put on the shelf", permissions=["change"])
    def put_on_shelf(self, request, queryset):
        changed = catalog_services.product_set_shelf(product_ids=queryset.values_list("pk", flat=True), on_shelf=True)
        self.message_user(request, f"{changed} product(s) put on the shelf.")

    @admin.action(description="Take off the shelf", permissions=["change"])
    def take_off_shelf(self, request, queryset):
        changed = catalog_services.product_set_shelf(product_ids=queryset.values_list("pk", flat=True), on_shelf=False)
        self.message_user(request, f"{changed} product(s) taken off the shelf.")


# --- orders and refunds -------------------------------------------------------------------


class OrderItemInline(MoneyTabularInline):
    model = OrderItem
    extra = 0
    can_delete = False
    fields = ("product", "sku", "title", "sku_name", "price_fen", "quantity", "amount_fen")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class OrderEventInline(MoneyTabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "from_status", "to_status", "actor", "data")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class RefundInline(MoneyTabularInline):
    model = Refund
    fk_name = "order"
    extra = 0
    can_delete = False
    fields = ("no", "amount_fen", "status", "reason", "created_at", "completed_at")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class ShipForm(forms.Form):
    carrier = forms.CharField(max_length=32)
    tracking_no = forms.RegexField(r"^[A-Za-z0-9\-]{4,64}$", max_length=64)


class ReviewNoteForm(forms.Form):
    reason = forms.CharField(max_length=200, required=False, label="Note")


class RejectForm(forms.Form):
    reason = forms.CharField(max_length=200)


def _action_with_form(modeladmin, request, queryset, *, form_class, action, title, intro, submit_label, apply,
                      max_selected=None):
    """An admin action that asks for a form first, then calls a service per selected row.
    Each row succeeds or fails on its own; failures are reported with their error code."""
    if max_selected is not None and queryset.count() > max_selected:
        modeladmin.message_user(request, f"Select at most {max_selected}.", messages.ERROR)
        return None
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        done = 0
        for obj in queryset:
            try:
                apply(obj, form.cleaned_data)
                done += 1
            except DomainError as exc:
                modeladmin.message_user(request, f"{obj}: {exc.code}: {exc.message}", messages.ERROR)
        if done:
            modeladmin.message_user(request, f"{title}: {done} done.", messages.SUCCESS)
        return None
    context = {
        **modeladmin.admin_site.each_context(request), "title": title, "intro": intro, "form": form,
        "queryset": queryset, "action": action, "submit_label": submit_label, "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/mall/action_form.html", context)


@admin.register(Order)
class OrderAdmin(MoneyAdmin):
    """Orders are changed only through the order services (status machine, money, ledger)."""

    inlines = [OrderItemInline, RefundInline, OrderEventInline]
    list_display = ("no", "user", "status", "total_fen", "paid_fen", "refunded_fen", "created_at", "paid_at")
    list_filter = ("status", "created_at", "paid_at", "shipped_at")
    search_fields = ("no", "user__username", "user__nickname", "tracking_no", "wechat_transaction_id")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Order._meta.concrete_fields]
    actions = ("ship_orders",)

    @admin.action(description="Ship selected orders (carrier and tracking number)", permissions=["change"])
    def ship_orders(self, request, queryset):
        return _action_with_form(
            self, request, queryset, form_class=ShipForm, action="ship_orders", title="Ship orders",
            intro="Each order is shipped with the same carrier; give one order at a time a tracking number.",
            submit_label="Ship", max_selected=1,
            apply=lambda order, data: order_services.order_ship(
                operator=request.user, order_no=order.no, carrier=data["carrier"], tracking_no=data["tracking_no"]
            ),
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MallSettings)
class MallSettingsAdmin(MoneyAdmin):
    """One row, saved through the same service as /api/v1/ops/settings/mall/."""

    fields = ("refund_window_days", "updated_at", "updated_by")
    readonly_fields = ("updated_at", "updated_by")

    def save_model(self, request, obj, form, change):
        # The form has checked the bounds already (the model's constraint).
        settings_services.mall_settings_update(actor=request.user, refund_window_days=obj.refund_window_days)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not MallSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Refund)
class RefundAdmin(MoneyAdmin):
    list_display = ("no", "order", "amount_fen", "status", "requested_by", "reviewed_by", "created_at", "completed_at")
    list_filter = ("status", "created_at")
    search_fields = ("no", "order__no", "wechat_refund_id")
    list_select_related = ("order", "requested_by", "reviewed_by")
    readonly_fields = [f.name for f in Refund._meta.concrete_fields]
    actions = ("approve_refunds", "reject_refunds")

    @admin.action(description="Approve selected refunds (WeChat pays them back)", permissions=["change"])
    def approve_refunds(self, request, queryset):
        return _action_with_form(
            self, request, queryset, form_class=ReviewNoteForm, action="approve_refunds", title="Approve refunds",
            intro="WeChat will be asked to pay these amounts back to the buyers.", submit_label="Approve",
            apply=lambda refund, data: refund_services.refund_approve(
                operator=request.user, refund_id=refund.pk, note=data["reason"]
            ),
        )

    @admin.action(description="Reject selected refunds (with a reason)", permissions=["change"])
    def reject_refunds(self, request, queryset):
        return _action_with_form(
            self, request, queryset, form_class=RejectForm, action="reject_refunds", title="Reject refunds",
            intro="The orders go back to where they were; the buyers see the reason.", submit_label="Reject",
            apply=lambda refund, data: refund_services.refund_reject(
                operator=request.user, refund_id=refund.pk, note=data["reason"]
            ),
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- reviews ------------------------------------------------------------------------------


@admin.register(Review)
class ReviewAdmin(MoneyAdmin):
    list_display = ("id", "product", "user", "rating", "short_text", "is_hidden", "created_at")
    list_filter = ("is_hidden", "rating", "created_at")
    search_fields = ("text", "product__title", "user__nickname", "user__username")
    list_select_related = ("product", "user")
    readonly_fields = [f.name for f in Review._meta.concrete_fields]
    actions = ("hide_reviews", "unhide_reviews")

    @admin.display(description="text")
    def short_text(self, obj) -> str:
        return obj.text[:40]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # hide instead: the counters follow

    @admin.action(description="Hide from the product page", permissions=["change"])
    def hide_reviews(self, request, queryset):
        with transaction.atomic():
            changed = review_services.review_set_hidden_many(
                review_ids=list(queryset.values_list("pk", flat=True)), hidden=True
            )
        self.message_user(request, f"{changed} review(s) hidden.")

    @admin.action(description="Show on the product page", permissions=["change"])
    def unhide_reviews(self, request, queryset):
        with transaction.atomic():
            changed = review_services.review_set_hidden_many(
                review_ids=list(queryset.values_list("pk", flat=True)), hidden=False
            )
        self.message_user(request, f"{changed} review(s) shown again.")

"""The operators' console for users, their tokens and follows; the admin's login form."""
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils import timezone
from django.utils.html import format_html

from core.admin import ReadOnlyAdmin
from core.admin_money import MoneyAdmin
from core.errors import NotAuthenticated, TooManyLoginFailures
from core.net import client_ip

from . import services
from .models import AuthToken, Follow, User


class OperatorLoginForm(AdminAuthenticationForm):
    """/admin/login/: the password is checked by services.operator_authenticate, as for the API's
    operator login, so both count (and are refused by) the same failures per username and per
    address. Past the limit the form says so and the right password does not log in either."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        # Django sets the username's max_length after the field is built, so it is never checked: a
        # 10 KB "username" would be looked up and counted. Checked here, it is a form error, as in the API.
        username = self.fields["username"]
        username.validators.append(MaxLengthValidator(username.max_length))

    def clean(self):
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = services.operator_authenticate(
                    username=username, password=password, ip=client_ip(self.request) if self.request else None
                )
            except TooManyLoginFailures as exc:
                raise ValidationError(exc.message, code="too_many_login_failures") from None
            except NotAuthenticated:
                raise self.get_invalid_login_error() from None
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


admin.site.login_form = OperatorLoginForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("id", "username", "nickname", "avatar", "openid", "is_staff", "is_active", "date_joined")
    list_display_links = ("id", "username")
    list_filter = (
        "is_staff",
        "is_superuser",
        "is_active",
        ("openid", admin.EmptyFieldListFilter),
        "date_joined",
        "groups",
    )
    search_fields = ("=id", "username", "nickname", "openid", "unionid", "email")
    ordering = ("-id",)
    date_hierarchy = "date_joined"
    readonly_fields = ("avatar_preview", "last_login", "date_joined")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # WeChat avatars are https
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("WeChat", {"fields": ("openid", "unionid", "nickname", "avatar_url", "avatar_preview")}),
    )
    add_fieldsets = (
        *DjangoUserAdmin.add_fieldsets,
        ("WeChat", {"classes": ("wide",), "fields": ("nickname", "openid", "unionid", "avatar_url")}),
    )

    @admin.display(description="avatar")
    def avatar(self, obj):
        if not obj.avatar_url:
            return ""
        return format_html('<img src="{}" width="24" height="24" alt="" referrerpolicy="no-referrer">', obj.avatar_url)

    @admin.display(description="avatar")
    def avatar_preview(self, obj):
        if not obj.avatar_url:
            return "-"
        return format_html('<img src="{}" width="96" height="96" alt="" referrerpolicy="no-referrer">', obj.avatar_url)


class TokenStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "active"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(AuthToken)
class AuthTokenAdmin(ReadOnlyAdmin):
    """Read-only: tokens are issued by logging in; an operator can only revoke them."""

    list_display = ("id", "user", "prefix", "status", "created_at", "expires_at", "revoked_at", "user_agent")
    list_filter = (TokenStatusFilter, "created_at")
    list_select_related = ("user",)
    search_fields = ("=prefix", "user__username", "user__nickname", "=user__id")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    fields = ("user", "prefix", "status", "created_at", "expires_at", "revoked_at", "user_agent")
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(description="status")
    def status(self, obj):
        if obj.revoked_at is not None:
            return "revoked"
        return "expired" if obj.expires_at <= timezone.now() else "active"


    def has_revoke_permission(self, request):
        return request.user.has_perm("accounts.change_authtoken")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = sum(services.token_revoke_by_id(token_id=pk) for pk in queryset.values_list("pk", flat=True))
        self.message_user(request, f"{revoked} token(s) revoked.", messages.SUCCESS)


@admin.register(Follow)
class FollowAdmin(MoneyAdmin):
    list_display = ("id", "follower", "followee", "source", "created_at")
    list_filter = ("source", "created_at")
    list_select_related = ("follower", "followee")
    search_fields = ("=follower__id", "follower__username", "follower__nickname",
                     "=followee__id", "followee__username", "followee__nickname")
    raw_id_fields = ("follower", "followee")
    date_hierarchy = "created_at"
    ordering = ("-id",)

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A shopper, distributor or operator. Shoppers come from WeChat OAuth (openid);
    operators are staff users with a password."""

    openid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    unionid = models.CharField(max_length=64, blank=True, default="", db_index=True)
    nickname = models.CharField(max_length=64, blank=True, default="")
    avatar_url = models.URLField(max_length=512, blank=True, default="")

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.nickname or self.username


class AuthToken(models.Model):
    """A Bearer token. Only the SHA-256 of the token is stored; it expires and can be revoked."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="First characters of the token, to tell tokens apart.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True, help_text="Where the login came from (risk signals)")

    class Meta:
        verbose_name = _("login token")
        verbose_name_plural = _("login tokens")
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"


class Follow(models.Model):
    """`follower` follows `followee` (e.g. grabbing a red envelope follows its sender)."""

    follower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following_set")
    followee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follower_set")
    source = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("follow")
        verbose_name_plural = _("follows")
        constraints = [
            models.UniqueConstraint(fields=["follower", "followee"], name="follow_unique_pair"),
            models.CheckConstraint(condition=~Q(follower=F("followee")), name="follow_not_self"),
        ]
        indexes = [models.Index(fields=["followee", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.follower_id} → {self.followee_id}"

"""Sandbox state for OAuth and the official account: login codes, access tokens,
QR tickets and template messages."""
from __future__ import annotations

from django.db import models
from django.utils import timezone

__all__ = ["SandboxAccessToken", "SandboxOAuthCode", "SandboxQrTicket", "SandboxTemplateMessage", "TokenKind"]


class SandboxOAuthCode(models.Model):
    """A web-authorisation code, as WeChat appends it to the redirect URL. Usable once, for 5 minutes."""

    LIFETIME_SECONDS = 300

    code = models.CharField(max_length=64, unique=True)
    appid = models.CharField(max_length=32)
    openid = models.CharField(max_length=64, db_index=True)
    unionid = models.CharField(max_length=64, blank=True, default="")
    nickname = models.CharField(max_length=64, blank=True, default="")
    avatar_url = models.CharField(max_length=512, blank=True, default="")
    scope = models.CharField(max_length=32, default="snsapi_userinfo")
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"code for {self.openid}"


class TokenKind(models.TextChoices):
    MP = "mp", "Official account (client_credential)"
    OAUTH = "oauth", "Web authorisation (per user)"


class SandboxAccessToken(models.Model):
    """An access token the sandbox handed out: the official account's, or a user's OAuth token."""

    token = models.CharField(max_length=128, unique=True)
    kind = models.CharField(max_length=8, choices=TokenKind.choices)
    appid = models.CharField(max_length=32)
    openid = models.CharField(max_length=64, blank=True, default="")
    scope = models.CharField(max_length=32, blank=True, default="")
    oauth_code = models.ForeignKey(SandboxOAuthCode, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"{self.kind} token {self.token[:8]}…"


class SandboxQrTicket(models.Model):
    """A parametric QR code ticket (qrcode/create)."""

    ticket = models.CharField(max_length=128, unique=True)
    action_name = models.CharField(max_length=24)
    scene_str = models.CharField(max_length=64, blank=True, default="")
    scene_id = models.BigIntegerField(null=True, blank=True)
    url = models.CharField(max_length=128, help_text="What the QR code encodes.")
    expire_seconds = models.PositiveIntegerField(null=True, blank=True, help_text="null: permanent")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"{self.action_name} {self.scene_str or self.scene_id}"


class SandboxTemplateMessage(models.Model):
    """A template message the official account sent (message/template/send). Its pk is the msgid."""

    touser = models.CharField(max_length=64, db_index=True)
    template_id = models.CharField(max_length=128)
    url = models.CharField(max_length=1024, blank=True, default="")
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "wechat_sandbox"

    def __str__(self) -> str:
        return f"template {self.template_id} to {self.touser}"

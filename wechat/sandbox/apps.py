from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "wechat.sandbox"
    label = "wechat_sandbox"
    verbose_name = "WeChat sandbox"

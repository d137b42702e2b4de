"""Test settings: the base settings plus fast hashing and a low WeChat timeout."""
from .base import *  # noqa: F401,F403
from .base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WECHAT_HTTP_TIMEOUT = env.float("WECHAT_HTTP_TIMEOUT", default=2.0)
CELERY_TASK_ALWAYS_EAGER = True
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {  # noqa: F405
    "user": "100000/min",
    "anon": "100000/min",
    "login": "100000/min",
}

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

# Close connections after each request: the live server's threads must not keep the test
# database open when it is dropped at the end of the session.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the shared in-memory database: concurrent writers then wait for the
    # write lock (timeout, IMMEDIATE transactions) as they do in development.
    DATABASES["default"]["TEST"] = {"NAME": f"{DATABASES['default']['NAME']}.test"}  # noqa: F405

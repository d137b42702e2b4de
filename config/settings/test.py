"""Test settings: the base settings plus fast hashing and a low WeChat timeout."""
from .base import *  # noqa: F401,F403
from .base import env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WECHAT_HTTP_TIMEOUT = env.float("WECHAT_HTTP_TIMEOUT", default=2.0)
# The suite was written against v2 payouts; the transfer-bill tests (tests/commissions/
# test_payout_bills*.py) set v3_transfer_bills themselves. WECHAT_PAY_API comes from the
# environment: `make test` runs the pay tests once more with WECHAT_PAY_API=v3.
WECHAT_PAYOUT_API = env("WECHAT_PAYOUT_API", default="v2")
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

# The per-process Bearer token cache (accounts/token_cache.py) is off in the suite: tests that
# compare the queries of two requests, or change a token row behind the cache, would otherwise
# depend on whether one real second passed between them. tests/api/test_auth_cache.py turns it
# on (1 s) and drives its clock.
AUTH_TOKEN_CACHE_SECONDS = 0

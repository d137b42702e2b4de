"""fenxiao settings: everything comes from the environment (see .env.example)."""
from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import environ
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")


def _reachable(url: str, timeout: float = 0.3) -> bool:
    """True when a TCP connection to the URL's host:port opens within `timeout`."""
    if not url:
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout):
            return True
    except OSError:
        return False


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="django-insecure-dev-only-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The H5 shop pages (h5/, served under /h5/; the short link /s/{code} redirects there).
H5_BASE_URL = env("H5_BASE_URL", default=f"{PUBLIC_BASE_URL}/h5").rstrip("/")
# /s/{code} click counters: buffered per process and sent to Redis every N ms (0: one Redis call per click).
CLICKS_WRITE_BEHIND_MS = env.int("CLICKS_WRITE_BEHIND_MS", default=50)

# --- WeChat ---------------------------------------------------------------
WECHAT_MODE = env("WECHAT_MODE", default="sandbox")
if WECHAT_MODE not in ("sandbox", "live"):
    raise environ.ImproperlyConfigured("WECHAT_MODE must be 'sandbox' or 'live'")
WECHAT_SANDBOX = WECHAT_MODE == "sandbox"
# With DEBUG off the sandbox refuses to start unless this says it is meant (staging, benchmarks): core/checks.py.
WECHAT_SANDBOX_IN_PRODUCTION = env.bool("WECHAT_SANDBOX_IN_PRODUCTION", default=False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "core",
    "wechat",
    "accounts",
    "ledger",
    "mall",
    "distributors",
    "commissions",
    "campaigns",
    "api",
    "h5",
]
if WECHAT_SANDBOX:
    INSTALLED_APPS.append("wechat.sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # Accept-Language: zh-hans first, en when asked
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "api.middleware.ApiNotFoundMiddleware",  # /api/ 404s in the error shape with DEBUG on too
]
# WhiteNoise serves /static/ (admin, Swagger UI) from gunicorn too; a CDN or proxy may front it.
MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so concurrent writers
    # queue instead of failing with "database is locked" on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

# --- Redis, cache, Celery -------------------------------------------------
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
REDIS_AVAILABLE = _reachable(REDIS_URL)
if REDIS_AVAILABLE:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="fx"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fenxiao"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL if REDIS_AVAILABLE else "")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 2}
CELERY_TIMEZONE = "Asia/Shanghai"

# --- I18N / static --------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# The campaign pages' catalog (h5/locale_campaigns): only msgids with the context "campaigns",
# so it overrides no other app's words.
LOCALE_PATHS = [BASE_DIR / "h5" / "locale_campaigns"]
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=True)  # no collectstatic needed to run
MEDIA_URL = "/media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))

# --- Auth -----------------------------------------------------------------
AUTH_TOKEN_TTL = timedelta(hours=env.int("AUTH_TOKEN_TTL_HOURS", default=24 * 7))
# Per-process cache of live tokens (accounts/token_cache.py): a revocation elsewhere is seen within this; 0 = off
AUTH_TOKEN_CACHE_SECONDS = env.float("AUTH_TOKEN_CACHE_SECONDS", default=1.0)
# ...and how old its entry may be for answers that change nothing (the grab's 409s, api/grab_route.py)
AUTH_TOKEN_ANSWER_SECONDS = env.float("AUTH_TOKEN_ANSWER_SECONDS", default=300.0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- DRF ------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.UserRateThrottle", "api.throttling.AnonRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("THROTTLE_USER", default="600/min"),
        "anon": env("THROTTLE_ANON", default="300/min"),
        "login": env("THROTTLE_LOGIN", default="20/min"),
    },
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# Red-envelope grabs per user (api.throttling.GrabRateThrottle).
THROTTLE_GRAB = env("THROTTLE_GRAB", default="30/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "fenxiao API",
    "DESCRIPTION": "WeChat-style distribution shop backend. Money is integer fen; rates are basis points.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI from the drf-spectacular-sidecar package: /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # api/schema.py: error responses, Idempotency-Key, pagination and docs for every operation
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.schema.postprocess_schema"],
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "mall.models.OrderStatus",
        "RefundStatusEnum": "mall.models.RefundStatus",
        "DistributorStatusEnum": "distributors.models.DistributorStatus",
        "CommissionStatusEnum": "commissions.models.CommissionStatus",
        "WithdrawalStatusEnum": "commissions.models.WithdrawalStatus",
        "RiskLevelEnum": "commissions.selectors.withdrawals_review.LEVELS",
        "CrowdfundStatusEnum": "campaigns.models.CrowdfundStatus",
        "ContributionStatusEnum": "campaigns.models.ContributionStatus",
        "EnvelopeStatusEnum": "campaigns.models.EnvelopeStatus",
        "CampaignRefundStatusEnum": "campaigns.models.CampaignRefundStatus",
    },
}

# --- WeChat credentials ---------------------------------------------------
WECHAT_APPID = env("WECHAT_APPID", default="wxsandbox0000000001")
WECHAT_SECRET = env("WECHAT_SECRET", default="sandbox-app-secret")
WECHAT_MCH_ID = env("WECHAT_MCH_ID", default="1900000109")
WECHAT_PAY_API_KEY = env("WECHAT_PAY_API_KEY", default="sandbox0api0key0sandbox0api0key00")
WECHAT_MCH_CERT = env("WECHAT_MCH_CERT", default="")
WECHAT_MCH_KEY = env("WECHAT_MCH_KEY", default="")
# Which WeChat Pay API takes payments and refunds, and which pays withdrawals out (docs/wechat.md):
# v2 (MD5-signed XML) or v3 (APIv3: RSA-signed JSON). Payouts: v2 企业付款到零钱 (closed to merchants
# onboarded since 2025-01-15) or v3_transfer_bills, the merchant transfer (商家转账) the user confirms.
WECHAT_PAY_API = env("WECHAT_PAY_API", default="v2")
WECHAT_PAYOUT_API = env("WECHAT_PAYOUT_API", default="v3_transfer_bills")
if WECHAT_PAY_API not in ("v2", "v3"):
    raise environ.ImproperlyConfigured("WECHAT_PAY_API must be 'v2' or 'v3'")
if WECHAT_PAYOUT_API not in ("v2", "v3_transfer_bills"):
    raise environ.ImproperlyConfigured("WECHAT_PAYOUT_API must be 'v2' or 'v3_transfer_bills'")
# APIv3: the merchant API certificate's key (apiclient_key.pem: a path or the PEM itself) and
# serial, the 32-character APIv3 key, and WeChat's key: the "WeChat Pay public key" (a path or
# PEM) with its id PUB_KEY_ID_…, or, when those are empty, the platform certificates fetched
# from /v3/certificates. In sandbox mode an empty key is generated into WECHAT_SANDBOX_KEY_DIR.
WECHAT_MCH_PRIVATE_KEY = env("WECHAT_MCH_PRIVATE_KEY", default="")
WECHAT_MCH_CERT_SERIAL = env("WECHAT_MCH_CERT_SERIAL", default="")
WECHAT_PAY_APIV3_KEY = env("WECHAT_PAY_APIV3_KEY", default="sandbox0apiv30key0sandbox0apiv3k")
WECHAT_PAY_PUBLIC_KEY = env("WECHAT_PAY_PUBLIC_KEY", default="")
WECHAT_PAY_PUBLIC_KEY_ID = env("WECHAT_PAY_PUBLIC_KEY_ID", default="")
WECHAT_SANDBOX_KEY_DIR = env("WECHAT_SANDBOX_KEY_DIR", default=str(BASE_DIR / "var" / "wechat-keys"))
# The merchant transfer (商家转账) scene our withdrawals use, as opened on the merchant platform:
# 1005 佣金报酬 (its report infos: 岗位类型, 报酬说明) or 1000 现金营销 (活动名称, 奖励说明); what the
# user sees as the kind of money (user_recv_perception), the scene's per-transfer maximum as
# configured there, its per-user daily maximum (0: the merchant set none), and how long the user
# has to confirm (WeChat: 24 hours).
WECHAT_TRANSFER_SCENE_ID = env("WECHAT_TRANSFER_SCENE_ID", default="1005")
WECHAT_TRANSFER_PERCEPTION = env("WECHAT_TRANSFER_PERCEPTION", default="劳务报酬")
WECHAT_TRANSFER_POSITION = env("WECHAT_TRANSFER_POSITION", default="分销推广员")
WECHAT_TRANSFER_SCENE_MAX_FEN = env.int("WECHAT_TRANSFER_SCENE_MAX_FEN", default=200_000)
WECHAT_TRANSFER_USER_DAILY_MAX_FEN = env.int("WECHAT_TRANSFER_USER_DAILY_MAX_FEN", default=0)  # 0: not checked
WECHAT_TRANSFER_CONFIRM_HOURS = env.int("WECHAT_TRANSFER_CONFIRM_HOURS", default=24)
WECHAT_MP_TOKEN = env("WECHAT_MP_TOKEN", default="sandbox-mp-token")
WECHAT_MP_AES_KEY = env("WECHAT_MP_AES_KEY", default="")
# A message endpoint request whose signed timestamp is older than this is refused (replay window).
WECHAT_MP_MAX_AGE_SECONDS = env.int("WECHAT_MP_MAX_AGE_SECONDS", default=300)
WECHAT_HTTP_TIMEOUT = env.float("WECHAT_HTTP_TIMEOUT", default=5.0)
# A transfer or red pack WeChat says it has no record of (NOT_FOUND) is resent with the same
# number only this long after it was first sent; later it waits for an operator (docs/wechat.md).
WECHAT_PAYOUT_RESEND_WINDOW_SECONDS = env.int("WECHAT_PAYOUT_RESEND_WINDOW_SECONDS", default=7 * 24 * 3600)
WECHAT_SERVER_IP = env("WECHAT_SERVER_IP", default="127.0.0.1")
WECHAT_SANDBOX_BASE_URL = env("WECHAT_SANDBOX_BASE_URL", default=PUBLIC_BASE_URL).rstrip("/")
WECHAT_PAY_NOTIFY_URL = env("WECHAT_PAY_NOTIFY_URL", default=f"{PUBLIC_BASE_URL}/api/v1/wechat/pay/notify/")
WECHAT_REFUND_NOTIFY_URL = env(
    "WECHAT_REFUND_NOTIFY_URL", default=f"{PUBLIC_BASE_URL}/api/v1/wechat/refund/notify/"
)
WECHAT_TRANSFER_NOTIFY_URL = env(
    "WECHAT_TRANSFER_NOTIFY_URL", default=f"{PUBLIC_BASE_URL}/api/v1/wechat/transfer/notify/"
)

# The mini-program (小程序码 for share links); defaults to the official account's credentials.
WECHAT_MINIPROGRAM_APPID = env("WECHAT_MINIPROGRAM_APPID", default=WECHAT_APPID)
WECHAT_MINIPROGRAM_SECRET = env("WECHAT_MINIPROGRAM_SECRET", default=WECHAT_SECRET)
WECHAT_MINIPROGRAM_PAGE = env("WECHAT_MINIPROGRAM_PAGE", default="")  # "" = the mini-program's home page
# Sandbox only: text containing one of these (case-insensitive) fails wxa/msg_sec_check.
WECHAT_SANDBOX_FLAGGED_WORDS = env.list("WECHAT_SANDBOX_FLAGGED_WORDS", default=["赌博", "代开发票", "flagged-word"])

# Template messages to distributors (commissions/notifications.py); an empty id skips that message.
WECHAT_TEMPLATE_COMMISSION_ACCRUED = env("WECHAT_TEMPLATE_COMMISSION_ACCRUED", default="")
WECHAT_TEMPLATE_COMMISSION_SETTLED = env("WECHAT_TEMPLATE_COMMISSION_SETTLED", default="")
WECHAT_TEMPLATE_WITHDRAWAL_PAID = env("WECHAT_TEMPLATE_WITHDRAWAL_PAID", default="")
WECHAT_TEMPLATE_WITHDRAWAL_REJECTED = env("WECHAT_TEMPLATE_WITHDRAWAL_REJECTED", default="")
WECHAT_TEMPLATE_WITHDRAWAL_FAILED = env(
    "WECHAT_TEMPLATE_WITHDRAWAL_FAILED", default=WECHAT_TEMPLATE_WITHDRAWAL_REJECTED
)
# Template messages about crowdfunds (campaigns/notifications.py); an empty id skips that message.
WECHAT_TEMPLATE_WITHDRAWAL_CONFIRM = env("WECHAT_TEMPLATE_WITHDRAWAL_CONFIRM", default="")  # confirm receipt
WECHAT_TEMPLATE_CROWDFUND_CONTRIBUTION = env("WECHAT_TEMPLATE_CROWDFUND_CONTRIBUTION", default="")
WECHAT_TEMPLATE_CROWDFUND_RESULT = env("WECHAT_TEMPLATE_CROWDFUND_RESULT", default="")
WECHAT_TEMPLATE_CROWDFUND_REFUND = env("WECHAT_TEMPLATE_CROWDFUND_REFUND", default="")
WECHAT_TEMPLATE_ENVELOPE_RESULT = env("WECHAT_TEMPLATE_ENVELOPE_RESULT", default="")  # red envelope ended
WECHAT_TEMPLATE_URL_BASE = env("WECHAT_TEMPLATE_URL_BASE", default=H5_BASE_URL).rstrip("/")  # "" = no link

# --- Share links, QR codes, posters (distributors/qr.py, poster.py) -------------
FONT_PATH = env("FONT_PATH", default="")  # a CJK .ttf/.ttc; default: fonts-wqy-microhei (scripts/fonts.sh)
SHARE_LINK_MP_QR = env.bool("SHARE_LINK_MP_QR", default=True)  # official-account QR (mp_qr_url) on links

# --- Security (production) ------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Logging --------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_JSON = env.bool("LOG_JSON", default=False)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json" if LOG_JSON else "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "wechatpy": {"level": "WARNING"},
    },
}

# --- Mall -------------------------------------------------------------------
MALL_PAY_MINUTES = env.int("MALL_PAY_MINUTES", default=30)  # unpaid orders close after this
MALL_AUTO_COMPLETE_DAYS = env.int("MALL_AUTO_COMPLETE_DAYS", default=10)  # shipped orders complete after this
MALL_PAYMENT_QUERY_AFTER_MINUTES = env.int("MALL_PAYMENT_QUERY_AFTER_MINUTES", default=5)  # ask WeChat after this
MALL_MAX_ITEMS_PER_ORDER = env.int("MALL_MAX_ITEMS_PER_ORDER", default=50)
MALL_MAX_QUANTITY_PER_ITEM = env.int("MALL_MAX_QUANTITY_PER_ITEM", default=999)
# Campaigns: how many times a contribution refund WeChat refuses is tried again (a new number
# each time) before it waits for an operator.
CAMPAIGNS_REFUND_ATTEMPTS = env.int("CAMPAIGNS_REFUND_ATTEMPTS", default=3)
# Platform cash / sales revenue accounts are split into this many shards (hot-row contention).
MALL_LEDGER_SHARDS = env.int("MALL_LEDGER_SHARDS", default=16)

# --- Commissions and payouts ------------------------------------------------------------
# The Celery queue payout tasks go to ("" = the default queue); a worker must consume it.
PAYOUTS_QUEUE = env("PAYOUTS_QUEUE", default="")
# A worker started without -Q consumes every queue listed here: the default one and the payouts one.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in dict.fromkeys(["celery", PAYOUTS_QUEUE]) if name]
# The beat job commissions.resume_payouts re-drives approved/paying withdrawals idle this long.
PAYOUT_RESUME_AFTER_SECONDS = env.int("PAYOUT_RESUME_AFTER_SECONDS", default=120)

# --- Login limits (accounts/login_limits.py; docs/operations.md "Login limits") -------------
# Failed operator logins (the admin's /admin/login/ and POST /api/v1/auth/login/ share them), counted
# per username and per client IP in fixed windows; at the limit the password is not even checked.
# 0 turns a limit off.
LOGIN_FAILURE_WINDOW_SECONDS = env.int("LOGIN_FAILURE_WINDOW_SECONDS", default=900)
LOGIN_FAILURES_PER_USERNAME = env.int("LOGIN_FAILURES_PER_USERNAME", default=5)
LOGIN_FAILURES_PER_IP = env.int("LOGIN_FAILURES_PER_IP", default=50)  # an office shares one address
# WeChat logins are never limited per IP the way operators are (a carrier NAT puts a town behind one
# address): each code may be tried this many times, each openid may log in this often per minute,
# and one generous per-IP ceiling ("" = none) only stops floods of made-up codes.
LOGIN_WECHAT_CODE_ATTEMPTS = env.int("LOGIN_WECHAT_CODE_ATTEMPTS", default=3)
LOGIN_WECHAT_PER_OPENID_PER_MINUTE = env.int("LOGIN_WECHAT_PER_OPENID_PER_MINUTE", default=30)
LOGIN_WECHAT_PER_IP = env("LOGIN_WECHAT_PER_IP", default="600/min") or None

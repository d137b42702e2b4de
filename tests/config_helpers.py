"""What the settings tests share: the project root and a production-like environment."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-for-the-deploy-check-0123456789",
    "ALLOWED_HOSTS": "shop.example.com",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "WECHAT_MODE": "live",
    "WECHAT_MP_TOKEN": "a-real-official-account-token",
    "WECHAT_PAY_API_KEY": "0123456789abcdef0123456789abcdef",
    "DATABASE_URL": "sqlite:////tmp/fenxiao-deploy-check.sqlite3",
}

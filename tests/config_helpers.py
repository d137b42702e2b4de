"""What the settings tests share: the project root and a production-like environment."""
from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parent.parent


def private_key_pem() -> str:
    """A fresh RSA-2048 private key (PKCS#8 PEM), standing in for a merchant's apiclient_key.pem."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


# Payouts default to APIv3 transfer bills, so a live set-up carries the APIv3 keys (core/checks.py E005-E007).
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
    "WECHAT_PAY_APIV3_KEY": "fedcba9876543210fedcba9876543210",
    "WECHAT_MCH_PRIVATE_KEY": private_key_pem(),
    "WECHAT_MCH_CERT_SERIAL": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
    "DATABASE_URL": "sqlite:////tmp/fenxiao-deploy-check.sqlite3",
}

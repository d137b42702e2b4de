"""What the request says about where it came from."""
from django.conf import settings


def client_ip(request) -> str:
    """The client's IP: the proxy-appended X-Forwarded-For entry when NUM_PROXIES is set
    (entries further left are whatever the client claims), else REMOTE_ADDR."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    if forwarded and proxies:
        parts = [p.strip() for p in forwarded.split(",")]
        if len(parts) >= proxies:
            return parts[-proxies]
    return request.META.get("REMOTE_ADDR") or "127.0.0.1"

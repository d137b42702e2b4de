"""Where a request came from, the one way every part of the project reads it (the API's
views and throttles, the admin's login form)."""
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

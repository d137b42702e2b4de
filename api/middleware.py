"""Under /api/, every 404 answers in the error shape (api/errors.py), DEBUG or not.

With DEBUG off Django's handler404 (api.errors.not_found_view) already does it; with DEBUG on
Django answers an unknown URL with its technical HTML page instead, which a client of the API
(and `make fuzz`) cannot read. This middleware, last in MIDDLEWARE, turns such a 404 into the
JSON one; CommonMiddleware (above it) still redirects a URL that only lacks its slash."""

from __future__ import annotations

from api.errors import not_found_view


class ApiNotFoundMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith("/api/")
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            return not_found_view(request)
        return response

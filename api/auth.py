"""Bearer token authentication and operator permissions."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from accounts.selectors import token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: use 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        found = token_authenticate(raw=raw)  # no query while the token is cached (accounts/token_cache.py)
        if found is None:
            raise exceptions.AuthenticationFailed("The token is unknown, expired or revoked.")
        return found

    def authenticate_header(self, request):
        return self.keyword


def bearer_user(request):
    """The active user of a valid `Authorization: Bearer <token>` header, else None; never
    raises. For plain Django views that treat a missing, expired or unknown token as an
    anonymous visit (GET /s/{code}: a redirect must not fail on a stale login). Same parsing
    and checks as BearerTokenAuthentication (one token lookup, no DRF request)."""
    try:
        found = BearerTokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return None
    return found[0] if found else None


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}


class IsOperator(permissions.BasePermission):
    """Staff users only (the operators)."""

    message = "Operators only."

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class HasModelPerm(IsOperator):
    """Staff with a given Django permission: set `required_perm = "app.codename"` on the view."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        perm = getattr(view, "required_perm", None)
        return perm is None or request.user.has_perm(perm)

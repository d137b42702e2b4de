from django.urls import path

from . import accounts, system, wechat, wechat_mp

urlpatterns = [
    path("health/", system.HealthView.as_view(), name="health"),
    path("auth/wechat/", accounts.WechatLoginView.as_view(), name="auth-wechat"),
    path("auth/login/", accounts.OperatorLoginView.as_view(), name="auth-login"),
    path("auth/logout/", accounts.LogoutView.as_view(), name="auth-logout"),
    path("me/", accounts.MeView.as_view(), name="me"),
    path("me/following/", accounts.FollowingView.as_view(), name="me-following"),
    path("me/followers/", accounts.FollowersView.as_view(), name="me-followers"),
    path("ops/ledger/audit/", system.LedgerAuditView.as_view(), name="ops-ledger-audit"),
    *wechat.urlpatterns,
    *wechat_mp.urlpatterns,
]

"""The H5 pages, mounted at /h5/ (config/urls.py); docs/h5.md lists them.

Every path a share link can land on (distributors/targets.py, campaigns/targets.py) and every
link of a template message (commissions/notifications.py) has a page here: `/`,
`/products/{id}`, `/recruit?inviter=`, `/distributor/commissions`, `/distributor/withdrawals/{id}`;
`/crowdfunds/{id}` and `/red-envelopes/{id}` come from h5/urls_campaigns.py (helper C's).
Paths carry no trailing slash, as the target paths do.
"""

from django.urls import include, path, re_path

from . import views, views_account

app_name = "h5"

urlpatterns = [
    path("", views.home, name="home"),
    path("products/<int:pk>", views.product_detail, name="product"),
    path("buy", views_account.checkout, name="checkout"),
    path("login", views.login, name="login"),
    path("login/callback", views.login_callback, name="login-callback"),
    path("jssdk", views.jssdk, name="jssdk"),
    path("recruit", views.recruit, name="recruit"),
    path("orders", views_account.orders, name="orders"),
    path("orders/<str:no>", views_account.order_detail, name="order"),
    path("orders/<str:no>/paid", views_account.order_paid, name="order-paid"),
    path("orders/<str:no>/refund", views_account.order_refund, name="order-refund"),
    path("distributor", views_account.distributor_home, name="distributor"),
    path("distributor/apply", views.recruit, name="distributor-apply"),
    path("distributor/links", views_account.distributor_links, name="distributor-links"),
    path("distributor/links/<str:code>", views_account.distributor_link, name="distributor-link"),
    path("distributor/stats", views_account.distributor_stats, name="distributor-stats"),
    path("distributor/team", views_account.distributor_team, name="distributor-team"),
    path("distributor/commissions", views_account.distributor_commissions, name="distributor-commissions"),
    path("distributor/wallet", views_account.distributor_wallet, name="distributor-wallet"),
    path("distributor/withdraw", views_account.distributor_withdraw, name="distributor-withdraw"),
    path("distributor/withdrawals", views_account.distributor_withdrawals, name="distributor-withdrawals"),
    path("distributor/withdrawals/<int:pk>", views_account.distributor_withdrawal, name="distributor-withdrawal"),
    path("", include("h5.urls_campaigns")),
    re_path(r"^.*$", views.unknown_page, name="unknown"),  # last: any other /h5/ path is the 404 page
]

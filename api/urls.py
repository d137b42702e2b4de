from django.urls import path

from . import accounts, mall_orders, system, wechat, wechat_mp

urlpatterns = [
    path("health/", system.HealthView.as_view(), name="health"),
    path("auth/wechat/", accounts.WechatLoginView.as_view(), name="auth-wechat"),
    path("auth/login/", accounts.OperatorLoginView.as_view(), name="auth-login"),
    path("auth/logout/", accounts.LogoutView.as_view(), name="auth-logout"),
    path("me/", accounts.MeView.as_view(), name="me"),
    path("me/following/", accounts.FollowingView.as_view(), name="me-following"),
    path("me/followers/", accounts.FollowersView.as_view(), name="me-followers"),
    path("ops/ledger/audit/", system.LedgerAuditView.as_view(), name="ops-ledger-audit"),
    path("orders/", mall_orders.OrderListCreateView.as_view(), name="orders"),
    path("orders/<str:no>/", mall_orders.OrderDetailView.as_view(), name="order-detail"),
    path("orders/<str:no>/pay/", mall_orders.OrderPayView.as_view(), name="order-pay"),
    path("orders/<str:no>/cancel/", mall_orders.OrderCancelView.as_view(), name="order-cancel"),
    path("orders/<str:no>/confirm-receipt/", mall_orders.OrderConfirmReceiptView.as_view(), name="order-confirm"),
    path("orders/<str:no>/refunds/", mall_orders.OrderRefundsView.as_view(), name="order-refunds"),
    path("ops/orders/", mall_orders.OpsOrderListView.as_view(), name="ops-orders"),
    path("ops/orders/<str:no>/", mall_orders.OpsOrderDetailView.as_view(), name="ops-order-detail"),
    path("ops/orders/<str:no>/ship/", mall_orders.OpsOrderShipView.as_view(), name="ops-order-ship"),
    path("ops/refunds/", mall_orders.OpsRefundListView.as_view(), name="ops-refunds"),
    path("ops/refunds/<int:pk>/approve/", mall_orders.OpsRefundApproveView.as_view(), name="ops-refund-approve"),
    path("ops/refunds/<int:pk>/reject/", mall_orders.OpsRefundRejectView.as_view(), name="ops-refund-reject"),
    *wechat.urlpatterns,
    *wechat_mp.urlpatterns,
]

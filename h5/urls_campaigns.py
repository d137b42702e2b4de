"""URL patterns of the H5 campaign pages (h5/views_campaigns.py), included by h5/urls.py under
/h5/. The page paths are the ones share links redirect to (campaigns/targets.py) and template
messages link to (campaigns/notifications.py): /crowdfunds/<id> and /red-envelopes/<id>."""

from django.urls import path

from . import views_campaigns as views

urlpatterns = [
    path("crowdfunds", views.crowdfund_list, name="crowdfunds"),
    path("crowdfunds/new", views.crowdfund_new, name="crowdfund-new"),
    path("crowdfunds/<int:pk>", views.crowdfund_page, name="crowdfund"),
    path("red-envelopes/new", views.envelope_new, name="red-envelope-new"),
    path("red-envelopes/<int:pk>", views.envelope_page, name="red-envelope"),
    path("users/<int:pk>/red-envelopes", views.user_envelopes, name="user-red-envelopes"),
]

from .mp_views import mp_urlpatterns

urlpatterns: list = [*mp_urlpatterns]

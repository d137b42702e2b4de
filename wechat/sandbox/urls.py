from .mp_views import mp_urlpatterns
from .pay_views import pay_urlpatterns

urlpatterns: list = [*pay_urlpatterns, *mp_urlpatterns]

from .h5_views import h5_urlpatterns
from .mp_views import mp_urlpatterns
from .pay_views import pay_urlpatterns
from .v3 import v3_common_urlpatterns
from .v3_bill_views import v3_bill_urlpatterns
from .v3_pay_views import v3_pay_urlpatterns
from .wxa_views import wxa_urlpatterns

urlpatterns: list = [*pay_urlpatterns, *mp_urlpatterns, *wxa_urlpatterns, *h5_urlpatterns, *v3_common_urlpatterns]
urlpatterns += v3_bill_urlpatterns
urlpatterns += v3_pay_urlpatterns

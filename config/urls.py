from django.conf import settings
from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.urls import root_urlpatterns
from core.admin import jobs_urls


def livez(request):
    """Liveness probe: a bare Django JSON view (no DB, no DRF). Also the benchmark baseline."""
    return JsonResponse({"ok": True})


handler404 = "api.errors.not_found_view"
handler500 = "api.errors.server_error_view"

urlpatterns = [
    path("livez", livez, name="livez"),
    path("", include(root_urlpatterns)),  # /s/{code} (api/urls.py)
    *jobs_urls(),  # /admin/jobs/: the periodic jobs, "Run now" (core/admin.py)
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include("api.urls")),
    path("h5/", include("h5.urls")),  # the H5 pages (h5/urls.py)
]

if settings.WECHAT_SANDBOX:
    urlpatterns.append(path("wechat-sandbox/", include("wechat.sandbox.urls")))

if settings.DEBUG:
    # Uploaded and generated media (the demo products' pictures, load_demo) in development;
    # in production the web server or a CDN serves MEDIA_ROOT.
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

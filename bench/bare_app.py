"""The benchmark baseline: a truly bare Django app — settings configured in code, no middleware,
no installed apps, no database, no cache — with one view returning a small JSON. bench/run.py
serves it with exactly the gunicorn settings of the project's server (workers, worker class,
threads, backlog) and loads it with the same wrk, in the same run, and every ratio in
docs/benchmarks.md divides by it. The project's own /livez (the same JsonResponse, but through
our middleware stack and URL conf) is a row of its own: the gap is what our stack costs.

    gunicorn bench.bare_app:application
"""
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-bare-app-has-no-secrets",  # noqa: S106 - nothing is signed here
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
    LOGGING_CONFIG=None,
)

import django  # noqa: E402

django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


def bare(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bare", bare)]
application = get_wsgi_application()

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django_application = get_wsgi_application()

from api.grab_route import grab_route  # noqa: E402  (needs the apps loaded)
from core.checks import refuse_to_serve_on_defaults  # noqa: E402

refuse_to_serve_on_defaults()
# The red-envelope grab is answered ahead of Django's stack (api/grab_route.py); all else is Django's.
application = grab_route(django_application)

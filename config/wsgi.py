import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_wsgi_application()

from core.checks import refuse_to_serve_on_defaults  # noqa: E402  (needs the apps loaded)

refuse_to_serve_on_defaults()

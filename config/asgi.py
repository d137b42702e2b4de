import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
application = get_asgi_application()

from core.checks import refuse_to_serve_on_defaults  # noqa: E402  (needs the apps loaded)

refuse_to_serve_on_defaults()

from django.apps import AppConfig


class MallConfig(AppConfig):
    name = "mall"
    verbose_name = "Mall"

    def ready(self):
        from . import jobs  # noqa: F401  (registers the mall's periodic jobs)

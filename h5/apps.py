from django.apps import AppConfig


class H5Config(AppConfig):
    """The shoppers' and distributors' H5 pages under /h5/: an HTTP face beside api/ (docs/h5.md)."""

    name = "h5"
    verbose_name = "H5 pages"

"""URL patterns of the H5 campaign pages (crowdfunds, red envelopes).

helper B's h5/urls.py includes this module.
"""

urlpatterns = []

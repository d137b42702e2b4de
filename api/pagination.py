from django.core.paginator import InvalidPage
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination


def _positive(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1 or len(raw) > 9:
        raise serializers.ValidationError({name: [_("A whole number from 1.")]})
    return int(raw)


class Pagination(PageNumberPagination):
    """{"count", "next", "previous", "results"}; ?page=N (from 1) &page_size=M (1 to 100; more
    is taken as 100).

    A page or page_size that is not a whole number from 1 is 400 `invalid` (DRF would quietly use
    page 1 or 20); a page past the last one is 404 `not_found` (page 1 always exists, empty or not).
    """

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100
    page_query_description = "The page, from 1 (a page past the last one is 404)."
    page_size_query_description = "Results per page, from 1 (default 20; above 100 counts as 100)."

    def get_page_size(self, request):
        size = _positive(request, self.page_size_query_param)
        if size is None:
            return self.page_size
        return min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        number = _positive(request, self.page_query_param) or 1
        paginator = self.django_paginator_class(queryset, page_size)
        try:
            self.page = paginator.page(number)
        except InvalidPage:
            raise NotFound(_("Page %(page)d is past the last page (%(last)d).")
                           % {"page": number, "last": paginator.num_pages}) from None
        return list(self.page)


def paginated(view, request, queryset, serializer_class):
    """One page of `queryset`, written out by `serializer_class`, in the paginated envelope."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def status_param(request, choices) -> str | None:
    """?status=: None when absent; 400 (invalid, extra.fields.status) when not one of `choices`."""
    status = request.query_params.get("status") or None
    if status is not None and status not in choices:
        raise serializers.ValidationError({"status": [_("Unknown status %(status)r.") % {"status": status}]})
    return status

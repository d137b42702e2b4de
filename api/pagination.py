from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """{"count", "next", "previous", "results"}; ?page=N&page_size=M (at most 100)."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def paginated(view, request, queryset, serializer_class):
    """One page of `queryset`, written out by `serializer_class`, in the paginated envelope."""
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def status_param(request, choices) -> str | None:
    """?status=: None when absent; 400 (invalid, extra.fields.status) when not one of `choices`."""
    status = request.query_params.get("status") or None
    if status is not None and status not in choices:
        raise serializers.ValidationError({"status": [f"Unknown status {status!r}."]})
    return status

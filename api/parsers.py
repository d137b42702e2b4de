"""The request body parser every view uses (REST_FRAMEWORK DEFAULT_PARSER_CLASSES)."""
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, and a body nested too deep for Python's parser (RecursionError, which
    DRF does not catch: it catches ValueError) is a 400 parse_error like any malformed JSON,
    not a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type=media_type, parser_context=parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deep.") from None

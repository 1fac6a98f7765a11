"""What the API and the form views accept as request bodies, bounded.

The API's only parser (outside the streaming upload endpoints, which name theirs) is the JSON
parser below: a multipart or form body to any other endpoint is 415. Django's own multipart
parsing (`request.POST` in form views and in the CSRF check) goes through
`NoFileUploadHandler`, which refuses file parts, so no request outside the upload endpoints ever
spools a file to disk (Django would otherwise write any file part above 2.5 MB to a plaintext
temporary file before the view has even run).
"""

import re
from itertools import accumulate

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers, status
from rest_framework.utils import json

from locker.errors import ErrorCode
from locker.formats import size_text

# API bodies are a few levels deep; the standard library's parser recurses once per level and
# fails with RecursionError (a 500) somewhere below the interpreter's recursion limit.
MAX_JSON_DEPTH = 32

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = ErrorCode.TOO_LARGE


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (brackets inside strings do not
    count). Linear, and every step runs in C: strings are removed by one regular expression,
    everything but brackets by another, and the running depth is summed by accumulate()."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)))


def body_limit() -> int | None:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def declared_length(meta) -> int:
    try:
        return max(0, int(meta.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def too_large_message(limit: int) -> str:
    return _("The request body is larger than the %(max)s this endpoint accepts.") % {
        "max": size_text(limit)
    }


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with bounds: a body of at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes
    (refused by its Content-Length before a byte is read) and at most MAX_JSON_DEPTH levels of
    nesting (refused before it is parsed)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        request = parser_context.get("request")
        limit = body_limit()
        if limit is not None and request is not None and declared_length(request.META) > limit:
            raise RequestTooLarge(too_large_message(limit))
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(too_large_message(limit))
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(
                _("The JSON body is not valid %(encoding)s text.") % {"encoding": encoding}
            ) from None
        if json_depth(text) > MAX_JSON_DEPTH:
            raise exceptions.ParseError(
                _("The JSON body is nested too deeply (more than %(max)d levels).")
                % {"max": MAX_JSON_DEPTH}
            )
        parse_constant = json.strict_constant if self.strict else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except (ValueError, RecursionError) as exc:
            raise exceptions.ParseError(_("The JSON body could not be read: %s") % exc) from None


class FormBodyRefused(MultiPartParserError):
    """A multipart body Django's parser must not read (Django answers 400); the message says
    why, in words a person understands (locker.views.bad_request shows it)."""


class NoFileUploadHandler(FileUploadHandler):
    """FILE_UPLOAD_HANDLERS for every request that does not install its own (only the streaming
    upload endpoints do): a multipart body whose Content-Length is above
    DATA_UPLOAD_MAX_MEMORY_SIZE is refused before a byte is read, and so is any file part when
    it starts. Nothing is written to disk and at most the (bounded) form fields are held."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        limit = body_limit()
        if limit is not None and content_length > limit:
            raise FormBodyRefused(too_large_message(limit))
        return None

    def new_file(self, *args, **kwargs):
        raise FormBodyRefused(_("Files cannot be sent here."))

    def receive_data_chunk(self, raw_data, start):  # never reached: new_file refuses
        raise FormBodyRefused(_("Files cannot be sent here."))

    def file_complete(self, file_size):
        return None

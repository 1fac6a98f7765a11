"""The response builders for a file's content and its thumbnails (the API, the web UI and public
links use them).

It decides nothing about access: callers pass a File they obtained through the access check.

Behaviour (docs/files.md):
- `Accept-Ranges: bytes`; one `Range: bytes=a-b | a- | -n` → 206 with `Content-Range`; a range
  that starts past the end (or any range of an empty file) → 416 with `Content-Range: bytes */N`;
  several ranges or a malformed header → the whole content with 200 (RFC 9110 lets a server
  ignore Range).
- Strong `ETag` (`blob_etag`: an HMAC of the stored object's random key, never a hash of the
  content, which would let anyone test guesses of it) and `Last-Modified`; `If-None-Match` (and,
  without it, `If-Modified-Since`) → 304; `If-Range` that does not match → the whole content.
- `Content-Disposition` with an ASCII fallback `filename="…"` and RFC 6266 `filename*`;
  `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox` always. Inline
  content may be framed by this site only (`frame-ancestors 'self'`, `X-Frame-Options:
  SAMEORIGIN`): the in-page viewer shows PDFs in an <iframe>.
- Inline only for an allow-list of types; text is served as `text/plain; charset=utf-8`;
  anything else (SVG, HTML, XML…) is an attachment typed `application/octet-stream`.
"""

import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote

from django.http import HttpResponse, StreamingHttpResponse
from django.utils.crypto import salted_hmac
from django.utils.http import http_date, parse_http_date_safe

from files.models import File, Thumbnail
from files.thumbnail_sandbox import SIZES as THUMBNAIL_SIZES
from locker import metrics
from storage.reader import iter_content

INLINE_IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif"}
)
INLINE_TYPES = INLINE_IMAGE_TYPES | {"application/pdf", "text/plain"}


def inline_allowed(content_type: str) -> bool:
    return (
        content_type in INLINE_TYPES
        or content_type.startswith("audio/")
        or content_type.startswith("video/")
    )


def served_content_type(content_type: str) -> str:
    """The Content-Type we send: the detected type for allow-listed types, otherwise bytes."""
    if content_type == "text/plain":
        return "text/plain; charset=utf-8"
    if inline_allowed(content_type):
        return content_type
    return "application/octet-stream"


_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9 !#$&+\-.=@\[\]^_`{}~()']")


def content_disposition(disposition: str, name: str) -> str:
    """`attachment; filename="fallback"; filename*=UTF-8''percent-encoded` (RFC 6266/8187).

    The fallback keeps ASCII letters, digits and harmless punctuation and turns everything else
    (quotes, backslashes, CR/LF, `%`, `/`, `;`, `,`, non-ASCII) into `_`, so it cannot break the
    header, even for a parser that splits on `;`.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = _UNSAFE_ASCII.sub("_", ascii_name).strip() or "download"
    _stem, dot, ext = name.rpartition(".")
    if dot and not fallback.endswith(ext) and ext.isascii() and ext.isalnum():
        fallback = f"{fallback}.{ext}"
    encoded = quote(name, safe="")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def blob_etag(blob, *, prefix: str = "") -> str:
    """A strong ETag for a stored object: an HMAC (SECRET_KEY) of its random storage key.

    A stored object's content never changes under its key, so this is a valid strong validator;
    it is stable across requests (If-Range, If-None-Match work) and tells nothing about the
    content. (The plaintext SHA-256 used to be the ETag: with `Range: bytes=1-`, anyone could
    then find a missing first byte in at most 256 guesses.)
    """
    digest = salted_hmac("files.etag", blob.storage_key, algorithm="sha256").hexdigest()
    return f'"{prefix}{digest}"'


# Beyond any size: a longer number is compared as this, never converted from its digits
# (int() refuses more than 4,300 of them, and a header may carry 8,000).
_HUGE = 10**19


def _position(text: str) -> int | None:
    """A byte position of a Range header: ASCII digits only ("²" is a digit to str.isdigit)."""
    if not text or not text.isascii() or not text.isdigit():
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) < 19 else _HUGE


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """(start, end_exclusive) for one satisfiable range; None to serve everything;
    "unsatisfiable" for a range that selects no byte."""
    if not header:
        return None
    unit, _eq, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if first == "":
        suffix = _position(last)
        if suffix is None:
            return None
        if suffix == 0 or size == 0:
            return "unsatisfiable"
        return max(size - suffix, 0), size
    start = _position(first)
    end_position = _position(last) if last else None
    if start is None or (last and end_position is None):
        return None
    end = end_position + 1 if end_position is not None else size
    if last and end <= start:
        return None  # "bytes=5-2" is invalid syntax: ignore the header
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size)


def _etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    if header.strip() == "*":
        return True
    for candidate in header.split(","):
        candidate = candidate.strip()
        if weak and candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def _common_headers(
    response, *, file: File, etag: str, last_modified: str, disposition: str
) -> None:
    """The headers of every answer about the content (200, 206, 304, 416): a 304's are merged
    into the browser's cached copy, so they must say the same."""
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = last_modified
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-cache"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    if disposition == "inline":
        # The in-page viewer shows a PDF in an <iframe> of this very site (static/js/viewer.js);
        # no other site may frame it. Still sandboxed (no script of ours runs in it).
        response["Content-Security-Policy"] = "sandbox; frame-ancestors 'self'"
        response["X-Frame-Options"] = "SAMEORIGIN"
    else:
        response["Content-Security-Policy"] = "sandbox"


class Quarantined(Exception):
    """An infected file: nobody may download it, its owner included."""


def content_response(
    request,
    *,
    file: File,
    disposition: str = "attachment",
    admit: Callable[[int, int], None] | None = None,
):
    """A streaming (or 206/304/416) response for `file`'s content, ready to return.

    `admit(start, end)` is called when content (bytes `start` to `end`, exclusive) is about to
    be sent by a GET, before storage is opened: it may raise to refuse (share links count
    downloads there).
    Raises Quarantined for an infected file (every caller checks first; this is the last line).
    """
    if file.state == File.State.INFECTED:
        raise Quarantined(file.pk)
    size = file.size
    etag = blob_etag(file.blob)
    modified = file.modified_at.timestamp()
    last_modified = http_date(modified)
    if disposition == "inline" and not inline_allowed(file.content_type):
        disposition = "attachment"

    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        not_modified = _etag_matches(if_none_match, etag, weak=True)
    else:
        since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
        not_modified = since is not None and int(modified) <= since
    if not_modified:
        response = HttpResponse(status=304)
        _common_headers(
            response, file=file, etag=etag, last_modified=last_modified, disposition=disposition
        )
        return response

    byte_range = parse_range(request.headers.get("Range", ""), size)
    if_range = request.headers.get("If-Range")
    if byte_range is not None and if_range is not None:
        if if_range.strip().startswith('"') or if_range.strip().startswith("W/"):
            still_valid = if_range.strip() == etag
        else:
            since = parse_http_date_safe(if_range)
            still_valid = since is not None and int(modified) == since
        if not still_valid:
            byte_range = None

    if byte_range == "unsatisfiable":
        response = HttpResponse(status=416)
        _common_headers(
            response, file=file, etag=etag, last_modified=last_modified, disposition=disposition
        )
        response["Content-Range"] = f"bytes */{size}"
        return response

    start, end = byte_range if byte_range is not None else (0, size)
    status = 206 if byte_range is not None else 200
    if request.method == "HEAD":
        response = HttpResponse(status=status)
    else:
        if admit is not None:
            admit(start, end)
        # The decrypted segments (256 KiB) go out as they come: joining them into bigger
        # writes measured twice the CPU per GiB (the copy costs more than the decryption).
        response = StreamingHttpResponse(
            metrics.CountedStream(iter_content(file.blob, start, end), "content"), status=status
        )
    response["Content-Type"] = served_content_type(file.content_type)
    response["Content-Length"] = str(end - start)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response["Content-Disposition"] = content_disposition(disposition, file.name)
    _common_headers(
        response, file=file, etag=etag, last_modified=last_modified, disposition=disposition
    )
    return response


def thumbnail_size_or_none(raw) -> int | None:
    """`size` from a query string: one of the thumbnail sizes (default the smallest) or None if
    invalid."""
    if raw in (None, ""):
        return THUMBNAIL_SIZES[0]
    try:
        size = int(raw)
    except (TypeError, ValueError):
        return None
    return size if size in THUMBNAIL_SIZES else None


def thumbnail_response(request, *, file, size: int):
    """The stored thumbnail of `file` (already access-checked) or None when there is none.

    Infected files show nothing, not even a preview.
    """
    if file.state == File.State.INFECTED:
        return None
    thumb = Thumbnail.objects.select_related("blob").filter(file=file, size=size).first()
    if thumb is None:
        return None
    etag = blob_etag(thumb.blob, prefix="t")
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    elif request.method == "HEAD":
        response = HttpResponse()
    else:
        response = StreamingHttpResponse(
            metrics.CountedStream(iter_content(thumb.blob), "thumbnail")
        )
    response["Content-Type"] = thumb.content_type
    if response.status_code == 200:
        response["Content-Length"] = str(thumb.blob.size)
    response["ETag"] = etag
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response

"""The upload intake as the API answers it: its typed errors as API errors, the parser that
declares the multipart endpoints, and the checksum headers of `POST /api/v1/files/`.

Used by the files API and by quick send (`sharing.api.views.SendView`); the upload links of the
sharing app map the same errors to their own public answers (sharing/upload_views.py).
"""

import base64
import binascii
import re
from contextlib import contextmanager

from django.utils.translation import gettext as _
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser

from files import intake
from locker.errors import ErrorCode


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = ErrorCode.TOO_LARGE


class InsufficientStorage(exceptions.APIException):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_code = ErrorCode.QUOTA_EXCEEDED


class TooManyUploads(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = ErrorCode.TOO_MANY_UPLOADS


class LengthRequired(exceptions.APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_code = ErrorCode.LENGTH_REQUIRED


class UploadGone(exceptions.APIException):
    """The upload's reservation was cancelled (by its owner, a revoked link) or reclaimed."""

    status_code = status.HTTP_410_GONE
    default_code = ErrorCode.GONE


@contextmanager
def intake_errors():
    """The intake's typed errors (files.intake) as the API's answers."""
    try:
        yield
    except intake.LengthRequired as exc:
        raise LengthRequired(exc.message) from None
    except intake.TooLarge as exc:
        raise PayloadTooLarge(exc.message) from None
    except intake.NotMultipart as exc:
        raise exceptions.UnsupportedMediaType(exc.content_type) from None
    except (intake.OverQuota, intake.LongerThanDeclared) as exc:
        raise InsufficientStorage(exc.message) from None
    except intake.Cancelled as exc:
        raise UploadGone(exc.message) from None
    except intake.InvalidFileName as exc:
        raise serializers.ValidationError({"file": exc.messages}) from None
    except intake.NoFileSent as exc:
        raise serializers.ValidationError({"file": [exc.message]}) from None
    except intake.IntakeError as exc:  # Unreadable, Interrupted, ClientGone
        raise exceptions.ParseError(exc.message) from None


class MultipartIntakeParser(BaseParser):
    """Declares that an upload endpoint takes multipart/form-data (DRF's content negotiation
    and the OpenAPI schema). The view reads the body through files.intake.multipart_intake,
    never through `request.data`: this parser refuses to be the one that reads it."""

    media_type = "multipart/form-data"

    def parse(self, stream, media_type=None, parser_context=None):
        raise exceptions.ParseError(_("This endpoint does not accept multipart data."))


_DIGEST_ITEM = re.compile(r"^\s*sha-256\s*=\s*:?([A-Za-z0-9+/=]+):?\s*$", re.IGNORECASE)


def expected_sha256_from_headers(meta) -> str | None:
    """The SHA-256 a client announced in `Content-Digest: sha-256=:<b64>:` or
    `Digest: sha-256=<b64>`, as lowercase hex; None when it announced none.

    Raises ValueError for a sha-256 entry that is not valid base64 of 32 bytes.
    """
    for header in ("HTTP_CONTENT_DIGEST", "HTTP_DIGEST"):
        raw = meta.get(header)
        if not raw:
            continue
        for item in raw.split(","):
            match = _DIGEST_ITEM.match(item)
            if not match:
                continue
            try:
                digest = base64.b64decode(match.group(1), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(header) from None
            if len(digest) != 32:
                raise ValueError(header)
            return digest.hex()
    return None


_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def normalise_hex_sha256(value: str) -> str:
    value = value.strip()
    if not _HEX_SHA256.match(value):
        raise ValueError(value)
    return value.lower()

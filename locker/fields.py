"""Serializer fields shared by the apps' APIs."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from locker.env import MAX_BYTES, SizeTooLarge, parse_size

SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*[KMGTkmgt]?([Ii]?[Bb])?\s*$"


def size_schema(*, minimum: int, description: str, example: str) -> dict:
    """The OpenAPI schema of a ByteSizeField: an integer, or a size string."""
    return {
        "oneOf": [
            {"type": "integer", "minimum": minimum, "maximum": MAX_BYTES},
            {"type": "string", "pattern": SIZE_PATTERN},
        ],
        "description": description,
        "example": example,
    }


class ByteSizeField(serializers.Field):
    """A number of bytes, or a size string such as "512M" or "10G" (binary units, read by
    `locker.env.parse_size`), at most MAX_BYTES. A subclass declares its schema
    (`@extend_schema_field(size_schema(...))`), may word its messages, and may set
    `reject_negative` (a negative number is then "invalid" rather than left to the service)."""

    reject_negative = False
    default_error_messages = {
        "invalid": _("Give a number of bytes or a size such as 512M."),
        "too_large": _("A size can be at most {max} bytes (8 EiB)."),
    }

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            if self.reject_negative and data < 0:
                self.fail("invalid")
            if data > MAX_BYTES:
                self.fail("too_large", max=MAX_BYTES)
            return data
        if isinstance(data, str):
            try:
                return parse_size(data)
            except SizeTooLarge:
                self.fail("too_large", max=MAX_BYTES)
            except ValueError:
                self.fail("invalid")
        self.fail("invalid")

    def to_representation(self, value):
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time that says its time zone (`Z` or an offset). DRF would read
    one without it in the server's TIME_ZONE, which the client cannot know: refused."""

    default_error_messages = {
        "naive": _(
            "Give the date and time with a time zone, such as 2030-01-31T18:00:00Z or "
            "2030-01-31T19:00:00+01:00."
        ),
    }

    def enforce_timezone(self, value):
        if timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)

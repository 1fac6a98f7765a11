"""Names of files and folders: what we accept, how we compare them, how we avoid clashes.

Policy (documented in docs/files.md):
- A name is normalised to Unicode NFC and otherwise kept exactly as given: spaces at either end,
  `CON`, names made only of punctuation, right-to-left override and other bidi controls are all
  stored faithfully, because desktop systems accept them. Escaping on output is the job of
  templates (autoescape) and of the download headers (RFC 6266 percent-encoding).
- Refused with a clear message: the empty name, a name of only whitespace, `.` and `..`, `/`,
  NUL and every other control character (C0, DEL, C1), the line and paragraph separators
  (U+2028, U+2029), lone surrogates, and names longer than 255 bytes in UTF-8.
- Uniqueness inside a folder is case-insensitive: `name_key()` is the case-folded NFC form.
"""

import re
import unicodedata
from collections.abc import Container

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_NAME_BYTES = 255

# C0 controls, DEL, C1 controls, and the two Unicode characters that act as line breaks.
_FORBIDDEN_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class InvalidName(ValidationError):
    """A name that cannot be stored; the message says why, for a person."""


def validate_name(raw: object) -> str:
    """Return the NFC form of `raw` or raise InvalidName explaining what is wrong."""
    if not isinstance(raw, str):
        raise InvalidName(_("A name must be text."), code="invalid")
    name = unicodedata.normalize("NFC", raw)
    if name == "":
        raise InvalidName(_("A name cannot be empty."), code="empty")
    if name.strip() == "":
        raise InvalidName(_("A name cannot consist only of spaces."), code="blank")
    if name in (".", ".."):
        raise InvalidName(_("“.” and “..” are not allowed as names."), code="dots")
    if "/" in name:
        raise InvalidName(_("A name cannot contain “/”."), code="slash")
    if "\x00" in name:
        raise InvalidName(_("A name cannot contain the NUL character."), code="nul")
    if _FORBIDDEN_CHARS.search(name):
        raise InvalidName(
            _("A name cannot contain control characters such as line breaks or tabs."),
            code="control",
        )
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidName(_("A name must be valid Unicode text."), code="encoding") from None
    if len(encoded) > MAX_NAME_BYTES:
        raise InvalidName(
            _("A name can be at most %(max)d bytes long in UTF-8 (this one is %(len)d).")
            % {"max": MAX_NAME_BYTES, "len": len(encoded)},
            code="too_long",
        )
    return name


def name_key(name: str) -> str:
    """The comparison key: two names clash in a folder when their keys are equal."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())


def split_extension(name: str) -> tuple[str, str]:
    """("report", ".pdf") for "report.pdf"; dot-files and names without a dot have no extension."""
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1:
        return name, ""
    return name[:dot], name[dot:]


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")[:max_bytes]
    return encoded.decode("utf-8", errors="ignore")


def unique_name(existing_keys: Container[str], name: str) -> str:
    """`name`, or "stem (1).ext", "stem (2).ext"… whose key is not in `existing_keys`.

    The stem is shortened when needed so that the result still fits in MAX_NAME_BYTES.
    """
    if name_key(name) not in existing_keys:
        return name
    stem, ext = split_extension(name)
    counter = 1
    while True:
        suffix = f" ({counter}){ext}"
        room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
        candidate = _truncate_utf8(stem, max(room, 0)) + suffix
        if name_key(candidate) not in existing_keys:
            return candidate
        counter += 1

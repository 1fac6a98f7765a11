"""A bounded, linear parser for header values with parameters (`type; name="value"; …`).

Why not Django's `parse_header_parameters`: it hands the value to the standard library's e-mail
parser, which copies the rest of the value at every `;` and recounts quotes from the start at
every `;` inside a quoted string, so its cost grows with the square of the value's length
(a 0.6 MB multipart part header took seconds of CPU). This one reads each character a bounded
number of times and refuses, before doing any work, a value longer than `max_length` or with
more than `max_parameters` parameters.

Understood: tokens, quoted strings (`\\"` and `\\\\` unescaped, as the e-mail parser does) and
RFC 2231/5987 extended values (`filename*=UTF-8''%E2%82%AC`), which win over the plain form of
the same parameter. RFC 2231 continuations (`name*0=`) are not joined: browsers never send them.
"""

import re
from urllib.parse import unquote_to_bytes

MAX_LENGTH = 8 * 1024  # gunicorn's own limit for one header line is 8190 bytes
MAX_PARAMETERS = 32
MAX_PARAMETER_LENGTH = 4 * 1024

# One `; name=value` step. Every branch is anchored on a character class that excludes what
# ends it, so there is no backtracking: a match costs the length of what it covers.
_PARAMETER = re.compile(
    r';[ \t]*(?P<name>[^;=" \t]*)[ \t]*'
    r'(?:=[ \t]*(?:"(?P<quoted>(?:[^"\\]|\\.)*)(?P<close>"?)|(?P<token>[^;"]*)))?'
    r"(?P<rest>[^;]*)",
    re.DOTALL,
)
_ESCAPE = re.compile(r'\\([\\"])')


class HeaderError(ValueError):
    """The header value is malformed or beyond a limit (the message says which, in English)."""


def parse_header_parameters(
    value: str,
    *,
    max_length: int = MAX_LENGTH,
    max_parameters: int = MAX_PARAMETERS,
    max_parameter_length: int = MAX_PARAMETER_LENGTH,
) -> tuple[str, dict[str, str]]:
    """`'form-data; name="file"; filename="a.txt"'` → `("form-data", {"name": "file", …})`.

    The first item is lower-cased, as are parameter names. Raises HeaderError for a value
    longer than `max_length`, more than `max_parameters` `;`-separated items, a parameter value
    longer than `max_parameter_length`, an unterminated quoted string, or an extended value in
    an unknown character set.
    """
    if len(value) > max_length:
        raise HeaderError("a header value is too long")
    first, _sep, _rest = value.partition(";")
    key = first.strip().lower()
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    pos = len(first)
    count = 0
    while pos < len(value):
        count += 1
        if count > max_parameters:
            raise HeaderError("a header value has too many parameters")
        match = _PARAMETER.match(value, pos)  # value[pos] is a ";": this always matches
        pos = match.end()
        name = match.group("name").lower()
        if match.group("quoted") is not None:
            if not match.group("close"):
                raise HeaderError("a quoted header parameter is not closed")
            raw = _ESCAPE.sub(r"\1", match.group("quoted"))
        elif match.group("token") is not None:
            raw = match.group("token").strip(" \t")
        else:
            raw = ""  # a name without `=`, as the e-mail parser reads it
        if not name:
            continue  # an empty item (`;;`)
        if len(raw) > max_parameter_length:
            raise HeaderError("a header parameter is too long")
        if name.endswith("*"):
            extended[name[:-1]] = _decode_extended(raw)
        else:
            params[name] = raw
    params.update(extended)
    return key, params


def _decode_extended(raw: str) -> str:
    """RFC 2231/5987 `charset'language'percent-encoded` → text."""
    charset, quote, rest = raw.partition("'")
    if not quote:
        return raw
    _language, quote, encoded = rest.partition("'")
    if not quote:
        return raw
    try:
        # bytes.decode refuses codecs that are not text encodings (rot13, zlib…).
        return unquote_to_bytes(encoded).decode(charset or "us-ascii", errors="replace")
    except (LookupError, UnicodeError):
        raise HeaderError(f"unknown character set {charset[:40]!r} in a header") from None

"""Strict parsers for settings read from the environment.

Each helper refuses values it does not understand instead of guessing, so a typo in a
deployment fails loudly at start-up rather than silently running with a default. The size and
byte-count parsers also read client input (quotas, link limits, Content-Length, Upload-Length):
they refuse what does not fit a database BigIntegerField (MAX_BYTES) before it gets near one.
"""

import os
import re
from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# The largest number of bytes Locker stores anywhere: the range of a database BigIntegerField.
MAX_BYTES = 2**63 - 1


class SizeTooLarge(ValueError):
    """A well-formed size above MAX_BYTES."""


def env_str(name: str, default: str = "") -> str:
    """A string setting. When `NAME` is unset (or empty) and `NAME_FILE` names a file, the file's
    content is the value (surrounding whitespace dropped): secrets kept in files, such as Docker
    and compose secrets. Both set is refused, since either could be the one meant.
    """
    value = os.environ.get(name)
    file_path = os.environ.get(f"{name}_FILE")
    if not file_path:
        return default if value is None else value
    if value:
        raise ImproperlyConfigured(f"{name} and {name}_FILE are both set; set only one of them.")
    try:
        with open(file_path, encoding="utf-8") as fh:
            return fh.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ImproperlyConfigured(
            f"{name}_FILE is {file_path!r}, which cannot be read: {reason}."
        ) from None


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """One of `choices`; anything else is refused with a sentence naming them."""
    value = env_str(name, default)
    if value not in choices:
        expected = ", ".join(repr(choice) for choice in choices[:-1]) + f" or {choices[-1]!r}"
        raise ImproperlyConfigured(f"{name} must be {expected}, not {value!r}.")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def env_port(name: str = "PORT", default: int = 8000) -> int:
    port = env_int(name, default)
    if not 1 <= port <= 65535:
        raise ImproperlyConfigured(
            f"{name} must be a port number from 1 to 65535, not {os.environ.get(name)!r}."
        )
    return port


def local_url(bind: str, port: int) -> str:
    """The URL of a server listening on bind:port, as a browser on this machine reaches it."""
    host = bind.strip("[]")
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding to it
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def base_url() -> str:
    """LOCKER_BASE_URL, else the URL `make run` listens on (LOCKER_BIND, PORT): links work."""
    return (
        env_str("LOCKER_BASE_URL") or local_url(env_str("LOCKER_BIND", "127.0.0.1"), env_port())
    ).rstrip("/")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def parse_size(raw: str) -> int:
    """'10G', '512M', '1024', '1.5G' -> bytes (binary units). '0' stays 0.

    Exact for whole numbers of any length (no float rounding); SizeTooLarge above MAX_BYTES.
    """
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?\s*", raw.upper())
    if not match:
        raise ValueError(f"not a size: {raw!r}")
    value = Decimal(match.group(1)) * _SIZE_UNITS[match.group(2)]
    if value > MAX_BYTES:
        raise SizeTooLarge(f"larger than {MAX_BYTES} bytes: {raw[:40]!r}")
    return int(value)


def parse_byte_count(raw: str) -> int:
    """A whole number of bytes from a header such as Content-Length or Upload-Length.

    ValueError unless ASCII digits ("²" is a digit to str.isdigit, not to int); SizeTooLarge
    above MAX_BYTES, judged by the number of digits before any conversion (int() refuses more
    than 4,300 digits, and one header line may carry 8,000).
    """
    raw = raw.strip()
    if not raw or not raw.isascii() or not raw.isdigit():
        raise ValueError("not a whole number")
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(MAX_BYTES)) or int(digits) > MAX_BYTES:
        raise SizeTooLarge("larger than Locker can store")
    return int(digits)


def env_size(name: str, default: str) -> int:
    raw = os.environ.get(name, default)
    try:
        return parse_size(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a size such as 512M or 10G, not {raw!r}."
        ) from None


def parse_duration(raw: str | int) -> int:
    """'30m', '12h', '7d', '2w' or a number of seconds -> seconds."""
    if isinstance(raw, int):
        if raw < 0:
            raise ValueError("negative duration")
        return raw
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", str(raw).lower())
    if not match:
        raise ValueError(f"not a duration: {raw!r}")
    return int(match.group(1)) * _DURATION_UNITS.get(match.group(2) or "s", 1)


def env_duration(name: str, default: str) -> int:
    raw = os.environ.get(name, default)
    try:
        return parse_duration(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a duration such as 30m, 12h or 7d, not {raw!r}."
        ) from None


def parse_free_space(raw: str) -> tuple[int, float]:
    """'1G' → (1073741824, 0.0); '2%' → (0, 2.0): a size, or a share of the file system."""
    text = str(raw).strip()
    if text.endswith("%"):
        percent = float(text[:-1].strip())  # ValueError when not a number
        if not 0 <= percent < 100:
            raise ValueError(f"not a percentage: {raw!r}")
        return 0, percent
    return parse_size(text), 0.0


def env_free_space(name: str, default: str) -> str:
    """A free-space threshold (`1G` or `2%`), checked now, kept as written."""
    raw = os.environ.get(name, default)
    try:
        parse_free_space(raw)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a size such as 1G or a percentage such as 2%, not {raw!r}."
        ) from None
    return raw

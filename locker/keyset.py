"""Keyset pages: a page starts right after (or ends right before) a row, named by the values of
the listing's ordering columns in that row, so every page costs the same however far into the
list it is (an OFFSET makes the database walk every row before the page).

A listing's ordering is a tuple of column names, each ascending or descending (`-size`), that
ends with a unique column, so that ties are broken and "after this row" is exact. The columns of
every list we paginate are NOT NULL (`None` in a row's key is refused), so plain comparisons
hold. The seek condition is the ordering tuple expanded into `Q` objects that respect mixed
directions, plus a redundant bound on the leading column (`size <= x` for `-size`) that lets the
database scan an index range from the cursor on.

A cursor (the position as it goes in a URL) is the listing's identity (what it lists, in which
order), the filters of the request it was made for (`?search=`, `?folder=`, … as a digest), the
row's values and a direction, as JSON encrypted and authenticated with AES-GCM under a key
derived from SECRET_KEY for this purpose alone: the row's values (a file's name, a time) are
nobody's business but the server's, even the client's that holds the cursor (finding L1). Every
query is scoped to the caller whatever the cursor says, so a forged one could reveal nothing;
it is refused all the same (`InvalidCursor`) rather than interpreted, as is a cursor of another
list or another order (`ForeignCursor`) or of other filters (`OtherFilters`, finding L3): values
of the wrong kind never reach the database, and a page never seeks with another search's row.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import uuid
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import reduce
from operator import or_
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db.models import Q, QuerySet

PURPOSE = b"locker.keyset.cursor"  # the key's label, and the associated data of every cursor
MAX_CURSOR = 4096  # characters: a longer one is refused unread


class InvalidCursor(ValueError):
    """A cursor that is malformed or tampered with (or made for another list or order)."""


class ForeignCursor(InvalidCursor):
    """A good cursor, made for another list or another order of it."""


class OtherFilters(InvalidCursor):
    """A good cursor of this list, made for another search or other filters."""


@dataclass(frozen=True)
class Position:
    """Where a page starts: after the row with `values` (or before it, `backwards`)."""

    values: tuple
    backwards: bool = False


class KeysetListing(Protocol):
    """What the API paginator needs of a list that is not a plain QuerySet (the trash)."""

    keyset_name: str

    def keyset_page(self, position: Position | None, *, limit: int) -> list: ...

    def keyset_values(self, row) -> tuple: ...


# --- The condition -------------------------------------------------------------------------


def _column(term: str) -> tuple[str, bool]:
    return term.removeprefix("-"), term.startswith("-")


def seek_condition(ordering: Sequence[str], position: Position) -> Q:
    """Rows strictly after `position.values` in `ordering` (strictly before when backwards).

    For `(-size, name_key, id)` after `(s, n, i)`: `size <= s AND (size < s OR (size = s AND
    name_key > n) OR (size = s AND name_key = n AND id > i))`.
    """
    values = position.values
    if len(values) != len(ordering):
        raise ForeignCursor("The cursor does not match the listing's order.")
    clauses = []
    for index, term in enumerate(ordering):
        name, descending = _column(term)
        lookup = "lt" if descending != position.backwards else "gt"
        equal = {_column(ordering[j])[0]: values[j] for j in range(index)}
        clauses.append(Q(**equal, **{f"{name}__{lookup}": values[index]}))
    lead, descending = _column(ordering[0])
    bound = Q(**{f"{lead}__{'lte' if descending != position.backwards else 'gte'}": values[0]})
    return bound & reduce(or_, clauses)


def reversed_ordering(ordering: Sequence[str]) -> tuple[str, ...]:
    return tuple(name if desc else f"-{name}" for name, desc in map(_column, ordering))


# --- Plain querysets -----------------------------------------------------------------------


def queryset_ordering(queryset: QuerySet) -> tuple[str, ...]:
    """The queryset's ordering as column names (`pk` spelled as the primary key's name),
    checked: plain columns of the model, the last one unique."""
    query = queryset.query
    terms = query.order_by or (query.get_meta().ordering if query.default_ordering else ())
    meta = queryset.model._meta
    ordering = []
    for term in terms:
        if not isinstance(term, str) or "__" in term or term.lstrip("-") in ("?", ""):
            raise ValueError(f"A keyset needs plain column names to order by, not {term!r}.")
        name, descending = _column(term)
        field = meta.pk if name == "pk" else meta.get_field(name)
        if field.is_relation or field.null:
            raise ValueError(f"{meta.label}.{name} cannot order a keyset (a relation or NULL).")
        ordering.append(f"-{field.name}" if descending else field.name)
    if not ordering:
        raise ValueError(f"{meta.label}: a keyset needs an ordering.")
    last = meta.get_field(_column(ordering[-1])[0])
    if not (last.primary_key or last.unique):
        raise ValueError(f"{meta.label}: a keyset's ordering must end with a unique column.")
    return tuple(ordering)


class QuerySetListing:
    """A QuerySet as a keyset listing: its own ordering, read from it."""

    def __init__(self, queryset: QuerySet):
        self.queryset = queryset
        self.ordering = queryset_ordering(queryset)
        self.keyset_name = f"{queryset.model._meta.label_lower}:{','.join(self.ordering)}"

    def keyset_page(self, position: Position | None, *, limit: int) -> list:
        return keyset_rows(self.queryset, self.ordering, position, limit=limit)

    def keyset_values(self, row) -> tuple:
        return tuple(getattr(row, _column(term)[0]) for term in self.ordering)


def keyset_rows(queryset: QuerySet, ordering: Sequence[str], position, *, limit: int) -> list:
    """Up to `limit` rows from `position` on, in the listing's order (for a backwards position,
    the `limit` rows just before it, still in the listing's order)."""
    if position is None:
        return list(queryset.order_by(*ordering)[:limit])
    queryset = queryset.filter(seek_condition(ordering, position))
    if not position.backwards:
        return list(queryset.order_by(*ordering)[:limit])
    rows = list(queryset.order_by(*reversed_ordering(ordering))[:limit])
    rows.reverse()
    return rows


def listing_for(source) -> KeysetListing:
    if isinstance(source, QuerySet):
        return QuerySetListing(source)
    return source


# --- The cursor in a URL -------------------------------------------------------------------


def _pack(value) -> list:
    # Tagged, so that a value comes back with its type (and a datetime with its microseconds,
    # which DjangoJSONEncoder would cut).
    if value is None:
        raise ValueError("A keyset column is NULL in a row: its list cannot be paginated so.")
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["u", str(value)]
    if isinstance(value, bool):
        return ["b", value]
    if isinstance(value, int):
        return ["i", value]
    if isinstance(value, str):
        return ["s", value]
    raise TypeError(f"A keyset cannot hold a {type(value).__name__}.")


_UNPACK = {
    "t": (str, datetime.fromisoformat),
    "d": (str, date.fromisoformat),
    "u": (str, uuid.UUID),
    "b": (bool, bool),
    "i": (int, int),
    "s": (str, str),
}


def _unpack(item: Any):
    if not (isinstance(item, list) and len(item) == 2 and item[0] in _UNPACK):
        raise InvalidCursor
    kind, convert = _UNPACK[item[0]]
    value = item[1]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidCursor
    if kind is str and "\x00" in value:
        raise InvalidCursor  # PostgreSQL refuses a NUL in a parameter
    try:
        return convert(value)
    except ValueError:
        raise InvalidCursor from None


@functools.lru_cache(maxsize=8)
def _cipher(secret_key: str) -> AESGCM:
    key = hmac.new(secret_key.encode(), PURPOSE, hashlib.sha256).digest()
    return AESGCM(key)


def _ciphers() -> Iterable[AESGCM]:
    """The current key's cipher, then those of SECRET_KEY_FALLBACKS (a cursor made before the
    key was rotated still works for as long as its old key is kept)."""
    yield _cipher(settings.SECRET_KEY)
    for fallback in getattr(settings, "SECRET_KEY_FALLBACKS", ()):
        yield _cipher(fallback)


def seal(payload: dict) -> str:
    """`payload` as a cursor: JSON, deflated when that is shorter, then AES-GCM (a random
    96-bit nonce), URL-safe base64 without padding."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    deflated = zlib.compress(raw, 9)
    plain = b"z" + deflated if len(deflated) < len(raw) else b"j" + raw
    nonce = os.urandom(12)
    sealed = nonce + _cipher(settings.SECRET_KEY).encrypt(nonce, plain, PURPOSE)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def unseal(text: str) -> Any:
    """The payload of a cursor made by seal(); InvalidCursor for anything else."""
    if len(text) > MAX_CURSOR:
        raise InvalidCursor("The cursor is not valid.")
    try:
        sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursor("The cursor is not valid.") from None
    if len(sealed) < 12 + 16 + 1:
        raise InvalidCursor("The cursor is not valid.")
    for cipher in _ciphers():
        try:
            plain = cipher.decrypt(sealed[:12], sealed[12:], PURPOSE)
            break
        except InvalidTag:
            continue
    else:
        raise InvalidCursor("The cursor is not valid.")
    try:
        # Bounded: what a 4 KB cursor deflates to stays small, but read no more than needed.
        raw = plain[1:]
        if plain[:1] == b"z":
            raw = zlib.decompressobj().decompress(raw, 64 * 1024)
        return json.loads(raw)
    except (zlib.error, ValueError, UnicodeDecodeError):
        raise InvalidCursor("The cursor is not valid.") from None


def filters_digest(filters: Mapping[str, Sequence[str]] | None) -> str:
    """What a cursor keeps of the request's filters (query parameters but the cursor and the
    page size): a digest, enough to tell that they changed."""
    items = sorted((str(key), [str(v) for v in values]) for key, values in (filters or {}).items())
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:24]


def cursor_encode(
    listing_name: str, position: Position, filters: Mapping[str, Sequence[str]] | None = None
) -> str:
    payload = {"l": listing_name, "v": [_pack(v) for v in position.values]}
    payload["f"] = filters_digest(filters)
    if position.backwards:
        payload["b"] = 1
    return seal(payload)


def cursor_decode(
    listing_name: str, text: str, filters: Mapping[str, Sequence[str]] | None = None
) -> Position:
    """The position a cursor names, for this listing and these filters; InvalidCursor when it
    was not made by us, ForeignCursor when made for another listing or order, OtherFilters
    when made for other filters."""
    payload = unseal(text)
    if not isinstance(payload, dict) or not isinstance(payload.get("v"), list):
        raise InvalidCursor("The cursor is not valid.")
    if payload.get("l") != listing_name:
        raise ForeignCursor("The cursor was made for another list or sort order.")
    if payload.get("f") != filters_digest(filters):
        raise OtherFilters("The cursor was made for another search or other filters.")
    try:
        values = tuple(_unpack(item) for item in payload["v"])
    except InvalidCursor:
        raise InvalidCursor("The cursor is not valid.") from None
    return Position(values=values, backwards=payload.get("b") == 1)

"""`Idempotency-Key` on the API's requests that create something (docs/api-idempotency.md).

A client that did not get the answer to a POST (timeout, dropped connection) sends it again with
the same key: the first answer comes back (status, body, Location…) and nothing is created a
second time. The same key with another request is refused (422); while the first request with a
key still runs, another one with it is refused (409) rather than run twice at once.

The keys live in the database (`locker.models.IdempotentRequest`), so every node sees them: a
claim is one INSERT on a unique column, committed at once, so two nodes cannot both win it. A
claim left behind by a crashed process is taken over after LOCKER_IDEMPOTENCY_CLAIM_TIMEOUT;
answers are kept LOCKER_IDEMPOTENCY_TTL, then deleted by a periodic job
(`idempotent_requests_prune`).

Used as a decorator on a view's create method: `@idempotent()`, or `@idempotent(streamed=True)`
for the upload endpoints, whose body is streamed to storage and never read twice (their
fingerprint is made from headers: see `request_fingerprint`).
"""

import base64
import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from locker.jobs import JobRun, delete_oldest_in_batches
from locker.models import IdempotentRequest
from storage import crypto, masterkeys

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Printable ASCII, not starting with a space (fullmatch: no trailing newline either).
_KEY = re.compile(r"[\x21-\x7e][\x20-\x7e]*")
SEALED_PURPOSE = "locker idempotent answer"
# The headers of an answer that a retry gets again (the others are made anew for each answer).
KEPT_HEADERS = (
    "Content-Type",
    "Location",
    "Upload-Offset",
    "Upload-Expires",
    "Tus-Resumable",
    "Locker-File-Id",
)
# What identifies a streamed upload besides its method, path and query (the multipart boundary,
# in Content-Type, is chosen anew by most clients for each attempt, so it is left out).
STREAMED_HEADERS = (
    "Content-Length",
    "Digest",
    "Content-Digest",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Checksum",
    "Upload-Concat",
)


class InvalidKey(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_idempotency_key"


class KeyInUse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_key_in_use"
    default_detail = gettext_lazy(
        "A request with this Idempotency-Key is still being handled: wait for its answer, "
        "then send it again to get that answer."
    )


class KeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = "idempotency_key_reused"
    default_detail = gettext_lazy(
        "This Idempotency-Key was already used for a different request; use a new key for a "
        "new request."
    )


class AnswerNotKept(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotent_answer_not_kept"
    default_detail = gettext_lazy(
        "A request with this Idempotency-Key succeeded, but its answer was too large to keep: "
        "look for what it created instead of sending it again."
    )


@dataclass(frozen=True)
class Claim:
    """This request holds the key: it runs, then finishes (keeps its answer) or releases it."""

    pk: int
    key_hash: str
    claimed_at: datetime


@dataclass(frozen=True)
class Replay:
    """The answer of the first request with this key, to be given again."""

    status: int
    headers: dict[str, str]
    body: bytes


def key_check(key: str) -> None:
    """Refuse a key that is empty, longer than MAX_KEY_LENGTH or not printable ASCII."""
    if len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidKey(
            _(
                "The Idempotency-Key header must be 1 to %(max)d printable ASCII characters "
                "(a UUID is a good choice)."
            )
            % {"max": MAX_KEY_LENGTH}
        )


def key_hash(*, user_id: int, key: str) -> str:
    """The stored name of a user's key: each user has keys of their own, and the key a client
    chose is not kept."""
    return hashlib.sha256(f"{user_id}\n{key}".encode()).hexdigest()


def _canonical(data) -> bytes:
    if hasattr(data, "lists"):  # a QueryDict (form body): every value of every field
        data = {name: values for name, values in data.lists()}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def _authority(request) -> str:
    """What the request's credential may do: an API token's scopes and the folder it is
    confined to (duck-typed: locker does not import accounts); for a browser session, that
    session (some of its requests need a password typed lately in it). A retry through another
    token of the user replays the answer only when that token has the same rights: an answer
    holding a new secret (a token, a share link) is never given to a token that could not have
    made it (a confined token, fewer scopes), nor to another session (a stolen cookie without
    the password)."""
    auth = getattr(request, "auth", None)
    scopes = getattr(auth, "scopes", None)
    if scopes is None:
        session_key = getattr(getattr(request, "session", None), "session_key", None) or ""
        return "session\n" + hashlib.sha256(session_key.encode()).hexdigest()
    return f"{','.join(sorted(scopes))}\n{getattr(auth, 'folder_id', None) or ''}"


def request_fingerprint(request, *, streamed: bool = False) -> str:
    """SHA-256 of what makes two requests the same: method, path, query, body and the rights
    of the credential that sends it (`_authority`).

    The body is taken parsed (`request.data`, bounded by the API's parsers): the same JSON with
    other spacing or key order is the same request. A streamed upload's body is never read here
    (it goes to storage once, as it arrives): its length and checksum headers stand for it, so
    a retry of an upload is the same request when it sends the same number of bytes and, when
    it names one, the same checksum (docs/api-idempotency.md).
    """
    digest = hashlib.sha256()
    digest.update(_authority(request).encode() + b"\n")
    for part in (request.method, request.path, request.META.get("QUERY_STRING", "")):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\n")
    if streamed:
        for name in STREAMED_HEADERS:
            digest.update(f"{name}: {request.headers.get(name, '')}\n".encode("utf-8", "replace"))
    else:
        digest.update(_canonical(request.data))
    return digest.hexdigest()


def _ttl() -> timedelta:
    return timedelta(seconds=settings.LOCKER_IDEMPOTENCY_TTL)


def idempotency_claim(*, user, key: str, fingerprint: str) -> Claim | Replay:
    """Take `key` for this request, or give the answer its first request got.

    Raises KeyReused (another request with this key), KeyInUse (its first request still runs)
    or AnswerNotKept. The INSERT of a claim is committed at once (views run in autocommit), so
    every process and node sees it; a claim older than LOCKER_IDEMPOTENCY_CLAIM_TIMEOUT that
    never finished (its process died) is taken over by a conditional UPDATE, which only one
    request can win.
    """
    hashed = key_hash(user_id=user.pk, key=key)
    for _attempt in range(3):
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotentRequest.objects.create(
                    key_hash=hashed,
                    user=user,
                    fingerprint=fingerprint,
                    created_at=now,
                    claimed_at=now,
                )
            return Claim(pk=row.pk, key_hash=hashed, claimed_at=now)
        except IntegrityError:
            pass
        row = IdempotentRequest.objects.filter(key_hash=hashed).first()
        if row is None:  # released or deleted meanwhile: claim again
            continue
        if row.created_at <= now - _ttl():
            # Expired but not yet pruned: as if it were not there.
            IdempotentRequest.objects.filter(pk=row.pk, created_at=row.created_at).delete()
            continue
        if row.fingerprint != fingerprint:
            raise KeyReused()
        if row.status is None:
            stale = now - timedelta(seconds=settings.LOCKER_IDEMPOTENCY_CLAIM_TIMEOUT)
            if row.claimed_at > stale:
                raise KeyInUse()
            taken = IdempotentRequest.objects.filter(
                pk=row.pk, status__isnull=True, claimed_at=row.claimed_at
            ).update(claimed_at=now)
            if taken:
                logger.warning("Idempotency-Key claim %s taken over after a timeout", row.pk)
                return Claim(pk=row.pk, key_hash=hashed, claimed_at=now)
            continue
        return _replay(row)
    raise KeyInUse()


def _replay(row: IdempotentRequest) -> Replay:
    if not row.master_key_id:
        raise AnswerNotKept()
    try:
        opened = masterkeys.unseal(
            bytes(row.sealed_answer),
            master_key_id=row.master_key_id,
            purpose=SEALED_PURPOSE,
            context=row.key_hash,
        )
        answer = json.loads(opened)
        return Replay(
            status=row.status,
            headers=dict(answer["headers"]),
            body=base64.b64decode(answer["body"]),
        )
    except (masterkeys.UnknownMasterKeyError, crypto.DecryptionError, KeyError, ValueError):
        logger.warning("The kept answer of Idempotency-Key row %s cannot be opened", row.pk)
        raise AnswerNotKept() from None


def idempotency_finish(*, claim: Claim, status: int, headers: dict[str, str], body: bytes) -> bool:
    """Keep the answer of the request that holds `claim`, sealed (it may carry a new secret).
    An answer larger than LOCKER_IDEMPOTENCY_MAX_ANSWER is not kept: a retry then hears
    AnswerNotKept. Returns False when the claim was taken over meanwhile (this request outlived
    the claim timeout): the answer of the request that took it over wins."""
    master_key_id, sealed = "", b""
    if len(body) <= settings.LOCKER_IDEMPOTENCY_MAX_ANSWER:
        answer = {"headers": headers, "body": base64.b64encode(body).decode("ascii")}
        master_key_id, sealed = masterkeys.seal(
            json.dumps(answer).encode(), purpose=SEALED_PURPOSE, context=claim.key_hash
        )
    return bool(
        IdempotentRequest.objects.filter(
            pk=claim.pk, claimed_at=claim.claimed_at, status__isnull=True
        ).update(status=status, master_key_id=master_key_id, sealed_answer=sealed)
    )


def idempotency_release(*, claim: Claim) -> None:
    """Give the key back (the request failed): a retry with it runs again."""
    IdempotentRequest.objects.filter(
        pk=claim.pk, claimed_at=claim.claimed_at, status__isnull=True
    ).delete()


def idempotent_requests_prune(*, now: datetime | None = None, run: JobRun | None = None) -> int:
    """Delete the keys older than LOCKER_IDEMPOTENCY_TTL, oldest first through the `created_at`
    index, in batches within the job's time budget; returns how many went."""
    cutoff = (now or timezone.now()) - _ttl()
    old = IdempotentRequest.objects.filter(created_at__lt=cutoff).order_by("created_at", "pk")
    return delete_oldest_in_batches(old, run or JobRun())


# --- The way in: a decorator on a view's create method -----------------------------------------

KEY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=(
        "Optional; 1 to 255 printable ASCII characters, chosen by the client (a UUID). Sent "
        "again with the same request within LOCKER_IDEMPOTENCY_TTL (24 h), the first answer "
        "comes back (with `Idempotent-Replayed: true`) and nothing is created twice. The same "
        "key with another request answers 422; while the first request still runs, 409. Keys "
        "are per user. Only successful answers are kept: after an error the key may be used "
        "again."
    ),
)


def _answer_of(response) -> tuple[dict[str, str], bytes]:
    headers = {}
    for name in KEPT_HEADERS:
        if name in response:
            headers[name] = response[name]
    if isinstance(response, Response):
        # Not rendered yet (its Content-Type is still the default): the API renders JSON only.
        body = b"" if response.data is None else JSONRenderer().render(response.data)
        headers.pop("Content-Type", None)
        if body:
            headers["Content-Type"] = "application/json"
    else:
        body = response.content
    return headers, body


def _replay_response(replay: Replay) -> HttpResponse:
    response = HttpResponse(replay.body, status=replay.status)
    if "Content-Type" not in replay.headers:
        del response["Content-Type"]
    for name, value in replay.headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(*, streamed: bool = False):
    """Decorate a view's create method (`def post(self, request, …)`): with an
    `Idempotency-Key` header, the request runs once per key (see the module docstring), and
    its 2xx answer is kept for the retries. Without the header nothing changes. `streamed`:
    the endpoint streams its body (uploads), so the fingerprint is made from headers."""

    def decorate(handler):
        @functools.wraps(handler)
        def wrapper(view, request, *args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None or not getattr(request.user, "is_authenticated", False):
                return handler(view, request, *args, **kwargs)
            key_check(key)
            fingerprint = request_fingerprint(request, streamed=streamed)
            outcome = idempotency_claim(user=request.user, key=key, fingerprint=fingerprint)
            if isinstance(outcome, Replay):
                return _replay_response(outcome)
            try:
                response = handler(view, request, *args, **kwargs)
            except BaseException:
                idempotency_release(claim=outcome)
                raise
            if 200 <= response.status_code < 300 and not response.streaming:
                headers, body = _answer_of(response)
                idempotency_finish(
                    claim=outcome, status=response.status_code, headers=headers, body=body
                )
            else:
                idempotency_release(claim=outcome)
            return response

        return extend_schema(parameters=[KEY_PARAMETER])(wrapper)

    return decorate


def document_idempotency_errors(result, generator, request, public):
    """drf-spectacular hook: every operation that takes `Idempotency-Key` also answers 409 (the
    same key still in use) and 422 (the key used for another request); an operation that has
    its own 409 keeps its description, extended."""
    in_use = "Or a request with the same Idempotency-Key is still being handled."
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            names = {parameter.get("name") for parameter in operation.get("parameters", [])}
            if HEADER not in names:
                continue
            responses = operation.setdefault("responses", {})
            if "409" in responses:
                described = responses["409"].get("description", "").rstrip()
                responses["409"]["description"] = f"{described} {in_use}".strip()
            else:
                responses["409"] = {
                    "description": "A request with the same Idempotency-Key is still being "
                    "handled (or its answer was too large to keep)."
                }
            responses.setdefault(
                "422",
                {"description": "This Idempotency-Key was already used for another request."},
            )
            for code, response in responses.items():
                if code.startswith("2"):
                    response.setdefault("headers", {}).update(_REPLAYED_HEADER)
    return result


_REPLAYED_HEADER = {
    REPLAYED_HEADER: {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present on an answer given again to a retry with the same "
        "Idempotency-Key (nothing was done this time).",
    }
}

"""THE access check of public link routes, for both kinds of link.

Every public route of a share link (`/s/<token>…`: page, download, ZIP, files inside a folder
share, preview, thumbnail, HEAD, Range) and of an upload link (`/r/<token>…`: page, form upload,
tus) starts with `share_resolve` or `upload_link_resolve`. They decide alone whether the link is
usable by this request: token (unknown tokens throttled), expiry, revocation, the kind's own limit
(downloads, files), target in the trash, owner deactivated, password unlock (throttled).

A correct password sets the unlock cookie (`unlock_cookie_set`, its one writer), which
`link_unlocked` (its one reader) accepts for that link until its password changes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from locker import network
from locker.errors import ErrorCode
from locker.throttle import Throttle
from sharing import tokens
from sharing.models import Link, ShareAccess, ShareLink, UploadLink
from sharing.selectors import folder_is_alive, share_target_alive

PASSWORD_HEADER = "HTTP_X_SHARE_PASSWORD"


# --- Why a request is refused ------------------------------------------------------------------


class ShareDenied(Exception):
    """A refusal: its HTTP `status`, a sentence, and the `code` of its JSON answer
    (locker.errors.ErrorCode; None: the status's code)."""

    status = 403
    code: str | None = None

    def __init__(
        self, message: str = "", *, code: str | None = None, retry_after: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        if code is not None:
            self.code = code


class ShareNotFound(ShareDenied):
    status = 404
    code = ErrorCode.NOT_FOUND


class ShareGone(ShareDenied):
    """Expired, revoked, used up, or its file or folder was deleted: the link is dead (`code`
    says which)."""

    status = 410


class SharePasswordRequired(ShareDenied):
    """No valid unlock: the page shows the password form, downloads answer 401."""

    status = 401
    code = ErrorCode.PASSWORD_REQUIRED


class ShareWrongPassword(SharePasswordRequired):
    code = ErrorCode.WRONG_PASSWORD


class ShareThrottled(ShareDenied):
    status = 429
    code = ErrorCode.THROTTLED


def password_throttle() -> Throttle:
    return Throttle(
        "share-password",
        settings.LOCKER_SHARE_PASSWORD_ATTEMPTS,
        settings.LOCKER_SHARE_PASSWORD_WINDOW,
    )


def unknown_token_throttle() -> Throttle:
    # Generous: a person mistyping a link never reaches it; a scanner does within minutes.
    # Only unknown tokens count and are refused: a valid link is never refused because others
    # behind the same address (a company's NAT) opened dead ones.
    return Throttle("share-unknown", 100, 900)


# --- What each kind of link says and checks ----------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """How one kind of link is looked up, when it is used up or its target gone, and the
    sentences its refusals say."""

    related: tuple[str, ...]
    used_up: Callable[[Link], bool]
    target_alive: Callable[[Link], bool]
    revoked: Promise
    expired: Promise
    full: Promise
    unavailable: Promise
    locked: Promise


RULES: dict[str, Rules] = {
    ShareLink.kind: Rules(
        related=("owner", "file", "folder"),
        used_up=lambda share: share.is_exhausted,
        target_alive=share_target_alive,
        revoked=gettext_lazy("This link was revoked by its owner."),
        expired=gettext_lazy("This link has expired."),
        full=gettext_lazy("This link has reached its download limit."),
        unavailable=gettext_lazy("What this link shared is no longer available."),
        locked=gettext_lazy("This link is protected by a password."),
    ),
    UploadLink.kind: Rules(
        related=("owner", "folder"),
        used_up=lambda link: link.is_full,
        target_alive=lambda link: folder_is_alive(link.folder),
        revoked=gettext_lazy("This upload link was revoked by its owner."),
        expired=gettext_lazy("This upload link has expired."),
        full=gettext_lazy("This upload link has received all the files it accepts."),
        unavailable=gettext_lazy("This upload link is no longer available."),
        locked=gettext_lazy("This upload link is protected by a password."),
    ),
}


def link_death(link: Link, *, ignore_limit: bool = False) -> ShareGone | None:
    """Why the link no longer works (its code and sentence), or None while it works."""
    rules = RULES[link.kind]
    if link.is_revoked:
        return ShareGone(str(rules.revoked), code=ErrorCode.REVOKED)
    if link.is_expired:
        return ShareGone(str(rules.expired), code=ErrorCode.EXPIRED)
    if not ignore_limit and rules.used_up(link):
        used_up = (
            ErrorCode.DOWNLOAD_LIMIT_REACHED
            if link.kind == ShareLink.kind
            else ErrorCode.UPLOAD_LIMIT_REACHED
        )
        return ShareGone(str(rules.full), code=used_up)
    if not link.owner.is_active or not rules.target_alive(link):
        return ShareGone(str(rules.unavailable), code=ErrorCode.LINK_UNAVAILABLE)
    return None


def link_dead_reason(link: Link, *, ignore_limit: bool = False) -> str | None:
    """A sentence for the 410 page, or None while the link works."""
    death = link_death(link, ignore_limit=ignore_limit)
    return death.message if death is not None else None


# --- Resume of a counted download (share links) ------------------------------------------------

RESUME_WINDOW = timedelta(seconds=tokens.RESUME_MAX_AGE)
# What one resume credential may deliver beyond one copy of its file: bytes the server sent but
# the client never got (in socket buffers and in flight when a connection broke, and the part
# of its budget a stalled stream had taken), and the overlaps of multi-connection download
# managers. Always less than one more copy: a copied cookie never hands out the file twice.
RESUME_SLACK_MIN = 16 * 1024 * 1024


def resume_budget(size: int) -> int:
    """Bytes a counted download of a file of `size` bytes may deliver in all, its own request and
    its resumes together: one copy, plus a sixteenth of it or 16 MiB, whichever is more, but at
    most half a copy."""
    return size + min(size // 2, max(RESUME_SLACK_MIN, size // 16))


def _range_start(request) -> int | None:
    """Where the request's `Range: bytes=N-…` starts, or None without a plain first-byte range."""
    start = request.headers.get("Range", "").removeprefix("bytes=").split("-", 1)[0].strip()
    return int(start) if start.isascii() and start.isdigit() and len(start) <= 20 else None


def share_resume_credential(
    request, share: ShareLink, *, file=None, start: int | None = None, length: int = 1
) -> ShareAccess | None:
    """The counted download of `file` (any file of the share when None) that this request
    continues, or None when it continues none (then it is a download of its own).

    `start` and `length`: the bytes the response would send (by default, where the request's
    Range starts, and one byte). A resume is a Range past byte 0 that carries the resume cookie
    handed out with that counted download, within RESUME_WINDOW, that starts at or after where
    the download started, and whose `length` bytes still fit the download's budget
    (`resume_budget`; the bytes it has sent, resumes included, are on its row). The credential
    is thus bound to one download and to about one copy of its file: a browser or a download
    manager finishes (or fetches in parallel ranges) what it started; a copied cookie does not
    hand out the file again and again.

    The credential is something only that client has (the cookie of its counted response),
    never its address: with LOCKER_ANONYMISE_IPS everyone in one /24 would otherwise be a
    "resumer", and without it anyone behind the same NAT.
    """
    if start is None:
        start = _range_start(request)
    credential = request.COOKIES.get(tokens.RESUME_COOKIE, "")
    if not start or not credential or len(credential) > 128:
        return None
    accesses = ShareAccess.objects.filter(
        share=share,
        counted=True,
        resume_hash=tokens.hash_token(credential),
        at__gte=timezone.now() - RESUME_WINDOW,
    )
    if file is not None:
        accesses = accesses.filter(file=file)
    access = accesses.select_related("file").first()
    if access is None or access.file is None or start < access.range_start:
        return None
    if access.bytes_sent + length > resume_budget(access.file.size):
        return None
    return access


# --- Passwords and the unlock cookie -----------------------------------------------------------


def link_password_check(request, *, link: Link, password: str) -> bool:
    """Check a password with per-link, per-IP throttling. Raises ShareThrottled.

    The attempt is counted before the password is checked (`Throttle.take`), so simultaneous
    guesses cannot all slip under the limit (checking the count, then the password, then
    counting let 21 of 40 parallel guesses through a limit of 10); a right password gives its
    attempt back, so programs sending `X-Share-Password` with every download are not limited.
    """
    throttle = password_throttle()
    ident = f"{link.kind}:{link.pk}:{network.client_network(request)}"
    with transaction.atomic():
        # Lock the link's row while counting: the database cache's incr is a read then a write,
        # and this makes it exact across processes (Redis's incr is atomic anyway).
        list(type(link).objects.select_for_update().filter(pk=link.pk).values_list("pk"))
        wait = throttle.take(ident)
    if wait is not None:
        raise ShareThrottled(
            _("Too many wrong passwords. Try again in a few minutes."), retry_after=wait
        )
    if check_password(password, link.password_hash):
        throttle.give_back(ident)
        return True
    return False


def link_unlocked(request, *, link: Link) -> bool:
    """A password-protected link is unlocked by the signed cookie or the X-Share-Password header.

    Raises ShareWrongPassword for a wrong header, ShareThrottled when over the limit.
    """
    if not link.password_hash:
        return True
    if tokens.unlock_cookie_valid(
        request.COOKIES.get(tokens.UNLOCK_COOKIE),
        kind=link.kind,
        pk=link.pk,
        password_hash=link.password_hash,
    ):
        return True
    header = request.META.get(PASSWORD_HEADER)
    if header is None:
        return False
    if link_password_check(request, link=link, password=header):
        return True
    raise ShareWrongPassword(_("The password is not correct."))


def unlock_cookie_set(response, request, *, link: Link, token: str):
    """After a correct password: the browser may use this link (only its URLs) for a while."""
    response.set_cookie(
        tokens.UNLOCK_COOKIE,
        tokens.unlock_cookie_value(kind=link.kind, pk=link.pk, password_hash=link.password_hash),
        max_age=tokens.UNLOCK_MAX_AGE,
        path=f"/{link.url_prefix}/{token}",
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return response


# --- The access functions ----------------------------------------------------------------------


def _lookup(request, model: type[Link], token: str) -> Link:
    # An exact match on the hash of the token, through a unique index: a near miss and a wild
    # guess look the same, in status and in time.
    related = RULES[model.kind].related
    # No ORDER BY (the hash is unique): `.first()` would order by the model's ordering, which
    # cost as much to compile as the rest of the query, on every visit of every link.
    matches = model.objects.select_related(*related).filter(token_hash=tokens.hash_token(token))
    link = next(iter(matches.order_by()[:1]), None)
    if link is None:
        # Tokens are 256-bit: the limit only slows scanners down, so it refuses unknown tokens
        # alone and never a valid link.
        ident = network.client_network(request)
        throttle = unknown_token_throttle()
        wait = throttle.retry_after(ident)
        if wait is not None:
            raise ShareThrottled(
                _("Too many requests. Try again in a few minutes."), retry_after=wait
            )
        throttle.hit(ident)
        raise ShareNotFound(_("There is no such link."))
    return link


def _admit(request, link: Link, death: ShareGone | None, *, require_unlock: bool) -> Link:
    if death is not None:
        raise death
    if require_unlock and not link_unlocked(request, link=link):
        raise SharePasswordRequired(str(RULES[link.kind].locked))
    return link


def share_resolve(
    request, token: str, *, require_unlock: bool = True, resumable: bool = False
) -> ShareLink:
    """The share behind `token` if this request may use it; raises a ShareDenied otherwise.

    `resumable`: a single-file download route, where a used-up link still serves the Range
    request that resumes this client's own counted download (see `share_resume_credential`;
    `share_downloads.serve_file` checks it again for the very file and range).
    """
    share = _lookup(request, ShareLink, token)
    death = link_death(share)
    if (
        death is not None
        and resumable
        and link_death(share, ignore_limit=True) is None
        and share_resume_credential(request, share) is not None
    ):
        death = None
    return _admit(request, share, death, require_unlock=require_unlock)


def upload_link_resolve(request, token: str, *, require_unlock: bool = True) -> UploadLink:
    """THE access check of upload links (`/r/<token>…`): the same rules as share links."""
    link = _lookup(request, UploadLink, token)
    return _admit(request, link, link_death(link), require_unlock=require_unlock)

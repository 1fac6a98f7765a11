"""Reads of the sharing app, and THE access check for public share routes: `share_resolve`.

Every public route that serves anything of a share (page, download, ZIP, files inside a folder
share, preview, HEAD, Range) calls `share_resolve` first; it decides alone whether the link is
usable by this request (token, expiry, revocation, download limit, target in the trash, owner
deactivated, password unlock, throttling).
"""

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from files.models import File, Folder
from files.selectors import folder_ancestors
from locker import network
from locker.throttle import Throttle
from sharing import tokens
from sharing.models import ShareAccess, ShareLink, UploadLink

PASSWORD_HEADER = "HTTP_X_SHARE_PASSWORD"


# --- Why a request is refused ------------------------------------------------------------------


class ShareDenied(Exception):
    status = 403

    def __init__(self, message: str = "", *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ShareNotFound(ShareDenied):
    status = 404


class ShareGone(ShareDenied):
    """Expired, revoked, used up, or its file or folder was deleted: the link is dead."""

    status = 410


class SharePasswordRequired(ShareDenied):
    """No valid unlock: the page shows the password form, downloads answer 401."""

    status = 401


class ShareWrongPassword(SharePasswordRequired):
    pass


class ShareThrottled(ShareDenied):
    status = 429


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


def client_ip(request) -> str:
    """The client's address for the access log (throttles count by `network.client_network`)."""
    return network.client_ip(request) or network.UNKNOWN


# --- The target's liveness -------------------------------------------------------------------


def _chain_alive(chain: list[Folder], *, within: Folder | None) -> bool:
    """`chain` (root first, from `folder_ancestors`) reaches a root, holds no trashed folder,
    and, with `within`, passes through it."""
    if not chain or chain[0].parent_id is not None:
        return False
    if any(folder.deleted_at is not None for folder in chain):
        return False
    return within is None or any(folder.pk == within.pk for folder in chain)


def folder_is_alive(folder: Folder, *, within: Folder | None = None) -> bool:
    """True when neither `folder` nor any folder above it is trashed (one query, any depth).

    With `within`, also False when `folder` is not `within` or one of its descendants.
    """
    return _chain_alive(folder_ancestors(folder_id=folder.pk), within=within)


def file_is_alive(file: File, *, within: Folder | None = None) -> bool:
    if file.deleted_at is not None:
        return False
    return _chain_alive(folder_ancestors(folder_id=file.folder_id), within=within)


def share_target_alive(share: ShareLink) -> bool:
    if share.file_id:
        return file_is_alive(share.file)
    return folder_is_alive(share.folder)


def share_dead_reason(share: ShareLink, *, ignore_limit: bool = False) -> str | None:
    """A sentence for the 410 page, or None while the link works."""
    if share.revoked_at is not None:
        return _("This link was revoked by its owner.")
    if share.expires_at is not None and share.expires_at <= timezone.now():
        return _("This link has expired.")
    if (
        not ignore_limit
        and share.max_downloads is not None
        and share.download_count >= share.max_downloads
    ):
        return _("This link has reached its download limit.")
    if not share.owner.is_active or not share_target_alive(share):
        return _("What this link shared is no longer available.")
    return None


RESUME_WINDOW = timedelta(seconds=tokens.RESUME_MAX_AGE)


def _range_start(request) -> int | None:
    """Where the request's `Range: bytes=N-…` starts, or None without a plain first-byte range."""
    start = request.headers.get("Range", "").removeprefix("bytes=").split("-", 1)[0].strip()
    return int(start) if start.isascii() and start.isdigit() and len(start) <= 20 else None


def share_resume_allowed(request, share: ShareLink, *, file: File | None = None) -> bool:
    """Whether this request continues this client's own counted download of `file` (any file
    of the share when None): a Range past byte 0 that carries the resume cookie handed out
    with that download, within RESUME_WINDOW.

    The credential is something only that client has (the cookie of its counted response),
    never its address: with LOCKER_ANONYMISE_IPS everyone in one /24 would otherwise be a
    "resumer", and without it anyone behind the same NAT.
    """
    start = _range_start(request)
    credential = request.COOKIES.get(tokens.RESUME_COOKIE, "")
    if not start or not credential or len(credential) > 128:
        return False
    accesses = ShareAccess.objects.filter(
        share=share,
        counted=True,
        resume_hash=tokens.hash_token(credential),
        at__gte=timezone.now() - RESUME_WINDOW,
    )
    if file is not None:
        accesses = accesses.filter(file=file)
    return accesses.exists()


# --- The access function ---------------------------------------------------------------------


def _password_ok(request, *, kind: str, link, password: str) -> bool:
    """Check a password with per-link, per-IP throttling. Raises ShareThrottled."""
    throttle = password_throttle()
    ident = f"{kind}:{link.pk}:{network.client_network(request)}"
    wait = throttle.retry_after(ident)
    if wait is not None:
        raise ShareThrottled(
            _("Too many wrong passwords. Try again in a few minutes."), retry_after=wait
        )
    if check_password(password, link.password_hash):
        return True
    with transaction.atomic():
        # Lock the link's row while counting: the database cache's incr is a read then a write,
        # and this makes it exact across processes (Redis's incr is atomic anyway).
        list(type(link).objects.select_for_update().filter(pk=link.pk).values_list("pk"))
        throttle.hit(ident)
    return False


def link_unlocked(request, *, kind: str, link) -> bool:
    """A password-protected link is unlocked by the signed cookie or the X-Share-Password header.

    Raises ShareWrongPassword for a wrong header, ShareThrottled when over the limit.
    """
    if not link.password_hash:
        return True
    if tokens.unlock_cookie_valid(
        request.COOKIES.get(tokens.UNLOCK_COOKIE),
        kind=kind,
        pk=link.pk,
        password_hash=link.password_hash,
    ):
        return True
    header = request.META.get(PASSWORD_HEADER)
    if header is None:
        return False
    if _password_ok(request, kind=kind, link=link, password=header):
        return True
    raise ShareWrongPassword(_("The password is not correct."))


def _lookup(request, model, token: str, *, related: tuple[str, ...]):
    # An exact match on the hash of the token, through a unique index: a near miss and a wild
    # guess look the same, in status and in time.
    link = (
        model.objects.select_related(*related).filter(token_hash=tokens.hash_token(token)).first()
    )
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


def share_resolve(
    request, token: str, *, require_unlock: bool = True, resumable: bool = False
) -> ShareLink:
    """The share behind `token` if this request may use it; raises a ShareDenied otherwise.

    `resumable`: a single-file download route, where a used-up link still serves the Range
    request that resumes this client's own counted download (see `share_resume_allowed`;
    `serving.serve_file` checks it again for the very file).
    """
    share = _lookup(request, ShareLink, token, related=("owner", "file", "folder"))
    reason = share_dead_reason(share)
    if (
        reason
        and resumable
        and share_dead_reason(share, ignore_limit=True) is None
        and share_resume_allowed(request, share)
    ):
        reason = None
    if reason:
        raise ShareGone(reason)
    if require_unlock and not link_unlocked(request, kind="share", link=share):
        raise SharePasswordRequired(_("This link is protected by a password."))
    return share


def upload_link_dead_reason(link: UploadLink) -> str | None:
    if link.revoked_at is not None:
        return _("This upload link was revoked by its owner.")
    if link.expires_at is not None and link.expires_at <= timezone.now():
        return _("This upload link has expired.")
    if link.max_files is not None and link.files_count >= link.max_files:
        return _("This upload link has received all the files it accepts.")
    if not link.owner.is_active or not folder_is_alive(link.folder):
        return _("This upload link is no longer available.")
    return None


def upload_link_resolve(request, token: str, *, require_unlock: bool = True) -> UploadLink:
    """THE access check of upload links (`/r/<token>…`): the same rules as share links."""
    link = _lookup(request, UploadLink, token, related=("owner", "folder"))
    reason = upload_link_dead_reason(link)
    if reason:
        raise ShareGone(reason)
    if require_unlock and not link_unlocked(request, kind="upload", link=link):
        raise SharePasswordRequired(_("This upload link is protected by a password."))
    return link


def upload_link_password_check(request, link: UploadLink, password: str) -> bool:
    return _password_ok(request, kind="upload", link=link, password=password)


def share_password_check(request, share: ShareLink, password: str) -> bool:
    """The password form: True when right; raises ShareThrottled when over the limit."""
    return _password_ok(request, kind="share", link=share, password=password)


# --- Inside a folder share -------------------------------------------------------------------


def share_folder_get(share: ShareLink, opaque: str | None) -> Folder:
    """A folder inside a folder share, by its opaque id (None: the shared folder). Else 404."""
    if share.folder_id is None:
        raise Http404
    if not opaque:
        return share.folder
    public_id = tokens.opaque_id_resolve(share.token_hash, opaque)
    folder = (
        Folder.objects.filter(public_id=public_id, owner_id=share.owner_id).first()
        if public_id
        else None
    )
    if folder is None or not folder_is_alive(folder, within=share.folder):
        raise Http404
    return folder


def share_file_get(share: ShareLink, opaque: str) -> File:
    """A file inside a folder share, by its opaque id; 404 for anything outside it."""
    if share.folder_id is None:
        raise Http404
    public_id = tokens.opaque_id_resolve(share.token_hash, opaque)
    file = (
        File.objects.select_related("folder", "blob")
        .filter(public_id=public_id, owner_id=share.owner_id)
        .first()
        if public_id
        else None
    )
    if file is None or not file_is_alive(file, within=share.folder):
        raise Http404
    return file


def share_folder_listing(share: ShareLink, folder: Folder) -> tuple[list[Folder], list[File]]:
    folders = list(Folder.objects.alive().filter(parent=folder).order_by("name_key"))
    files = list(File.objects.alive().filter(folder=folder).order_by("name_key"))
    return folders, files


def share_opaque_id(share: ShareLink, item: File | Folder) -> str:
    return tokens.opaque_id(share.token_hash, item.public_id)


def share_breadcrumbs(share: ShareLink, folder: Folder) -> list[Folder]:
    """Folders from the shared folder down to `folder` (never above the shared folder)."""
    chain = folder_ancestors(folder_id=folder.pk)
    top = next((i for i, f in enumerate(chain) if f.pk == share.folder_id), None)
    return chain[top:] if top is not None else [folder]


# --- Owner-side reads --------------------------------------------------------------------------


def share_list_for_user(*, user):
    return ShareLink.objects.filter(owner=user).select_related("file", "folder")


def share_get_for_user(*, user, public_id) -> ShareLink:
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404 from None
    share = share_list_for_user(user=user).filter(public_id=public_id).first()
    if share is None:
        raise Http404
    return share


def share_accesses(*, share: ShareLink):
    return ShareAccess.objects.filter(share=share).order_by("-at")


def upload_link_list_for_user(*, user):
    return UploadLink.objects.filter(owner=user).select_related("folder")


def upload_link_get_for_user(*, user, public_id) -> UploadLink:
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404 from None
    link = upload_link_list_for_user(user=user).filter(public_id=public_id).first()
    if link is None:
        raise Http404
    return link

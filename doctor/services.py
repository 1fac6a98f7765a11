"""The doctor's own footprint on the instance: an API token for the checks, and the removal for
good of the files its checks upload."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone

from accounts.models import User
from accounts.services import api_token_create, api_token_revoke
from files.models import File, TusUpload
from files.services import file_purge, tus_upload_terminate

TOKEN_NAME = "manage.py doctor (temporary)"
# Revoked when the doctor ends; should it be killed first, the token still dies on its own.
TOKEN_LIFETIME = timedelta(hours=1)


class NoUser(Exception):
    """No account to run the checks as; the sentence says what to do."""


def doctor_user(username: str | None) -> User:
    """The account the checks act as: `username`, else the first active staff account."""
    if username:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise NoUser(f"No user is named {username!r}.")
        if not user.is_active:
            raise NoUser(f"The user {username!r} is deactivated; its token would not work.")
        return user
    staff = User.objects.filter(is_active=True, is_staff=True)
    user = staff.order_by("-is_superuser", "pk").first()
    if user is None:
        raise NoUser(
            "There is no active staff account to run the checks as: create one "
            "(manage.py createsuperuser) or name an account with --user."
        )
    return user


@contextlib.contextmanager
def doctor_token(user: User) -> Iterator[str]:
    """A short-lived API token of `user`, revoked when the block ends, however it ends."""
    token, secret = api_token_create(
        user=user, name=TOKEN_NAME, expires_at=timezone.now() + TOKEN_LIFETIME
    )
    try:
        yield secret
    finally:
        api_token_revoke(user=user, token_id=token.pk)


def test_upload_remove(*, user: User, upload_id: str, file_id: str = "") -> None:
    """Take away what a check's tus upload left, straight in the database and the storage, not
    through the proxy (which may be what failed): an unfinished upload is terminated (its
    bytes and its reservation go), a finished one's file is deleted for good, not through the
    trash (its objects and the quota it held are released at once)."""
    upload = TusUpload.objects.filter(owner=user, link=None, upload_id=upload_id).first()
    files = File.objects.filter(owner=user)
    if file_id:
        file = files.filter(public_id=file_id).first()
    elif upload is not None and upload.completed_at is not None:
        file = files.filter(blob_id=upload.blob_id).first()
    else:
        file = None
    if upload is not None:
        tus_upload_terminate(pk=upload.pk)
    if file is not None:
        file_purge(file=file)

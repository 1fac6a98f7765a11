"""The doctor's own footprint on the instance: an API token for the checks, and the removal for
good of the files its checks upload."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.services import api_token_create, api_token_revoke
from files.models import File, TusUpload
from files.services import file_purge, tus_upload_terminate

TOKEN_NAME = "manage.py doctor (temporary)"
# Revoked when the doctor ends; should it be killed first, the token still dies on its own.
TOKEN_LIFETIME = timedelta(minutes=15)
# The names of the files the checks upload (doctor.uploads._test_name).
TEST_FILE_NAMES = r"^locker-doctor-[a-z-]+-[0-9a-f]{8}\.bin$"


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


def test_upload_remove(*, user: User, name: str, file_id: str = "") -> None:
    """Take away what a check's tus upload of the file `name` (unique to the check) left,
    straight in the database and the storage, not through the proxy (which may be what failed):
    an unfinished upload is terminated (its bytes and its reservation go), a finished one's file
    is deleted for good, not through the trash (its objects and the quota it held are released
    at once)."""
    for upload in TusUpload.objects.filter(owner=user, link=None, filename=name):
        tus_upload_terminate(pk=upload.pk)
    files = File.objects.filter(owner=user).filter(Q(name=name) | Q(public_id=file_id or None))
    for file in files:
        file_purge(file=file)


def test_uploads_left_remove(*, user: User) -> int:
    """Take away what an earlier run killed half-way left (its test uploads and files), as its
    own end would have; returns how many. Run before the checks upload anything."""
    uploads = TusUpload.objects.filter(owner=user, link=None, filename__regex=TEST_FILE_NAMES)
    files = File.objects.filter(owner=user, name__regex=TEST_FILE_NAMES)
    removed = 0
    for upload in uploads:
        tus_upload_terminate(pk=upload.pk)
        removed += 1
    for file in files:
        file_purge(file=file)
        removed += 1
    return removed


def test_upload_appears(*, user: User, name: str, seconds: float) -> bool:
    """Whether Locker records an upload of `name` within `seconds`: a proxy that gave up on
    the creation request (a timeout) may have passed it on all the same."""
    deadline = time.monotonic() + seconds
    while True:
        if TusUpload.objects.filter(owner=user, link=None, filename=name).exists():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)

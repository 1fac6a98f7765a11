"""Real files in alice's locker (encrypted content through storage.writer), and her share links."""

import pytest
from django.core.cache import cache

from files.selectors import folder_get_root
from files.services import NewFileContent, content_type_detect, files_create, folder_create
from sharing.services import share_create
from storage.writer import content_writer


def store_file(user, name: str, data: bytes, *, folder=None):
    writer = content_writer()
    writer.write(data)
    blob = writer.finish()
    (file,) = files_create(
        user=user,
        folder=folder,
        contents=[
            NewFileContent(
                name=name,
                blob=blob,
                size=writer.size,
                sha256=writer.sha256.hexdigest(),
                content_type=content_type_detect(writer.head),
            )
        ],
    )
    return file


def make_folder(user, name: str, parent=None):
    return folder_create(user=user, parent=parent or folder_get_root(user), name=name)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # PBKDF2's deliberate slowness is the hasher's business, not what these tests examine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_throttles(db):
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def report(alice):
    return store_file(alice, "report.txt", b"quarterly numbers\n" * 100)


@pytest.fixture
def share_of(alice):
    def make(target, **options):
        kind = "file" if target.__class__.__name__ == "File" else "folder"
        share, token = share_create(owner=alice, **{kind: target}, **options)
        return share, token

    return make

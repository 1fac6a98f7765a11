"""Content storage backends, one module each behind one interface (storage/backends/base.py),
in the manner of django.contrib.sessions.backends: `local` (a directory) and `s3` (a bucket).
"""

from __future__ import annotations

from django.core.files.storage import FileSystemStorage, storages

from storage.backends.base import BlobStore, StorageUnavailable
from storage.backends.local import LocalBlobStore
from storage.backends.s3 import S3BlobStore


def get_blobstore() -> BlobStore:
    """The store over `storages["default"]` (cheap: wraps the storage Django caches)."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return LocalBlobStore(storage)
    # On the class: reading S3Storage.connection would make this thread a boto3 session.
    if hasattr(storage, "bucket_name") and hasattr(type(storage), "connection"):
        return S3BlobStore(storage)
    raise StorageUnavailable(
        f"Unsupported content storage {type(storage).__name__}: use LOCKER_STORAGE=local or s3."
    )

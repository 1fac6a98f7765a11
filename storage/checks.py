"""System checks of the storage engine, registered in StorageConfig.ready().

The ids keep the prefixes they had before the engine left the files app (`files.E001`) and
before these checks left accounts/checks.py (`locker.W001`, `locker.W002`).
"""

import logging
import os

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from storage.masterkeys import parse_master_keys

logger = logging.getLogger(__name__)

PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def check_master_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """files.E001: LOCKER_MASTER_KEYS must parse."""
    try:
        parse_master_keys(settings.LOCKER_MASTER_KEYS)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="files.E001")]
    return []


def master_keys_only_in_data_dir() -> bool:
    """True when the master key was generated into the data dir (no LOCKER_MASTER_KEYS): a
    backup of the data dir alone then holds both the ciphertext and the key, and losing the
    data dir loses every file for good."""
    return not (os.environ.get("LOCKER_MASTER_KEYS") or os.environ.get("LOCKER_MASTER_KEYS_FILE"))


def master_key_backup_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """locker.W001 (with --deploy): the master key lives only next to the data."""
    if master_keys_only_in_data_dir():
        return [
            checks.Warning(
                f"The master key lives only in {settings.DATA_DIR / 'master.key'}. Without it "
                "no stored file can be read; kept next to the data it protects, it protects "
                "nothing in a stolen backup.",
                hint="Copy it to a password manager or secrets store and pass it as "
                "LOCKER_MASTER_KEYS (see docs/encryption.md); back it up apart from the data.",
                id="locker.W001",
            )
        ]
    return []


def acl_grants_public(acl: dict) -> bool:
    """Whether an S3 GetBucketAcl answer grants anything to everyone."""
    return any(
        grant.get("Grantee", {}).get("URI") in PUBLIC_GRANTEES for grant in acl.get("Grants", [])
    )


def s3_bucket_is_public() -> bool | None:
    """True/False when the bucket's ACL or policy status says so; None when not detectable."""
    try:
        from storage.backends import get_blobstore

        store = get_blobstore()
        client, bucket = store.client, store.bucket
    except Exception:
        return None
    try:
        if acl_grants_public(client.get_bucket_acl(Bucket=bucket)):
            return True
    except Exception as exc:  # not every S3 server implements ACLs
        logger.debug("Bucket ACL not readable: %s", exc)
    try:
        status = client.get_bucket_policy_status(Bucket=bucket)
        return bool(status.get("PolicyStatus", {}).get("IsPublic"))
    except Exception:
        return None


def s3_public_bucket_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """locker.W002 (with --deploy): the S3 bucket is readable by everyone."""
    if settings.LOCKER_STORAGE != "s3" or not s3_bucket_is_public():
        return []
    return [
        checks.Warning(
            f"The S3 bucket {settings.LOCKER_S3_BUCKET!r} is readable by everyone. Objects are "
            "encrypted, but names, sizes and counts leak and the bytes can be copied.",
            hint="Remove the public grants and policy; Locker needs no public access.",
            id="locker.W002",
        )
    ]

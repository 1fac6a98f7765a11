"""Locker's own system checks for dangerous production settings (`manage.py check [--deploy]`).

locker.E001 runs always; the warnings run with `--deploy` (they describe production risks that
are normal on a development machine).
"""

import ipaddress
import logging
import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1", "testserver"}
logger = logging.getLogger(__name__)

PUBLIC_GRANTEES = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


def _is_local(host: str) -> bool:
    host = host.strip().lstrip(".")
    if host in LOCAL_HOSTS or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_private


@register(Tags.security)
def debug_with_public_host_check(app_configs=None, **kwargs):
    public = [host for host in settings.ALLOWED_HOSTS if not _is_local(host)]
    if settings.DEBUG and public:
        return [
            Error(
                "DEBUG is on while the site answers to public host names "
                f"({', '.join(public)}): error pages would show settings and source code.",
                hint="Unset DEBUG in production.",
                id="locker.E001",
            )
        ]
    return []


def master_keys_only_in_data_dir() -> bool:
    """True when the master key was generated into the data dir (no LOCKER_MASTER_KEYS): a
    backup of the data dir alone then holds both the ciphertext and the key, and losing the
    data dir loses every file for good."""
    return not os.environ.get("LOCKER_MASTER_KEYS")


@register(Tags.security, deploy=True)
def master_key_backup_check(app_configs=None, **kwargs):
    if master_keys_only_in_data_dir():
        return [
            Warning(
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


@register(Tags.security, deploy=True)
def s3_public_bucket_check(app_configs=None, **kwargs):
    if settings.LOCKER_STORAGE != "s3" or not s3_bucket_is_public():
        return []
    return [
        Warning(
            f"The S3 bucket {settings.LOCKER_S3_BUCKET!r} is readable by everyone. Objects are "
            "encrypted, but names, sizes and counts leak and the bytes can be copied.",
            hint="Remove the public grants and policy; Locker needs no public access.",
            id="locker.W002",
        )
    ]


@register(Tags.security, deploy=True)
def scanner_with_upload_links_check(app_configs=None, **kwargs):
    if settings.LOCKER_SCANNER == "none":
        return [
            Warning(
                "No virus scanner is configured (LOCKER_SCANNER=none) while upload links let "
                "strangers send files into your users' folders.",
                hint="Set LOCKER_SCANNER=clamav (or command) — see docs/workers.md.",
                id="locker.W003",
            )
        ]
    return []

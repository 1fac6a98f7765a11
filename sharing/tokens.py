"""Secrets of the sharing app: link tokens, per-share opaque ids, and password unlocks.

- A link token is `secrets.token_urlsafe(32)` (256 bits). It is looked up by its SHA-256 through
  a unique index, so neither the response nor its timing tells how close a guess was; the token
  itself is kept only sealed under the master key (AES-256-GCM, the link's public id as
  associated data), so that its owner can copy the link again while a database dump alone
  reveals no usable link (`token_seal`, `token_unseal`).
- Inside a folder share, files and subfolders are named by opaque ids: their UUID encrypted with
  AES (one block, a pseudo-random permutation) under a key derived from SECRET_KEY and the share.
  The same file has a different id in every share, and an id from share A decrypts to noise in
  share B.
- A correct password sets a signed cookie bound to that share and to a fingerprint of its current
  password hash: changing the password (or revoking the link) makes every earlier unlock useless.
- A counted download of a file sets a resume cookie: a random token whose SHA-256 is stored on
  that download's access row, scoped to that download's URL. Only a Range request carrying it
  may continue the download without counting again, and only for about one copy of the file
  in all (sharing.access.share_resume_credential).
"""

import base64
import binascii
import functools
import hashlib
import hmac
import logging
import secrets
import threading
import uuid

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

from storage import crypto, masterkeys

logger = logging.getLogger(__name__)

UNLOCK_COOKIE = "locker_share"
UNLOCK_MAX_AGE = 3600  # seconds an unlock lasts in a browser
RESUME_COOKIE = "locker_resume"
RESUME_MAX_AGE = 24 * 3600  # seconds after a counted download starts that it may be resumed


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# --- The token kept sealed, to show the link again ----------------------------------------------


def token_purpose(kind: str) -> str:
    """What a sealed token is bound to besides its row: a share token never opens as an upload
    link's (the two tables' public ids are separate)."""
    return f"sharing {kind} link token"


def token_seal(link, token: str) -> None:
    """Set the link's sealed token (before it is saved: its public id is already chosen)."""
    link.token_key_id, link.token_sealed = masterkeys.seal(
        token.encode("utf-8"), purpose=token_purpose(link.kind), context=str(link.public_id)
    )


def token_unseal(link) -> str | None:
    """The link's token, or None when it was never kept (a link made before tokens were) or
    cannot be opened (its master key removed, the row tampered with: logged)."""
    if not link.token_key_id or link.token_sealed is None:
        return None
    try:
        token = masterkeys.unseal(
            bytes(link.token_sealed),
            master_key_id=link.token_key_id,
            purpose=token_purpose(link.kind),
            context=str(link.public_id),
        ).decode("utf-8")
    except (masterkeys.UnknownMasterKeyError, crypto.DecryptionError, UnicodeDecodeError) as exc:
        logger.warning("The token of %s link %s cannot be opened: %s", link.kind, link.pk, exc)
        return None
    # A row whose sealed token was swapped for another of the same link's past values would
    # still not be served: the token must be the one its hash names.
    if not hmac.compare_digest(hash_token(token), link.token_hash):
        logger.warning("The sealed token of %s link %s does not match its hash", link.kind, link.pk)
        return None
    return token


# --- Opaque ids inside a folder share ----------------------------------------------------------


def _share_cipher(token_hash: str) -> Cipher:
    key = hmac.new(
        settings.SECRET_KEY.encode(), b"sharing.opaque-id:" + token_hash.encode(), hashlib.sha256
    ).digest()
    # ECB on exactly one block is a keyed permutation of 128-bit values: what an opaque id needs.
    return Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305


class OpaqueIds:
    """The opaque ids of one share: its key derived and its cipher set up once, however many
    ids a page names. ECB keeps no state between blocks, so one encryptor and one decryptor
    serve every id (never finalized: each call is exactly one block)."""

    def __init__(self, token_hash: str):
        self.token_hash = token_hash
        cipher = _share_cipher(token_hash)
        self._encryptor = cipher.encryptor()
        self._decryptor = cipher.decryptor()
        # A cipher context is not safe to share between threads; opaque_ids_cached() shares
        # one object between every request of a process.
        self._lock = threading.Lock()

    def encode(self, public_id: uuid.UUID) -> str:
        with self._lock:
            raw = self._encryptor.update(public_id.bytes)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def resolve(self, opaque: str) -> uuid.UUID | None:
        """The UUID behind an opaque id of this share (any 22-char id decrypts to *some*
        UUID)."""
        if len(opaque) != 22:
            return None
        try:
            raw = base64.urlsafe_b64decode(opaque + "==")
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 16:
            return None
        with self._lock:
            plain = self._decryptor.update(raw)
        return uuid.UUID(bytes=plain)


@functools.lru_cache(maxsize=256)
def _opaque_ids(secret_key: str, token_hash: str) -> OpaqueIds:
    # Keyed on the key material (SECRET_KEY too): a changed secret builds new ciphers, never
    # answers with the old ones.
    return OpaqueIds(token_hash)


def opaque_ids_cached(token_hash: str) -> OpaqueIds:
    """The share's OpaqueIds, built once per process for recent shares (not per call)."""
    return _opaque_ids(settings.SECRET_KEY, token_hash)


def opaque_id(token_hash: str, public_id: uuid.UUID) -> str:
    return opaque_ids_cached(token_hash).encode(public_id)


def opaque_id_resolve(token_hash: str, opaque: str) -> uuid.UUID | None:
    """The UUID behind an opaque id of this share (any 22-char id decrypts to *some* UUID)."""
    return opaque_ids_cached(token_hash).resolve(opaque)


# --- Password unlocks ------------------------------------------------------------------------


def password_fingerprint(password_hash: str) -> str:
    return salted_hmac("sharing.unlock", password_hash).hexdigest()[:32]


def _unlock_salt(kind: str, pk: int) -> str:
    return f"sharing.unlock.{kind}.{pk}"


def unlock_cookie_value(*, kind: str, pk: int, password_hash: str) -> str:
    return signing.TimestampSigner(salt=_unlock_salt(kind, pk)).sign(
        password_fingerprint(password_hash)
    )


def unlock_cookie_valid(value: str | None, *, kind: str, pk: int, password_hash: str) -> bool:
    if not value:
        return False
    try:
        fingerprint = signing.TimestampSigner(salt=_unlock_salt(kind, pk)).unsign(
            value, max_age=UNLOCK_MAX_AGE
        )
    except signing.BadSignature:
        return False
    return hmac.compare_digest(fingerprint, password_fingerprint(password_hash))

"""Encryption at rest: the segmented AES-256-GCM object format and data-key wrapping.

Pure functions over bytes; no Django. docs/encryption.md specifies the format byte by byte.

Object = header ‖ segment 0 ‖ … ‖ segment n-1, where
  header  = MAGIC (4) ‖ version (1) ‖ segment size (4, big-endian) ‖ nonce prefix (7) = 16 bytes
  segment = AES-256-GCM(data key, nonce = prefix ‖ index (4, big-endian) ‖ last flag (1),
                        plaintext segment, associated data = header)  → ciphertext ‖ tag (16)
Every segment but the last holds exactly `segment size` plaintext bytes; the last holds
1…segment size bytes, or 0 bytes when the whole content is empty. Because the nonce binds the
index and the last flag, and the key is unique per object, reordered, truncated, extended or
transplanted segments fail authentication.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"LKR\x00"
FORMAT_VERSION = 1
HEADER_SIZE = 16
NONCE_PREFIX_SIZE = 7
TAG_SIZE = 16
DATA_KEY_SIZE = 32
MAX_SEGMENTS = 2**32
# Chosen with bench/transfer.py: a download sends each decrypted segment as one socket write,
# and on loopback 1 MiB writes cost far less CPU per GiB than 256 KiB ones (the size before
# 2026-11-26; such blobs still read, as every blob records its own size). Overhead
# 16 / 1048576 = 0.0015 %; a ranged read decrypts at most two extra MiB.
DEFAULT_SEGMENT_SIZE = 1024 * 1024
MIN_SEGMENT_SIZE = 16 * 1024
MAX_SEGMENT_SIZE = 8 * 1024 * 1024

WRAP_VERSION = 1
WRAP_NONCE_SIZE = 12
WRAPPED_KEY_SIZE = 1 + WRAP_NONCE_SIZE + DATA_KEY_SIZE + TAG_SIZE  # 61 bytes
_WRAP_LABEL = b"locker data key v1\x00"

_HEADER = struct.Struct(">4sBI7s")


class DecryptionError(Exception):
    """Content or a wrapped key failed authentication, or is malformed."""


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _wrap_aad(master_key_id: str, storage_key: str) -> bytes:
    return _WRAP_LABEL + master_key_id.encode("utf-8") + b"\x00" + storage_key.encode("utf-8")


def _seal(version: int, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """version (1) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)."""
    nonce = os.urandom(WRAP_NONCE_SIZE)
    return bytes([version]) + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(version: int, key: bytes, sealed: bytes, aad: bytes, *, what: str, size=None) -> bytes:
    """The plaintext of `_seal`'s output; DecryptionError naming `what` when it is malformed
    (another version, too short, or not `size` bytes long) or does not authenticate."""
    sealed = bytes(sealed)
    too_short = len(sealed) < 1 + WRAP_NONCE_SIZE + TAG_SIZE
    if too_short or sealed[0] != version or (size is not None and len(sealed) != size):
        raise DecryptionError(f"The {what} is malformed.")
    try:
        return AESGCM(key).decrypt(
            sealed[1 : 1 + WRAP_NONCE_SIZE], sealed[1 + WRAP_NONCE_SIZE :], aad
        )
    except InvalidTag as exc:
        raise DecryptionError(f"The {what} does not authenticate under its master key.") from exc


def wrap_data_key(
    data_key: bytes, *, master_key: bytes, master_key_id: str, storage_key: str
) -> bytes:
    """Encrypt a data key under a master key, bound to the object's key and the master key id.

    Result: version (1) ‖ nonce (12) ‖ AES-256-GCM ciphertext of the data key (32) ‖ tag (16).
    """
    if len(data_key) != DATA_KEY_SIZE:
        raise ValueError("A data key is 32 bytes.")
    return _seal(WRAP_VERSION, master_key, data_key, _wrap_aad(master_key_id, storage_key))


def unwrap_data_key(
    wrapped: bytes, *, master_key: bytes, master_key_id: str, storage_key: str
) -> bytes:
    aad = _wrap_aad(master_key_id, storage_key)
    return _open(
        WRAP_VERSION, master_key, wrapped, aad, what="wrapped data key", size=WRAPPED_KEY_SIZE
    )


# --- small secrets sealed under a master key ------------------------------------------------------
# A secret the server must be able to show again (a share link's token) is stored sealed:
# version (1) ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16), under a master key, with the
# secret's purpose, the master key's id and the id of the row it belongs to as associated data.

SEAL_VERSION = 1
_SEAL_LABEL = b"locker sealed secret v1\x00"


def _seal_aad(purpose: str, master_key_id: str, context: str) -> bytes:
    return (
        _SEAL_LABEL
        + purpose.encode("utf-8")
        + b"\x00"
        + master_key_id.encode("utf-8")
        + b"\x00"
        + context.encode("utf-8")
    )


def seal_secret(
    secret: bytes, *, master_key: bytes, master_key_id: str, purpose: str, context: str
) -> bytes:
    """Encrypt a small secret under a master key, bound to its purpose, the master key id and
    `context` (the id of the row that holds it): copied to another row, it does not open."""
    return _seal(SEAL_VERSION, master_key, secret, _seal_aad(purpose, master_key_id, context))


def open_secret(
    sealed: bytes, *, master_key: bytes, master_key_id: str, purpose: str, context: str
) -> bytes:
    aad = _seal_aad(purpose, master_key_id, context)
    return _open(SEAL_VERSION, master_key, sealed, aad, what="sealed secret")


def segment_count(size: int, segment_size: int) -> int:
    """Number of segments holding `size` plaintext bytes (an empty content has one)."""
    return max(1, -(-size // segment_size))


def encrypted_size(size: int, segment_size: int) -> int:
    """Stored object size for `size` plaintext bytes."""
    return HEADER_SIZE + size + TAG_SIZE * segment_count(size, segment_size)


def segment_offset(index: int, segment_size: int) -> int:
    """Offset of segment `index` in the stored object."""
    return HEADER_SIZE + index * (segment_size + TAG_SIZE)


def _check_segment_size(segment_size: int) -> None:
    if not MIN_SEGMENT_SIZE <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(
            f"Segment size must be between {MIN_SEGMENT_SIZE} and {MAX_SEGMENT_SIZE} bytes."
        )


class _Segments:
    def __init__(self, data_key: bytes, header: bytes):
        self._aead = AESGCM(data_key)
        self.header = header
        magic, version, segment_size, prefix = _HEADER.unpack(header)
        self.segment_size = segment_size
        self._prefix = prefix

    def nonce(self, index: int, last: bool) -> bytes:
        if not 0 <= index < MAX_SEGMENTS:
            raise ValueError("Segment index out of range.")
        return self._prefix + struct.pack(">IB", index, 1 if last else 0)


class SegmentEncryptor(_Segments):
    """Encrypts one object's segments. `header` is written first, then each segment in order."""

    def __init__(self, data_key: bytes, segment_size: int = DEFAULT_SEGMENT_SIZE):
        _check_segment_size(segment_size)
        prefix = os.urandom(NONCE_PREFIX_SIZE)
        super().__init__(data_key, _HEADER.pack(MAGIC, FORMAT_VERSION, segment_size, prefix))

    @classmethod
    def resume(cls, data_key: bytes, header: bytes) -> SegmentEncryptor:
        """An encryptor continuing an object whose header was written earlier (tus uploads)."""
        self = cls.__new__(cls)
        _Segments.__init__(self, data_key, bytes(header))
        _check_segment_size(self.segment_size)
        return self

    def encrypt_segment(self, index: int, plaintext, *, last: bool) -> bytes:
        size = len(plaintext)
        if size > self.segment_size or (not last and size != self.segment_size):
            raise ValueError("Only the last segment may be shorter than the segment size.")
        return self._aead.encrypt(self.nonce(index, last), plaintext, self.header)


class SegmentDecryptor(_Segments):
    """Decrypts segments of one object, given its header (validated here)."""

    def __init__(self, data_key: bytes, header: bytes, *, expected_segment_size: int):
        header = bytes(header)
        if len(header) != HEADER_SIZE:
            raise DecryptionError("The object header is truncated.")
        magic, version, segment_size, _prefix = _HEADER.unpack(header)
        if magic != MAGIC:
            raise DecryptionError("The object does not start with Locker's magic bytes.")
        if version != FORMAT_VERSION:
            raise DecryptionError(f"Unknown object format version {version}.")
        if segment_size != expected_segment_size:
            raise DecryptionError("The object header's segment size does not match its record.")
        super().__init__(data_key, header)

    def decrypt_segment(self, index: int, sealed, *, last: bool) -> bytes:
        try:
            return self._aead.decrypt(self.nonce(index, last), sealed, self.header)
        except InvalidTag as exc:
            raise DecryptionError(f"Segment {index} failed authentication.") from exc


def encrypt_bytes(data: bytes, data_key: bytes, segment_size: int = DEFAULT_SEGMENT_SIZE) -> bytes:
    """Whole-buffer helper for tests and benchmarks (the app streams instead)."""
    enc = SegmentEncryptor(data_key, segment_size)
    count = segment_count(len(data), segment_size)
    parts = [enc.header]
    view = memoryview(data)
    for index in range(count):
        chunk = view[index * segment_size : (index + 1) * segment_size]
        parts.append(enc.encrypt_segment(index, chunk, last=index == count - 1))
    return b"".join(parts)


def decrypt_bytes(blob: bytes, data_key: bytes, size: int, segment_size: int) -> bytes:
    """Whole-buffer helper for tests and benchmarks: decrypts an object of known plaintext size."""
    if len(blob) != encrypted_size(size, segment_size):
        raise DecryptionError("The object has the wrong length.")
    dec = SegmentDecryptor(data_key, blob[:HEADER_SIZE], expected_segment_size=segment_size)
    count = segment_count(size, segment_size)
    view = memoryview(blob)
    out = []
    for index in range(count):
        start = segment_offset(index, segment_size)
        sealed = view[start : start + segment_size + TAG_SIZE]
        out.append(dec.decrypt_segment(index, sealed, last=index == count - 1))
    return b"".join(out)


# --- pending tails of resumable uploads ---------------------------------------------------------
# A tus upload ends a request at any byte, inside a segment. The bytes of that incomplete segment
# are kept sealed until the rest of it arrives: AES-256-GCM under the object's data key with a
# RANDOM nonce (the tail is re-sealed with more bytes at every request, so a deterministic nonce
# would repeat) and associated data that names what it is. A segment's associated data is the bare
# 16-byte header, so a sealed tail can never pass for a segment, nor a segment for a tail.
_TAIL_LABEL = b"locker pending tail v1\x00"
TAIL_NONCE_SIZE = 12


def _tail_aad(header: bytes, index: int) -> bytes:
    return _TAIL_LABEL + bytes(header) + struct.pack(">Q", index)


def seal_tail(data_key: bytes, header: bytes, index: int, plaintext) -> bytes:
    """nonce (12) ‖ ciphertext ‖ tag of the incomplete segment `index`; b"" when empty."""
    if not plaintext:
        return b""
    nonce = os.urandom(TAIL_NONCE_SIZE)
    return nonce + AESGCM(data_key).encrypt(nonce, bytes(plaintext), _tail_aad(header, index))


def open_tail(data_key: bytes, header: bytes, index: int, sealed) -> bytes:
    sealed = bytes(sealed)
    if not sealed:
        return b""
    nonce, body = sealed[:TAIL_NONCE_SIZE], sealed[TAIL_NONCE_SIZE:]
    try:
        return AESGCM(data_key).decrypt(nonce, body, _tail_aad(header, index))
    except InvalidTag as exc:
        raise DecryptionError(
            f"The pending tail of segment {index} failed authentication."
        ) from exc

"""SHA-256 whose state can be saved between requests: a resumable (tus) upload hashes its
bytes as they arrive, in whichever process serves each chunk.

hashlib cannot export its state, so this calls OpenSSL's libcrypto (the library hashlib itself
uses) through ctypes on a SHA256_CTX buffer that Python owns: `state()` is that struct's 112 bytes
(eight 32-bit words of chain value, the bit count, the partial 64-byte block, its length). The
partial block is plaintext, so the caller stores the state only sealed (storage/resumable.py keeps
it inside the encrypted pending tail). ctypes releases the GIL during each call, so a hashing
thread runs beside the request thread. When libcrypto or its SHA256_* functions cannot be loaded,
`available()` is False and callers hash the finished content instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib

STATE_SIZE = 112  # sizeof(SHA256_CTX) in OpenSSL 1.1 and 3.x
_lib = None
_loaded = False


def _library():
    global _lib, _loaded
    if _loaded:
        return _lib
    _loaded = True
    try:
        name = ctypes.util.find_library("crypto")
        lib = ctypes.CDLL(name) if name else None
        if lib is not None:
            lib.SHA256_Init.argtypes = [ctypes.c_void_p]
            lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
            if _self_test(lib):
                _lib = lib
    except (OSError, AttributeError):
        _lib = None
    return _lib


def _self_test(lib) -> bool:
    ctx = ctypes.create_string_buffer(STATE_SIZE + 16)
    lib.SHA256_Init(ctx)
    lib.SHA256_Update(ctx, b"locker", 6)
    moved = ctypes.create_string_buffer(ctx.raw[:STATE_SIZE] + b"\0" * 16, STATE_SIZE + 16)
    lib.SHA256_Update(moved, b" tus", 4)
    out = ctypes.create_string_buffer(32)
    lib.SHA256_Final(out, moved)
    return out.raw == hashlib.sha256(b"locker tus").digest()


def available() -> bool:
    return _library() is not None


class ResumableSha256:
    def __init__(self, state: bytes | None = None):
        self._lib = _library()
        if self._lib is None:
            raise RuntimeError("libcrypto's SHA-256 is not available.")
        self._ctx = ctypes.create_string_buffer(STATE_SIZE + 16)
        if state:
            if len(state) != STATE_SIZE:
                raise ValueError("A saved SHA-256 state is 112 bytes.")
            ctypes.memmove(self._ctx, state, STATE_SIZE)
        else:
            self._lib.SHA256_Init(self._ctx)

    def update(self, data: bytes) -> None:
        data = bytes(data)
        self._lib.SHA256_Update(self._ctx, data, len(data))

    def state(self) -> bytes:
        return self._ctx.raw[:STATE_SIZE]

    def hexdigest(self) -> str:
        copy = ctypes.create_string_buffer(self._ctx.raw, STATE_SIZE + 16)
        out = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(out, copy)
        return out.raw.hex()

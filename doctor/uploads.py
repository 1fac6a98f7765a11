"""The checks that upload through the public URL: the proxy's body-size limit and timeouts, its
request buffering, and the scanner's EICAR round trip. Every file they upload is deleted for
good before they return (no trash, no object left, the quota given back)."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from django.conf import settings

from doctor.client import PIECE, Client, Response, Unreachable, test_bytes
from doctor.results import Result, fail, ok, warn
from doctor.services import test_upload_appears, test_upload_remove
from locker.formats import size_text

# The web page's chunk (static/js/tus-client.js): the first size tried.
CHUNK_SIZE = 8 * 1024 * 1024
SMALLEST_PROBE = PIECE  # below this, stop halving: the proxy refuses about everything
# Locker's own server reads the first LOCKER_REQUEST_BUFFER bytes of a body before the
# application sees the request (locker/gunicorn_worker.py): the probe holds past that.
DEFAULT_REQUEST_BUFFER = 2_621_440
BUFFERING_WAIT = 5.0  # seconds to see Locker busy with a half-sent request
CREATION_WAIT = 5.0  # seconds
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

BODY_SIZE_ADVICE = (
    "Raise the proxy's request body limit above Locker's chunk (8 MiB), and above the largest "
    "file for ordinary (not tus) uploads: nginx `client_max_body_size 0;` (no limit; Locker "
    "enforces LOCKER_MAX_UPLOAD_SIZE itself) in the server block that proxies Locker; other "
    "proxies have their own (Apache LimitRequestBody, HAProxy, Traefik buffering limits)."
)
CUT_ADVICE = (
    "A connection cut without an answer can also be a timeout: nginx `client_body_timeout`, "
    "`proxy_send_timeout` and `proxy_read_timeout` must outlast a chunk's transfer."
)
TIMEOUT_ADVICE = {
    504: "The proxy gave up waiting for Locker's answer: raise nginx `proxy_read_timeout` "
    "(e.g. 300s) and `proxy_send_timeout` for the location that proxies Locker.",
    408: "The proxy gave up waiting for the request body: raise nginx `client_body_timeout`, "
    "and turn request buffering off (`proxy_request_buffering off;`).",
    502: "The proxy could not reach Locker or lost it mid-request: check that it points at "
    "Locker's address (`proxy_pass`) and that Locker is running (its log says why it failed).",
}


def _test_name(kind: str) -> str:
    return f"locker-doctor-{kind}-{secrets.token_hex(4)}.bin"


@dataclass
class Upload:
    """One test upload in progress, and what is needed to take it away again."""

    client: Client
    user: object
    name: str
    location: str = ""
    file_id: str = ""

    def finished(self, answer: Response) -> None:
        self.file_id = answer.header("locker-file-id") or self.file_id

    def remove(self) -> None:
        """Terminate the upload, or delete the file it made for good."""
        test_upload_remove(user=self.user, name=self.name, file_id=self.file_id)


def _create(upload: Upload, length: int, check: str) -> Result | None:
    """Start the upload; a Result when it did not start."""
    answer = upload.client.tus_create(name=upload.name, length=length)
    if answer.status == 201:
        upload.location = answer.header("location")
        return None
    if not answer.from_locker:
        # The proxy may have given up on a request it passed on: what Locker made of it is
        # taken away with the rest.
        test_upload_appears(user=upload.user, name=upload.name, seconds=CREATION_WAIT)
    if answer.status == 507:
        return fail(
            check,
            f"The account {upload.user.username} has no room for a {size_text(length)} test "
            f"upload: {answer.detail()}",
            "Choose a smaller --upload-size, or run as an account with room (--user).",
        )
    if answer.status == 413 and answer.from_locker:
        return fail(
            check,
            f"Locker refuses files of {size_text(length)}: {answer.detail()}",
            "Choose an --upload-size below LOCKER_MAX_UPLOAD_SIZE.",
        )
    return _unexpected(check, "starting a tus upload", answer)


def _unexpected(check: str, doing: str, answer: Response | None) -> Result:
    if answer is None:
        return fail(check, f"The connection was cut while {doing}.")
    if answer.status in TIMEOUT_ADVICE:
        return fail(
            check,
            f"The proxy answered {answer.status} while {doing}.",
            TIMEOUT_ADVICE[answer.status],
        )
    who = "Locker" if answer.from_locker else "The server at the public URL"
    return fail(check, f"{who} answered {answer.status} while {doing}: {answer.detail()}")


def check_upload_limits(client: Client, user, *, size: int) -> Result:
    """Upload `size` bytes with tus in Locker's chunks; on a 413 from the proxy or a cut
    connection, halve the chunk until one goes through, and report the limit found."""
    check = "upload"
    seed = secrets.token_hex(8)
    upload = Upload(client, user, _test_name("upload"))
    started = time.monotonic()
    try:
        refusal = _create(upload, size, check)
        if refusal is not None:
            return refusal
        chunk, offset = CHUNK_SIZE, 0
        refused: int | None = None  # the smallest request size the proxy refused
        passed = 0  # the largest that went through
        cut = False  # a refusal was a cut connection rather than a 413
        floor = min(settings.LOCKER_TUS_MIN_CHUNK, -(-size // 64))
        while offset < size:
            length = min(chunk, size - offset)
            answer = client.tus_patch(
                upload.location,
                offset=offset,
                pieces=test_bytes(seed, offset, length),
                length=length,
            )
            if answer is not None and answer.status == 204:
                passed = max(passed, length)
                offset = int(answer.header("upload-offset") or offset + length)
                upload.finished(answer)
                continue
            proxy_refused = answer is None or (answer.status == 413 and not answer.from_locker)
            if not proxy_refused:
                return _unexpected(check, f"sending a {size_text(length)} chunk", answer)
            refused = length if refused is None else min(refused, length)
            cut = cut or answer is None
            chunk = length // 2
            if chunk < max(SMALLEST_PROBE, floor):
                break
            offset = client.tus_offset(upload.location) or 0
        seconds = time.monotonic() - started
        if refused is not None:
            if passed:
                found = (
                    f"a request of {size_text(refused)} was refused (413 or cut) and one of "
                    f"{size_text(passed)} went through: the proxy's body-size limit is between "
                    f"{size_text(passed)} and {size_text(refused)}"
                )
            else:
                found = (
                    f"even a request of {size_text(refused)} was refused or cut: the proxy's "
                    f"body-size limit is below {size_text(refused)}"
                )
            return fail(
                check,
                f"Uploads through {client.base_url} break: {found}. The web page sends "
                f"{size_text(CHUNK_SIZE)} chunks, and an ordinary upload the whole file in one "
                "request.",
                BODY_SIZE_ADVICE,
                *([CUT_ADVICE] if cut else []),
            )
        return _verify(client, upload, seed, size, seconds)
    except Unreachable as error:
        return fail(check, f"The test upload through {client.base_url} failed: {error}.")
    finally:
        upload.remove()


def _verify(client: Client, upload: Upload, seed: str, size: int, seconds: float) -> Result:
    check = "upload"
    if not upload.file_id:
        return fail(check, "The test upload ended without Locker naming the new file.")
    answer = client.request("GET", f"/api/v1/files/{upload.file_id}/")
    stored = answer.json()
    digest = hashlib.sha256()
    for piece in test_bytes(seed, 0, size):
        digest.update(piece)
    if stored.get("size") != size or stored.get("sha256") not in (None, digest.hexdigest()):
        return fail(
            check,
            f"The test upload arrived altered: {stored.get('size')} bytes stored of {size}. "
            "Something between the client and Locker changes request bodies.",
        )
    rate = size / max(seconds, 0.001) / (1 << 20)
    return ok(
        check,
        f"A {size_text(size)} upload went through {client.base_url} in "
        f"{size_text(CHUNK_SIZE)} chunks ({seconds:.1f} s, {rate:.1f} MiB/s), byte-exact.",
    )


def check_request_buffering(client: Client, user) -> Result:
    """Whether the proxy passes an upload's body on as it arrives (tus needs that to resume
    where the connection broke, and the browser's progress to mean anything). A PATCH is sent
    half-way and held there; if Locker is busy with it, the body streams through."""
    check = "buffering"
    hold_at = (settings.LOCKER_REQUEST_BUFFER or DEFAULT_REQUEST_BUFFER) + (1 << 20)
    chunk = max(CHUNK_SIZE, hold_at + (1 << 20))
    size = 2 * chunk
    seed = secrets.token_hex(8)
    upload = Upload(client, user, _test_name("buffering"))
    seen: list[bool | None] = []
    try:
        refusal = _create(upload, size, check)
        if refusal is not None:
            return refusal

        def probe() -> None:
            seen.append(client.is_writing(upload.location, offset=0, seconds=BUFFERING_WAIT))

        for _attempt in range(3):
            seen.clear()
            answer = client.tus_patch(
                upload.location,
                offset=0,
                pieces=test_bytes(seed, 0, chunk),
                length=chunk,
                midway=probe,
                hold_at=hold_at,
            )
            # 423: one of the probe's own refused PATCHes held the upload's write lock at the
            # moment the held one reached Locker (a busy server): nothing was written; again.
            if answer is None or answer.status != 423:
                break
            time.sleep(0.5)
        if answer is None or answer.status != 204:
            return warn(
                check,
                f"Could not tell whether the proxy buffers uploads: a "
                f"{size_text(chunk)} chunk was refused"
                + ("" if answer is None else f" ({answer.status})")
                + " (see the upload check).",
            )
    except Unreachable as error:
        return warn(check, f"Could not tell whether the proxy buffers uploads: {error}.")
    finally:
        upload.remove()
    if seen == [True]:
        return ok(check, "The proxy passes upload bodies on to Locker as they arrive.")
    if seen == [False]:
        return warn(
            check,
            f"The proxy holds each upload request until its whole body has arrived (Locker saw "
            f"nothing of a half-sent chunk within {BUFFERING_WAIT:g} s): the browser's progress "
            "runs ahead of the upload, and a cut connection loses the whole chunk.",
            "nginx: add `proxy_request_buffering off;` (and `proxy_buffering off;` for "
            "downloads) to the location that proxies Locker.",
        )
    return warn(check, "Could not tell whether the proxy buffers uploads.")


def check_scanner(client: Client, user, *, timeout: float) -> Result:
    """Upload the EICAR test file and wait until Locker flags it, then delete it for good."""
    check = "scanner"
    if settings.LOCKER_SCANNER == "none":
        return warn(
            check,
            "No scanner is configured (LOCKER_SCANNER=none): uploads are not checked for malware.",
            "Install clamd and set LOCKER_SCANNER=clamav and LOCKER_CLAMD_URL (docs/workers.md).",
        )
    upload = Upload(client, user, _test_name("eicar"))
    try:
        answer = client.tus_create(name=upload.name, length=len(EICAR), first_chunk=EICAR)
        upload.location = answer.header("location")
        if answer.status != 201:
            return _unexpected(check, "uploading the EICAR test file", answer)
        upload.finished(answer)
        deadline = time.monotonic() + timeout
        state, reason = "pending", ""
        while time.monotonic() < deadline:
            stored = client.request("GET", f"/api/v1/files/{upload.file_id}/").json()
            state, reason = stored.get("state", "pending"), stored.get("state_reason", "")
            if state != "pending":
                break
            time.sleep(0.5)
    except Unreachable as error:
        return fail(check, f"The EICAR upload through {client.base_url} failed: {error}.")
    finally:
        upload.remove()
    if state == "infected":
        return ok(check, f"The EICAR test file was flagged as infected ({reason}).")
    if state == "pending":
        return fail(
            check,
            f"The EICAR test file was not scanned within {timeout:g} s.",
            "Check that a worker runs (the broker check) and reaches the scanner "
            f"(LOCKER_SCANNER={settings.LOCKER_SCANNER}, LOCKER_CLAMD_URL or LOCKER_SCAN_COMMAND); "
            "the worker's log says why.",
        )
    if state == "error":
        return fail(check, f"Scanning the EICAR test file failed: {reason}")
    return fail(
        check,
        "The scanner passed the EICAR test file as clean.",
        "Update its signatures (freshclam) and check that it scans streams (clamd "
        "StreamMaxLength, or LOCKER_SCAN_COMMAND's exit status for an infected file).",
    )

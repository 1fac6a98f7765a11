"""Hot paths at scale (issue 14): build a PostgreSQL database of a chosen size with COPY, then
time each hot path through the project's own functions and views, with queries per call.

    python bench/scale.py                    # 100,000 files (a quick run)
    python bench/scale.py --files 1000000    # the report size
    python bench/scale.py --keep --db scale_1m   # keep the database (reuse it with --reuse)

See bench/README.md. The rows are made with COPY (never the ORM row by row); share tokens are
made and hashed by sharing.tokens, so the links resolve like real ones. Only metadata paths
are measured: blobs are rows with fake storage keys, nothing is downloaded.
"""

import argparse
import io
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG = "postgres://postgres@127.0.0.1:5432/"
NULL = "\\N"  # COPY text format
DEPTH = 50
BIG_FOLDER = 10_000
SEARCH_USER_FILES = 200_000
TRASH_ITEMS = 4_000
SHARES = 1_000
FOLDER_FILES = 1_000  # files per ordinary folder
USER_FILES = 10_000  # files per filler user


def ts(when: datetime) -> str:
    return when.isoformat()


class Builder:
    """Rows written as COPY text, ids assigned here (sequences set at the end)."""

    def __init__(self, conn, name_key, hash_token, new_token):
        self.conn = conn
        self.name_key = name_key
        self.hash_token = hash_token
        self.new_token = new_token
        self.now = datetime.now(UTC)
        self.ids = {"user": 0, "folder": 0, "file": 0, "share": 0}
        self.users, self.folders, self.files, self.blobs, self.shares = (
            io.StringIO() for _ in "12345"
        )
        self.files_written = 0
        self.used = {}

    def next_id(self, kind: str) -> int:
        self.ids[kind] += 1
        return self.ids[kind]

    def user(self, username: str, quota: int = 0) -> int:
        pk = self.next_id("user")
        n = ts(self.now)
        self.users.write(
            f"{pk}\t!\tf\t{username}\t\t\tf\tt\t{n}\t{username}@example.com\t\t{quota}\t0\n"
        )
        self.used[pk] = 0
        return pk

    def folder(self, owner, parent, name, *, deleted=None, trashed_root=False) -> tuple[int, str]:
        pk = self.next_id("folder")
        public = uuid.uuid4()
        n = ts(self.now)
        self.folders.write(
            f"{pk}\t{public}\t{owner}\t{parent if parent else NULL}\t{name}\t{self.name_key(name)}"
            f"\t{n}\t{n}\t{ts(deleted) if deleted else NULL}"
            f"\t{pk if trashed_root else NULL}\t{'t' if trashed_root else 'f'}\n"
        )
        return pk, str(public)

    def file(self, owner, folder, name, *, deleted=None) -> int:
        pk = self.next_id("file")
        n = ts(self.now)
        size = 1000 + pk % 5000
        self.blobs.write(f"{pk}\tbench/{pk:012}\tbench\t\\\\x\t65536\t{size}\tcomplete\t{n}\t{n}\n")
        self.files.write(
            f"{pk}\t{uuid.uuid4()}\t{owner}\t{folder}\t{name}\t{self.name_key(name)}\t{pk}\t{size}"
            f"\ttext/plain\t{'0' * 64}\tready\t\tnone\t\t{n}\t{n}"
            f"\t{ts(deleted) if deleted else NULL}\t{'t' if deleted else 'f'}\n"
        )
        self.used[owner] += size
        self.files_written += 1
        if self.files.tell() > 32 * 1024 * 1024:
            self.flush()
        return pk

    def share(self, owner, *, file=None, folder=None) -> str:
        token = self.new_token()
        pk = self.next_id("share")
        self.shares.write(
            f"{pk}\t{uuid.uuid4()}\t{self.hash_token(token)}\tbench {pk}\t{ts(self.now)}\t0\t\tt\tf"
            f"\tf\tt\t{owner}\t{file or NULL}\t{folder or NULL}\n"
        )
        return token

    COLUMNS = {
        "accounts_user": "id, password, is_superuser, username, first_name, last_name, is_staff,"
        " is_active, date_joined, email, display_name, quota_bytes, used_bytes",
        "files_folder": "id, public_id, owner_id, parent_id, name, name_key, created_at,"
        " modified_at, deleted_at, trash_root_id, trashed_as_root",
        "files_blob": "id, storage_key, master_key_id, wrapped_key, segment_size, size, state,"
        " created_at, completed_at",
        "files_file": "id, public_id, owner_id, folder_id, name, name_key, blob_id, size,"
        " content_type, sha256, state, state_reason, thumbnail_state, thumbnail_reason,"
        " created_at, modified_at, deleted_at, trashed_as_root",
        "sharing_sharelink": "id, public_id, token_hash, label, created_at, download_count,"
        " password_hash, allow_download, notify, is_send, keep_files, owner_id, file_id,"
        " folder_id",
    }

    def _copy(self, table: str, buffer: io.StringIO) -> None:
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if not data:
            return
        sql = f"COPY {table} ({self.COLUMNS[table]}) FROM STDIN"
        with self.conn.cursor() as cur, cur.copy(sql) as copy:
            for start in range(0, len(data), 1 << 20):
                copy.write(data[start : start + (1 << 20)])

    def flush(self) -> None:
        # Parents before children: users, folders, blobs, files, shares.
        self._copy("accounts_user", self.users)
        self._copy("files_folder", self.folders)
        self._copy("files_blob", self.blobs)
        self._copy("files_file", self.files)
        self._copy("sharing_sharelink", self.shares)

    def finish(self) -> None:
        self.flush()
        with self.conn.cursor() as cur:
            for owner, used in self.used.items():
                cur.execute("UPDATE accounts_user SET used_bytes = %s WHERE id = %s", (used, owner))
            for table in (
                "accounts_user",
                "files_folder",
                "files_blob",
                "files_file",
                "sharing_sharelink",
            ):
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT COALESCE(MAX(id), 1) FROM {table}))"
                )
        self.conn.commit()
        self.conn.autocommit = True
        self.conn.execute("VACUUM ANALYZE")


def build(b: Builder, total: int) -> dict:
    """The shape: a search user (up to 200,000 files, the 50-deep chain, the 10,000-file folder,
    1,000 share links), a trash user (~4,000 trashed items), filler users for the rest."""
    out = {}
    big = b.user("searcher", quota=10**15)
    big_root, _ = b.folder(big, None, "")
    # 50 folders deep, a file at the bottom.
    parent = big_root
    for level in range(DEPTH):
        parent, public = b.folder(big, parent, f"level {level:02}")
    out["deep_folder"] = public
    deep_file = b.file(big, parent, "deep.txt")
    out["deep_file_token"] = b.share(big, file=deep_file)
    # The 10,000-file folder, shared.
    tenk, out["tenk_folder"] = b.folder(big, big_root, "ten thousand")
    for number in range(BIG_FOLDER):
        b.file(big, tenk, f"item {number:05}.txt")
    out["tenk_token"] = b.share(big, folder=tenk)
    big_target = min(SEARCH_USER_FILES, max(total // 2, BIG_FOLDER + 1 + FOLDER_FILES))
    shared = []
    folder_no = 0
    while b.files_written < big_target:
        folder_no += 1
        folder, _ = b.folder(big, big_root, f"batch {folder_no:04}")
        for number in range(min(FOLDER_FILES, big_target - b.files_written)):
            pk = b.file(big, folder, f"report {folder_no:04}-{number:04} quarterly.pdf")
            if len(shared) < SHARES - 2 and number % 10 == 0:
                shared.append(pk)
    for number in range(len(shared)):
        b.share(big, file=shared[number % len(shared)])
    out["search_user"] = "searcher"
    # The trash user: half files, half folders trashed as roots, and a few live files.
    trasher = b.user("trasher", quota=10**15)
    t_root, _ = b.folder(trasher, None, "")
    for number in range(TRASH_ITEMS // 2):
        when = b.now - timedelta(seconds=number)
        b.file(trasher, t_root, f"old {number:05}.txt", deleted=when)
        b.folder(trasher, t_root, f"old dir {number:05}", deleted=when, trashed_root=True)
    for number in range(1000):
        b.file(trasher, t_root, f"kept {number:05}.txt")
    # Fillers: 10,000 files each, 1,000 a folder.
    user_no = 0
    while b.files_written < total:
        user_no += 1
        owner = b.user(f"user{user_no:05}")
        root, _ = b.folder(owner, None, "")
        for folder_no in range(USER_FILES // FOLDER_FILES):
            if b.files_written >= total:
                break
            folder, _ = b.folder(owner, root, f"folder {folder_no:02}")
            for number in range(min(FOLDER_FILES, total - b.files_written)):
                b.file(owner, folder, f"photo {number:04}.jpg")
    b.finish()
    out["users"] = b.ids["user"]
    return out


def late_cursors(shape: dict) -> dict[str, str]:
    """Cursors deep into the long lists, made from the row before the page with the API's own
    encoder (as a client following `next` links would hold; walking 199 pages to get one would
    only make the bench slower), URL-quoted."""
    from urllib.parse import quote

    from accounts.models import User
    from files.models import Folder
    from files.selectors import file_list, trash_list
    from locker import keyset
    from sharing.selectors import share_list_for_user

    searcher = User.objects.get(username="searcher")
    tenk = Folder.objects.get(public_id=shape["tenk_folder"])

    def after(queryset, offset: int, **filters: str) -> str:
        # `filters`: the query the cursor is used with (a cursor holds it: locker.keyset).
        listing = keyset.QuerySetListing(queryset)
        position = keyset.Position(listing.keyset_values(queryset[offset - 1]))
        bound = {name: [value] for name, value in filters.items()}
        return quote(keyset.cursor_encode(listing.keyset_name, position, bound))

    shares = share_list_for_user(user=searcher)
    trash = trash_list(user=User.objects.get(username="trasher"))
    last_trashed = trash[trash.count() - 51]
    return {
        "files": after(file_list(user=searcher, folder=tenk), 9_950, folder=str(tenk.public_id)),
        "files -size": after(
            file_list(user=searcher, folder=tenk, ordering="-size"),
            9_950,
            folder=str(tenk.public_id),
            ordering="-size",
        ),
        "shares": after(shares, max(1, shares.count() - 50)),
        "trash": quote(
            keyset.cursor_encode(
                trash.keyset_name, keyset.Position(trash.keyset_values(last_trashed))
            )
        ),
    }


def measure(calls: int, shape: dict) -> list[tuple]:
    from django.db import connection
    from django.test import Client, RequestFactory
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from accounts.models import User
    from accounts.services import api_token_create
    from files.services import upload_reservation_create, upload_reservation_release
    from sharing import access

    def api_for(username):
        _token, secret = api_token_create(user=User.objects.get(username=username), name="bench")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        client.get("/api/v1/me/")  # the token's first use is recorded once, not measured
        return client

    searcher = api_for("searcher")
    trasher = api_for("trasher")
    web = Client()
    user = User.objects.get(username="searcher")
    counter = iter(range(10**9))

    def ip():
        n = next(counter)
        return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"

    def expect(response, status=200):
        assert response.status_code == status, (response.status_code, response.content[:300])
        return response

    def quota():
        reservation = upload_reservation_create(user=user, size=1000)
        upload_reservation_release(reservation=reservation)

    deep, tenk = shape["deep_folder"], shape["tenk_folder"]
    late = late_cursors(shape)
    paths = [
        (
            "share resolve: file link, 50 deep (access.share_resolve)",
            lambda: access.share_resolve(
                RequestFactory().get("/", REMOTE_ADDR=ip()), shape["deep_file_token"]
            ),
        ),
        (
            "share page: file link, 50 deep (GET /s/<token>)",
            lambda: expect(web.get(f"/s/{shape['deep_file_token']}", REMOTE_ADDR=ip())),
        ),
        (
            "folder detail + breadcrumbs, 50 deep (API)",
            lambda: expect(searcher.get(f"/api/v1/folders/{deep}/")),
        ),
        (
            "share page: folder of 10,000 files (GET /s/<token>)",
            lambda: expect(web.get(f"/s/{shape['tenk_token']}", REMOTE_ADDR=ip())),
        ),
        (
            "file list, 10,000-file folder, page 1 (API)",
            lambda: expect(searcher.get(f"/api/v1/files/?folder={tenk}&page=1")),
        ),
        (
            "file list, 10,000-file folder, page 200 (API)",
            lambda: expect(searcher.get(f"/api/v1/files/?folder={tenk}&page=200")),
        ),
        (
            "file list, 10,000-file folder, first cursor page (API)",
            lambda: expect(searcher.get(f"/api/v1/files/?folder={tenk}")),
        ),
        (
            "file list, 10,000-file folder, cursor page at offset 9,950 (API)",
            lambda: expect(searcher.get(f"/api/v1/files/?folder={tenk}&cursor={late['files']}")),
        ),
        (
            "file list by -size, 10,000-file folder, cursor page at offset 9,950 (API)",
            lambda: expect(
                searcher.get(
                    f"/api/v1/files/?folder={tenk}&ordering=-size&cursor={late['files -size']}"
                )
            ),
        ),
        (
            "name search 'quarterly' (~all files of the user) (API)",
            lambda: expect(searcher.get("/api/v1/files/?search=quarterly")),
        ),
        (
            "name search '0042-00' (few hits) (API)",
            lambda: expect(searcher.get("/api/v1/files/?search=0042-00")),
        ),
        ("trash list, ~4,000 items, page 1 (API)", lambda: expect(trasher.get("/api/v1/trash/"))),
        (
            "trash list, ~4,000 items, last cursor page (API)",
            lambda: expect(trasher.get(f"/api/v1/trash/?cursor={late['trash']}")),
        ),
        (
            "share list, up to 1,000 links, page 1 (API)",
            lambda: expect(searcher.get("/api/v1/shares/")),
        ),
        (
            "share list, up to 1,000 links, last cursor page (API)",
            lambda: expect(searcher.get(f"/api/v1/shares/?cursor={late['shares']}")),
        ),
        ("quota check: reserve + release (services)", quota),
    ]
    rows = []
    for label, run in paths:
        run()  # warm
        with CaptureQueriesContext(connection) as captured:
            run()
        queries = len(captured.captured_queries)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1000)
        cuts = statistics.quantiles(times, n=100, method="inclusive")
        rows.append((label, queries, cuts[49], cuts[94], cuts[98]))
        print(f"  {label}: {queries} q, p50 {cuts[49]:.1f} ms", file=sys.stderr, flush=True)
    return rows


EXPLAINED = ("files_file", "files_folder", "sharing_sharelink")


def explain(shape: dict) -> None:
    """Print `EXPLAIN (ANALYZE, BUFFERS)` of the queries that read files, folders and links in
    the search requests and in share resolution, as the project sends them (captured from a
    real call, after a warming one, then explained on the same connection)."""
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from accounts.models import User
    from accounts.services import api_token_create
    from sharing import access

    _token, secret = api_token_create(user=User.objects.get(username="searcher"), name="explain")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    client.get("/api/v1/me/")

    def get(path):
        response = client.get(path)
        assert response.status_code == 200, (response.status_code, response.content[:300])

    calls = [
        ("files search 'quarterly'", lambda: get("/api/v1/files/?search=quarterly")),
        ("files search '0042-00'", lambda: get("/api/v1/files/?search=0042-00")),
        ("files search 'q' (one character)", lambda: get("/api/v1/files/?search=q")),
        ("files search 'zz' (two characters, no match)", lambda: get("/api/v1/files/?search=zz")),
        ("folders search 'batch'", lambda: get("/api/v1/folders/?search=batch")),
        ("folders search 'level 4'", lambda: get("/api/v1/folders/?search=level%204")),
        (
            "share resolve: file link, 50 deep",
            lambda: access.share_resolve(
                RequestFactory().get("/", REMOTE_ADDR="10.9.9.9"), shape["deep_file_token"]
            ),
        ),
    ]
    for label, run in calls:
        run()  # warm
        with CaptureQueriesContext(connection) as captured:
            run()
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            if not any(table in sql for table in EXPLAINED):
                continue
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                shown = "\n".join(row[0] for row in cursor.fetchall())
            print(f"\n### {label}\n\n```sql\n{sql}\n```\n\n```text\n{shown}\n```", flush=True)


def load_run(base_url: str, path: str, *, clients: int, seconds: float) -> dict:
    """`clients` threads, each on its own keep-alive connection as a browser would hold one
    (a new connection when the server closes it), requesting `path` for `seconds`."""
    import http.client

    from _server import _split

    host, port, _ = _split(base_url)
    deadline = time.monotonic() + seconds
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients

    def client(number: int) -> None:
        conn = None
        while time.monotonic() < deadline:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=30)
            start = time.perf_counter()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                errors[number] += 1
                conn.close()
                conn = None
                continue
            latencies[number].append((time.perf_counter() - start) * 1000)
            if response.status != 200:
                errors[number] += 1
            if response.will_close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    times = [ms for per_client in latencies for ms in per_client]
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "requests": len(times),
        "errors": sum(errors),
        "rate": len(times) / elapsed,
        "p50": cuts[49],
        "p99": cuts[98],
    }


def measure_load(server, shape: dict, *, clients: int, seconds: float) -> list[str]:
    """The share page of a live file link under `clients` concurrent clients: requests/s,
    latency, the server's CPU time per request (less noisy than the rate on a shared machine)
    and the load average."""
    from _server import cpu_seconds

    path = f"/s/{shape['deep_file_token']}"
    load_run(server.base_url, path, clients=clients, seconds=min(2.0, seconds))  # warm up
    pids = server.web_pids()
    cpu_before, load_before = cpu_seconds(pids), os.getloadavg()
    client_before = time.process_time()
    result = load_run(server.base_url, path, clients=clients, seconds=seconds)
    server_cpu = cpu_seconds(pids) - cpu_before
    client_cpu = time.process_time() - client_before
    load_after = os.getloadavg()
    lines = [
        f"share page of a live file link (GET /s/<token>), {clients} clients, {seconds:g} s, "
        "keep-alive:",
        f"  {result['requests']} requests, {result['errors']} errors, "
        f"{result['rate']:.0f} requests/s, p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms",
        f"  server CPU {server_cpu * 1000 / max(result['requests'], 1):.2f} ms/request "
        f"(gunicorn master and workers), bench client CPU "
        f"{client_cpu * 1000 / max(result['requests'], 1):.2f} ms/request",
        f"  load average before {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in load_after)}",
    ]
    print("\n".join(lines), file=sys.stderr, flush=True)
    return lines


def measure_http(
    calls: int, shape: dict, db: str, *, clients: int, seconds: float, load_only: bool
) -> tuple[list[tuple], list[str]]:
    """The same read paths over HTTP through the real server (`python -m locker.run`: gunicorn,
    its worker and thread counts) against the database: latency, one request at a time, a new
    connection each (queries per call are those of the in-process table); then the share page
    under concurrent load (`measure_load`)."""
    import tempfile

    from _server import LockerServer, request
    from django.conf import settings

    from accounts.models import User
    from accounts.services import api_token_create

    secrets_for = {}
    for username in ("searcher", "trasher"):
        user = User.objects.get(username=username)
        secrets_for[username] = api_token_create(user=user, name="bench http")[1]
    work = Path(tempfile.mkdtemp(prefix="scale-http-"))
    server = LockerServer(
        work / "data",
        extra_env={
            "DATABASE_URL": PG + db,
            # The late-page cursors are made here with the API's encoder, signed with this
            # process's key: the server must check them with the same one.
            "SECRET_KEY": settings.SECRET_KEY,
            "LOCKER_API_RATE_USER": os.environ["LOCKER_API_RATE_USER"],
            # A live link's page is not rate-limited (only unknown tokens and password attempts
            # are); the API's anonymous limit is raised all the same, so that no limit is what
            # the load measures.
            "LOCKER_API_RATE_ANON": os.environ["LOCKER_API_RATE_ANON"],
            # gunicorn's workers and threads, when given (else those of `make run`).
            **{
                name: os.environ[name]
                for name in ("LOCKER_WEB_WORKERS", "LOCKER_WEB_THREADS")
                if name in os.environ
            },
        },
    )
    deep, tenk = shape["deep_folder"], shape["tenk_folder"]
    late = late_cursors(shape)
    paths = [
        ("share page: file link, 50 deep", f"/s/{shape['deep_file_token']}", None),
        ("folder detail + breadcrumbs, 50 deep", f"/api/v1/folders/{deep}/", "searcher"),
        ("share page: folder of 10,000 files", f"/s/{shape['tenk_token']}", None),
        ("file list, 10,000-file folder, page 1", f"/api/v1/files/?folder={tenk}", "searcher"),
        (
            "file list, 10,000-file folder, page 200",
            f"/api/v1/files/?folder={tenk}&page=200",
            "searcher",
        ),
        (
            "file list, 10,000-file folder, cursor page at offset 9,950",
            f"/api/v1/files/?folder={tenk}&cursor={late['files']}",
            "searcher",
        ),
        ("name search 'quarterly'", "/api/v1/files/?search=quarterly", "searcher"),
        ("name search '0042-00'", "/api/v1/files/?search=0042-00", "searcher"),
        ("trash list, page 1", "/api/v1/trash/", "trasher"),
        ("share list, page 1", "/api/v1/shares/", "searcher"),
        ("share list, last cursor page", f"/api/v1/shares/?cursor={late['shares']}", "searcher"),
    ]
    rows = []
    try:
        server.start()
        for label, path, who in [] if load_only else paths:
            headers = {"Authorization": f"Bearer {secrets_for[who]}"} if who else {}
            times = []
            for number in range(calls + 5):  # the first requests warm every worker up
                start = time.perf_counter()
                status, _body = request(server.base_url + path, headers=headers)
                if status != 200:
                    raise RuntimeError(f"{path}: HTTP {status}")
                if number >= 5:
                    times.append((time.perf_counter() - start) * 1000)
            cuts = statistics.quantiles(times, n=100, method="inclusive")
            rows.append((f"HTTP {label}", "", cuts[49], cuts[94], cuts[98]))
            print(f"  HTTP {label}: p50 {cuts[49]:.1f} ms", file=sys.stderr, flush=True)
        load = measure_load(server, shape, clients=clients, seconds=seconds)
    finally:
        server.stop()
    return rows, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000, help="files in all (default 100000)")
    parser.add_argument("--calls", type=int, default=200, help="timed calls per path (200)")
    parser.add_argument("--db", default=None, help="database name (default scale_<files>)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--http", action="store_true", help="also over HTTP (the real server)")
    parser.add_argument("--reuse", action="store_true", help="measure an existing --db (kept)")
    parser.add_argument(
        "--clients", type=int, default=16, help="concurrent clients of the --http load (16)"
    )
    parser.add_argument(
        "--seconds", type=float, default=10, help="length of the --http load run (10)"
    )
    parser.add_argument(
        "--load-only",
        action="store_true",
        help="only the --http load run on the share page (no latency tables)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print EXPLAIN (ANALYZE, BUFFERS) of the search and share queries, measure nothing",
    )
    args = parser.parse_args()
    args.http = args.http or args.load_only
    db = args.db or f"scale_{args.files}"
    os.environ["DATABASE_URL"] = PG + db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "locker.settings")
    hosts = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
    os.environ["ALLOWED_HOSTS"] = hosts + ",testserver"
    # The bench calls far faster than a person: the per-user API throttle is not what is measured.
    os.environ.setdefault("LOCKER_API_RATE_USER", "1000000/min")
    os.environ.setdefault("LOCKER_API_RATE_ANON", "1000000/min")
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    pg = ["-h", "127.0.0.1", "-U", "postgres"]
    if not args.reuse:
        subprocess.run(["dropdb", *pg, "--if-exists", db], check=True)
        subprocess.run(["createdb", *pg, db], check=True)
    try:
        import django

        django.setup()
        from django.conf import settings

        # No collectstatic here: pages name their static files without the manifest.
        settings.STORAGES = {
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        import psycopg
        from django.core.management import call_command

        from files.names import name_key
        from sharing.tokens import hash_token, new_token

        shape_file = Path(f"/tmp/{db}.shape")
        if args.reuse:
            shape = eval(shape_file.read_text())  # noqa: S307 (our own file, written below)
        else:
            call_command("migrate", verbosity=0)
            call_command("createcachetable", verbosity=0)
            start = time.perf_counter()
            with psycopg.connect(PG + db) as conn:
                shape = build(Builder(conn, name_key, hash_token, new_token), args.files)
            shape_file.write_text(repr(shape))
            print(
                f"built {args.files:,} files, {shape['users']} users in "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
        with psycopg.connect(PG + db) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(%s))", (db,)).fetchone()[0]
            files = conn.execute("SELECT count(*) FROM files_file").fetchone()[0]
        if args.explain:
            explain(shape)
            return
        load_before = os.getloadavg()
        rows = [] if args.load_only else measure(args.calls, shape)
        load = []
        if args.http:
            http_rows, load = measure_http(
                args.calls,
                shape,
                db,
                clients=args.clients,
                seconds=args.seconds,
                load_only=args.load_only,
            )
            rows += http_rows
        load_after = os.getloadavg()
        print(f"\n{files:,} files ({size} database), {args.calls} calls per path")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}")
        after = " ".join(f"{x:.2f}" for x in load_after)
        print(f"load average after:  {after}  ({os.cpu_count()} CPUs)\n")
        if rows:
            print("| path | queries/call | p50 ms | p95 ms | p99 ms |")
            print("|---|---:|---:|---:|---:|")
        for label, queries, p50, p95, p99 in rows:
            print(f"| {label} | {queries} | {p50:.1f} | {p95:.1f} | {p99:.1f} |")
        if load:
            print("\n" + "\n".join(load))
    finally:
        if not (args.keep or args.reuse):
            from django.db import connections

            connections.close_all()
            subprocess.run(["dropdb", *pg, "--if-exists", db], check=True)


if __name__ == "__main__":
    main()

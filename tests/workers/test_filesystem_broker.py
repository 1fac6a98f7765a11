"""The embedded no-server broker that `make run` uses (filesystem://) with a real worker."""

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Queue

from files.models import File
from files.names import name_key
from files.selectors import folder_get_root
from locker.broker import transport_options as broker_transport_options
from storage.models import Blob
from tests.fixtures.files import upload
from tests.workers import media
from tests.workers.conftest import BASE_DIR, wait_for
from tests.workers.scanners import write_scanner

pytestmark = pytest.mark.django_db(transaction=True)


def test_upload_is_scanned_and_thumbnailed_over_the_filesystem_broker(
    alice, alice_api, start_worker, settings, tmp_path
):
    scanner = write_scanner(tmp_path)
    settings.LOCKER_SCANNER = "command"
    start_worker(
        broker="filesystem://",
        env={"LOCKER_SCANNER": "command", "LOCKER_SCAN_COMMAND": str(scanner)},
    )
    clean = upload(alice_api, "logo.png", media.png()).json()["id"]
    infected = upload(
        alice_api,
        "eicar.txt",
        b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    ).json()["id"]
    wait_for(
        lambda: File.objects.get(public_id=clean).thumbnail_state == "ready",
        what="the PNG to be processed",
    )
    assert File.objects.get(public_id=clean).state == "ready"
    wait_for(
        lambda: File.objects.get(public_id=infected).state == "infected",
        what="the EICAR file to be found",
    )
    assert File.objects.get(public_id=infected).state_reason.endswith("Test.EICAR.Command")


def _text_files(owner, count: int) -> list[int]:
    """Rows of ready text files (no thumbnail to make, so the task only records "none").

    Bulk rows: 3,000 uploads through the services take minutes on a busy machine, and the
    task never reads the content of a text file."""
    root = folder_get_root(owner)
    blobs = Blob.objects.bulk_create(
        Blob(
            storage_key=f"stress-{uuid.uuid4().hex}",
            master_key_id="unused",
            wrapped_key=b"",
            segment_size=65536,
            size=11,
            state=Blob.State.COMPLETE,
        )
        for _ in range(count)
    )
    files = File.objects.bulk_create(
        File(
            owner=owner,
            folder=root,
            name=f"note-{n}.txt",
            name_key=name_key(f"note-{n}.txt"),
            blob=blob,
            size=11,
            content_type="text/plain",
            sha256="0" * 64,
            state=File.State.READY,
        )
        for n, blob in enumerate(blobs)
    )
    return [file.pk for file in files]


PUBLISHER = """
import sys

import django

django.setup()
from files.tasks import process_file

for file_id in map(int, sys.argv[1:]):
    process_file.apply_async((file_id,))
"""


def test_thousands_of_tasks_from_concurrent_publishers_all_run_and_garbage_is_set_aside(
    alice, start_worker, settings
):
    """Several processes publish 3,000 tasks while the worker consumes; a garbage message file
    in the queue (what a torn write leaves) is logged and moved aside, and nothing is lost."""
    settings.LOCKER_SCANNER = "none"
    settings.LOCKER_THUMBNAILS = True
    ids = _text_files(alice, 3000)
    assert not File.objects.filter(pk__in=ids).exclude(thumbnail_state="").exists()
    worker = start_worker(broker="filesystem://", env={"LOCKER_SCANNER": "none"})

    broker_dir = Path(settings.DATA_DIR) / "broker"
    garbage = broker_dir / "queue" / f"00000000000000000000_torn.{worker.queue}.msg"
    garbage.write_bytes(b'{"body": "eyJ0cnVuY2F0ZWQ')

    env = {**worker.environment(), "DJANGO_SETTINGS_MODULE": "locker.settings"}
    publishers = [
        subprocess.Popen(
            [sys.executable, "-c", PUBLISHER, *map(str, ids[n::4])],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for n in range(4)
    ]
    for publisher in publishers:
        output, _ = publisher.communicate(timeout=240)
        assert publisher.returncode == 0, output.decode(errors="replace")[-3000:]

    def done_or_dead():
        if worker.proc.poll() is not None:
            return True
        return not File.objects.filter(pk__in=ids, thumbnail_state="").exists()

    wait_for(done_or_dead, timeout=240, what="every task to run")
    assert worker.proc.poll() is None, worker.output()[-3000:]
    left = File.objects.filter(pk__in=ids).exclude(thumbnail_state="none").count()
    assert left == 0, f"{left} tasks lost; worker log:\n{worker.output()[-3000:]}"

    assert not garbage.exists()
    assert (broker_dir / "bad" / garbage.name).read_bytes() == b'{"body": "eyJ0cnVuY2F0ZWQ'
    assert f"Unreadable broker message {garbage.name}" in worker.output()
    assert not list((broker_dir / "queue").glob(f"*.{worker.queue}.msg"))


def test_a_consumer_listing_the_queue_never_finds_a_half_written_message(tmp_path):
    """What the worker's poll sees while big messages are published: whole messages only."""
    options = broker_transport_options(tmp_path / "broker")
    queue_dir = Path(options["data_folder_in"])
    queue = Queue("big", Exchange("big", type="direct"), routing_key="big")
    body = "x" * 2_000_000

    def publish():
        with Connection("filesystem://", transport_options=options) as conn:
            producer = conn.Producer(serializer="json")
            for _ in range(20):
                producer.publish(body, exchange=queue.exchange, routing_key="big", declare=[queue])

    publisher = threading.Thread(target=publish)
    publisher.start()
    seen, torn = set(), []

    def look():
        for name in os.listdir(queue_dir):
            try:
                data = (queue_dir / name).read_bytes()
            except FileNotFoundError:
                continue
            try:
                assert json.loads(data)["body"]
                seen.add(name)
            except ValueError:
                torn.append((name, len(data)))

    while publisher.is_alive():
        look()
    publisher.join()
    look()
    assert not torn, f"read half-written: {torn[:5]}"
    assert len(seen) == 20


BINDER = """
import os
import sys
import time
import uuid

import locker  # noqa: F401 - registers Locker's filesystem transport, as every process does
from kombu import Connection, Exchange, Queue

options = {"control_folder": sys.argv[1], "data_folder_in": sys.argv[2],
           "data_folder_out": sys.argv[2]}
name = sys.argv[3]
while not os.path.exists(sys.argv[4]):
    time.sleep(0.001)
with Connection("filesystem://", transport_options=options) as conn:
    channel = conn.channel()
    for n in range(20):
        Queue(name, Exchange(f"ex{n}", type="direct"), routing_key=name)(channel).declare()
"""


def test_processes_binding_queues_at_once_all_keep_their_binding(tmp_path):
    """Exchange tables are read-modify-written by every process that declares a queue; a
    binding lost there sends that queue's messages nowhere."""
    options = broker_transport_options(tmp_path / "broker")
    go = tmp_path / "go"
    binders = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                BINDER,
                options["control_folder"],
                options["data_folder_in"],
                f"q{n}",
                str(go),
            ],
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for n in range(8)
    ]
    time.sleep(1)  # let every binder start and wait for the signal
    go.touch()
    for binder in binders:
        output, _ = binder.communicate(timeout=60)
        assert binder.returncode == 0, output.decode(errors="replace")[-3000:]
    control = Path(options["control_folder"])
    for n in range(20):
        table = json.loads((control / f"ex{n}.exchange").read_bytes())
        assert sorted(row[2] for row in table) == [f"q{i}" for i in range(8)]

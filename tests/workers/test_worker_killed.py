"""kill -9 of a worker in the middle of a task loses nothing: acks_late + visibility timeout."""

import pytest

from files.models import File
from tests.fixtures.files import upload
from tests.workers.conftest import wait_for
from tests.workers.scanners import write_scanner

pytestmark = pytest.mark.django_db(transaction=True)


def test_task_interrupted_by_sigkill_completes_after_restart(
    alice, alice_api, start_worker, settings, tmp_path
):
    marker = tmp_path / "scanning-started"
    scanner = write_scanner(tmp_path, hang_marker=marker)
    env = {"LOCKER_SCANNER": "command", "LOCKER_SCAN_COMMAND": str(scanner)}
    settings.LOCKER_SCANNER = "command"
    worker = start_worker(env=env)

    response = upload(alice_api, "precious.txt", b"do not lose me\n")
    assert response.status_code == 201
    file = File.objects.get(public_id=response.json()["id"])
    wait_for(marker.exists, what="the worker to start scanning")
    worker.kill()
    assert File.objects.get(pk=file.pk).state == "pending"

    worker.start()  # the message comes back once its visibility timeout is over
    wait_for(
        lambda: File.objects.get(pk=file.pk).state == "ready",
        timeout=60,
        what=f"the redelivered task to finish; worker log:\n{worker.output()[-3000:]}",
    )

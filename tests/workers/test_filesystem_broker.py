"""The embedded no-server broker that `make run` uses (filesystem://) with a real worker."""

import pytest

from files.models import File
from tests.fixtures.files import upload
from tests.workers import media
from tests.workers.conftest import wait_for
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

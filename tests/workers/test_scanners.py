"""The scanners themselves, in this process: the `command` hook and clamd (real daemon)."""

import pytest
from django.core import mail

from files import processing
from files.models import File
from files.scanning import ClamdScanner, CommandScanner, ScannerUnavailable
from tests.fixtures.files import make_file
from tests.workers import media
from tests.workers.conftest import EICAR
from tests.workers.scanners import write_scanner

pytestmark = pytest.mark.django_db


@pytest.fixture
def command_scanner(settings, tmp_path):
    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = str(write_scanner(tmp_path))
    return settings


def _process(file: File, **options) -> File:
    processing.file_process(file_id=file.pk, **options)
    file.refresh_from_db()
    return file


def test_new_files_are_pending_when_a_scanner_is_configured(alice, command_scanner):
    assert make_file(alice, "a.txt").state == "pending"


def test_new_files_are_ready_without_a_scanner(alice, settings):
    settings.LOCKER_SCANNER = "none"
    assert make_file(alice, "a.txt").state == "ready"


def test_command_scanner_exit_0_is_ready(alice, command_scanner):
    assert _process(make_file(alice, "a.txt", b"fine\n")).state == "ready"


def test_command_scanner_exit_1_is_infected_with_the_name_from_stdout(alice, command_scanner):
    file = _process(make_file(alice, "e.txt", EICAR))
    assert file.state == "infected"
    assert file.state_reason == "A virus was found: Test.EICAR.Command"


def test_command_scanner_other_exit_status_is_an_error_and_raises_for_retry(alice, command_scanner):
    file = make_file(alice, "x.txt", b"SCANNER-CRASH")
    with pytest.raises(ScannerUnavailable):
        processing.file_process(file_id=file.pk)
    file.refresh_from_db()
    assert file.state == "error"
    assert file.state_reason


def test_missing_scan_command_is_an_error_never_ready(alice, settings):
    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = "/nonexistent/scanner"
    file = make_file(alice, "x.txt")
    with pytest.raises(ScannerUnavailable):
        processing.file_process(file_id=file.pk)
    file.refresh_from_db()
    assert file.state == "error"


def test_command_that_stops_reading_early_is_not_clean(tmp_path):
    quitter = tmp_path / "quit.sh"
    quitter.write_text("#!/bin/sh\nhead -c 10 >/dev/null\nexit 0\n")
    quitter.chmod(0o755)
    chunks = (b"x" * 65536 for _ in range(64))
    with pytest.raises(ScannerUnavailable):
        CommandScanner(str(quitter), timeout=10).scan(chunks)


def test_hanging_command_times_out_as_an_error(tmp_path):
    hang = tmp_path / "hang.sh"
    hang.write_text("#!/bin/sh\ncat >/dev/null\nsleep 30\n")
    hang.chmod(0o755)
    with pytest.raises(ScannerUnavailable, match="timed out"):
        CommandScanner(str(hang), timeout=0.5).scan([b"data"])


def test_infected_file_mails_staff(alice, staff, command_scanner):
    _process(make_file(alice, "e.txt", EICAR))
    assert len(mail.outbox) == 1
    assert staff.email in mail.outbox[0].to
    assert "Test.EICAR.Command" in mail.outbox[0].body


def test_delete_infected_moves_it_to_the_trash(alice, command_scanner, settings):
    settings.LOCKER_DELETE_INFECTED = True
    file = _process(make_file(alice, "e.txt", EICAR))
    assert file.state == "infected" and file.deleted_at is not None


def test_second_run_changes_nothing_and_mails_nobody_twice(alice, staff, command_scanner):
    file = _process(make_file(alice, "e.txt", EICAR))
    _process(file)
    assert file.state == "infected"
    assert len(mail.outbox) == 1


def test_rescan_of_a_ready_file_finds_new_signatures(alice, settings, tmp_path):
    settings.LOCKER_SCANNER = "none"
    file = make_file(alice, "e.txt", EICAR)
    assert file.state == "ready"
    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = str(write_scanner(tmp_path))
    assert _process(file).state == "ready"  # not a rescan: a ready file is left alone
    assert _process(file, rescan=True).state == "infected"


def test_file_gone_before_processing_is_skipped_quietly(alice, command_scanner):
    file = make_file(alice, "a.txt")
    file_id = file.pk
    File.objects.filter(pk=file_id).delete()
    assert processing.file_process(file_id=file_id) is None


def test_infected_file_loses_its_thumbnails(alice, settings, tmp_path):
    settings.LOCKER_SCANNER = "none"
    file = _process(make_file(alice, "logo.png", media.png() + EICAR))
    assert file.thumbnails.count() == 2
    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = str(write_scanner(tmp_path))
    file = _process(file, rescan=True)
    assert file.state == "infected" and file.thumbnails.count() == 0
    assert file.thumbnail_state == ""


def test_clamd_finds_eicar_and_passes_clean_content(clamd):
    scanner = ClamdScanner(clamd.url, timeout=10)
    verdict = scanner.scan([b"prefix ", EICAR, b" suffix"])
    assert verdict.infected and verdict.name.startswith("Locker.Test.EICAR")
    assert not scanner.scan([b"hello " * 1000]).infected


def test_clamd_stream_over_its_limit_is_an_error_not_clean(clamd):
    # The session clamd has StreamMaxLength 1M.
    with pytest.raises(ScannerUnavailable):
        ClamdScanner(clamd.url, timeout=10).scan(b"\0" * 65536 for _ in range(40))


def test_clamd_unreachable_is_an_error(tmp_path):
    with pytest.raises(ScannerUnavailable):
        ClamdScanner(f"unix://{tmp_path}/none.sock", timeout=2).scan([b"x"])
    with pytest.raises(ScannerUnavailable):
        ClamdScanner("tcp://127.0.0.1:9", timeout=2).scan([b"x"])


def test_rescan_command_queues_pending_error_and_all(
    alice, settings, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    settings.LOCKER_SCANNER = "none"
    ready = make_file(alice, "r.txt")
    error = make_file(alice, "e.txt")
    File.objects.filter(pk=error.pk).update(state="error")
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("rescan")
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("rescan", "--all")
    assert len(callbacks) == 2
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("rescan", "--since", "2999-01-01")
    assert len(callbacks) == 0
    assert ready.pk


def test_system_check_refuses_command_scanner_without_a_command(settings):
    from files.checks import check_scanner

    settings.LOCKER_SCANNER = "command"
    settings.LOCKER_SCAN_COMMAND = ""
    assert [error.id for error in check_scanner()] == ["files.E002"]
    settings.LOCKER_SCANNER = "clamav"
    settings.LOCKER_CLAMD_URL = "/run/clamd.sock"
    assert [error.id for error in check_scanner()] == ["files.E003"]
    settings.LOCKER_CLAMD_URL = "tcp://127.0.0.1:3310"
    assert check_scanner() == []

from datetime import timedelta

from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from files.models import File, Folder
from sharing.models import ShareAccess, ShareLink
from sharing.services import share_revoke, shares_cleanup


def send(api, *files, **options):
    parts = [SimpleUploadedFile(name, data) for name, data in files]
    return api.post("/api/v1/send/", {"file": parts, **options}, format="multipart")


def expire(share_id):
    ShareLink.objects.filter(public_id=share_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_send_one_file_returns_a_file_share(alice_api, alice, client):
    response = send(alice_api, ("hello.txt", b"hello"), expires_in="1h", max_downloads="2")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["max_downloads"] == 2
    file = File.objects.get(public_id=data["file"])
    assert file.folder.name == "Sent"
    assert file.folder.parent.parent_id is None
    download = client.get(f"/s/{data['token']}/download")
    assert b"".join(download.streaming_content) == b"hello"


def test_send_several_files_shares_a_new_folder_in_sent(alice_api, client):
    response = send(alice_api, ("a.txt", b"a"), ("b.txt", b"b"), label="Holiday pics")
    assert response.status_code == 201
    data = response.json()
    folder = Folder.objects.get(public_id=data["folder"])
    assert folder.name == "Holiday pics"
    assert folder.parent.name == "Sent"
    assert sorted(folder.files.values_list("name", flat=True)) == ["a.txt", "b.txt"]
    assert client.get(f"/s/{data['token']}").status_code == 200


def test_send_with_bad_options_keeps_nothing(alice_api, alice):
    response = send(alice_api, ("a.txt", b"a"), expires_in="soon")
    assert response.status_code == 400
    assert not File.objects.filter(owner=alice).exists()
    assert not ShareLink.objects.exists()


def test_send_without_files_is_refused(alice_api):
    response = alice_api.post("/api/v1/send/", {"label": "x"}, format="multipart")
    assert response.status_code == 400


def test_send_counts_against_the_quota(alice_api, alice):
    alice.quota_bytes = 10
    alice.save()
    assert send(alice_api, ("big.bin", b"x" * 1000)).status_code == 507


def test_cleanup_trashes_sent_files_when_their_link_expires(alice_api):
    data = send(alice_api, ("gone.txt", b"bye")).json()
    kept = send(alice_api, ("kept.txt", b"stay"), keep="true").json()
    expire(data["id"])
    expire(kept["id"])
    result = shares_cleanup()
    assert result["trashed"] == 1
    assert File.objects.get(public_id=data["file"]).deleted_at is not None
    assert File.objects.get(public_id=kept["file"]).deleted_at is None


def test_cleanup_trashes_a_sent_folder_when_its_link_is_revoked(alice_api):
    data = send(alice_api, ("a.txt", b"a"), ("b.txt", b"b")).json()
    share_revoke(share=ShareLink.objects.get(public_id=data["id"]))
    shares_cleanup()
    assert Folder.objects.get(public_id=data["folder"]).deleted_at is not None


def test_cleanup_leaves_ordinary_shares_files_alone(alice, report, share_of):
    share, _token = share_of(report)
    ShareLink.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(1))
    shares_cleanup()
    report.refresh_from_db()
    assert report.deleted_at is None
    assert ShareLink.objects.get(pk=share.pk).cleaned_at is not None


def test_cleanup_twice_handles_each_link_once(alice_api):
    data = send(alice_api, ("gone.txt", b"bye")).json()
    expire(data["id"])
    assert shares_cleanup()["links"] == 1
    assert shares_cleanup()["links"] == 0


def test_cleanup_prunes_old_access_logs(alice, report, share_of, settings):
    settings.LOCKER_ACCESS_LOG_DAYS = 30
    share, _token = share_of(report)
    old = ShareAccess.objects.create(share=share, at=timezone.now() - timedelta(days=31))
    recent = ShareAccess.objects.create(share=share)
    assert shares_cleanup()["accesses_pruned"] == 1
    assert not ShareAccess.objects.filter(pk=old.pk).exists()
    assert ShareAccess.objects.filter(pk=recent.pk).exists()


def test_cleanupshares_command_reports_what_it_did(alice_api, capsys):
    data = send(alice_api, ("gone.txt", b"bye")).json()
    expire(data["id"])
    call_command("cleanupshares")
    assert "Links handled: 1" in capsys.readouterr().out


def test_cleanup_task_runs_the_same_cleanup(alice_api):
    from sharing.tasks import cleanup_shares

    data = send(alice_api, ("gone.txt", b"bye")).json()
    expire(data["id"])
    assert cleanup_shares.apply().get()["links"] == 1


def test_notify_emails_the_owner_on_download(
    client, report, share_of, eager_celery, django_capture_on_commit_callbacks
):
    _share, token = share_of(report, notify=True)
    with django_capture_on_commit_callbacks(execute=True):
        b"".join(client.get(f"/s/{token}/download").streaming_content)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.com"]
    assert "report.txt" in mail.outbox[0].subject


def test_no_email_without_notify(
    client, report, share_of, eager_celery, django_capture_on_commit_callbacks
):
    _share, token = share_of(report)
    with django_capture_on_commit_callbacks(execute=True):
        b"".join(client.get(f"/s/{token}/download").streaming_content)
    assert mail.outbox == []


def test_send_when_a_file_is_named_sent_answers_409(alice_api, alice):
    from tests.sharing.conftest import store_file

    store_file(alice, "Sent", b"in the way")
    response = send(alice_api, ("a.txt", b"a"))
    assert response.status_code == 409
    assert "Sent" in response.json()["detail"]
    assert File.objects.filter(owner=alice).count() == 1

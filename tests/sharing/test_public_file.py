from datetime import timedelta

from django.utils import timezone

from files.services import file_trash, folder_trash
from sharing.models import ShareAccess, ShareLink
from sharing.services import share_revoke, share_update
from tests.sharing.conftest import make_folder, store_file


def test_share_page_shows_name_size_and_owner_display_name(client, report, share_of):
    _share, token = share_of(report)
    response = client.get(f"/s/{token}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "report.txt" in body
    assert "Alice" in body
    assert "alice@example.com" not in body
    assert f"/s/{token}/download" in body


def test_download_streams_the_file_and_counts_once(client, report, share_of):
    share, token = share_of(report)
    response = client.get(f"/s/{token}/download")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"quarterly numbers\n" * 100
    assert "attachment" in response["Content-Disposition"]
    share.refresh_from_db()
    assert share.download_count == 1
    access = ShareAccess.objects.get(share=share)
    assert access.completed is True
    assert access.bytes_sent == report.size
    assert access.counted is True


def test_resuming_with_a_range_does_not_count_again(client, report, share_of):
    share, token = share_of(report, max_downloads=1)
    first = client.get(f"/s/{token}/download", HTTP_RANGE="bytes=0-99")
    assert first.status_code == 206
    b"".join(first.streaming_content)
    share.refresh_from_db()
    assert share.download_count == 1
    # The link is used up for everyone else, but this client may finish its download.
    rest = client.get(f"/s/{token}/download", HTTP_RANGE="bytes=100-")
    assert rest.status_code == 206
    assert len(b"".join(rest.streaming_content)) == report.size - 100
    share.refresh_from_db()
    assert share.download_count == 1
    assert client.get(f"/s/{token}").status_code == 410
    assert client.get(f"/s/{token}/download").status_code == 410


def test_others_cannot_resume_a_used_up_link(client, report, share_of):
    from django.test import Client

    _share, token = share_of(report, max_downloads=1)
    b"".join(client.get(f"/s/{token}/download", HTTP_RANGE="bytes=0-99").streaming_content)
    stranger = Client(REMOTE_ADDR="198.51.100.20")
    assert stranger.get(f"/s/{token}/download", HTTP_RANGE="bytes=100-").status_code == 410


def test_a_range_that_resumes_nothing_counts_as_a_download(client, report, share_of):
    share, token = share_of(report, max_downloads=2)
    response = client.get(f"/s/{token}/download", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert len(b"".join(response.streaming_content)) == 100
    share.refresh_from_db()
    assert share.download_count == 1
    access = ShareAccess.objects.get(share=share)
    assert (access.counted, access.range_start, access.bytes_sent) == (True, 100, 100)


def test_the_resume_cookie_is_scoped_to_the_download_url(client, report, share_of):
    _share, token = share_of(report)
    response = client.get(f"/s/{token}/download")
    b"".join(response.streaming_content)
    cookie = response.cookies["locker_resume"]
    assert cookie["path"] == f"/s/{token}/download"
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert len(cookie.value) >= 43
    # Only its hash is stored.
    assert ShareAccess.objects.filter(resume_hash__isnull=False).count() == 1
    assert not ShareAccess.objects.filter(resume_hash=cookie.value).exists()


def test_unknown_token_answers_404(client, db):
    response = client.get("/s/" + "A" * 43)
    assert response.status_code == 404
    assert response["Referrer-Policy"] == "no-referrer"


def test_a_near_miss_token_answers_like_a_wild_guess(client, report, share_of):
    _share, token = share_of(report)
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get(f"/s/{near}").status_code == 404
    assert client.get(f"/s/{near}/download").status_code == 404


def test_expired_link_answers_410(client, report, share_of):
    share, token = share_of(report)
    ShareLink.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    for path in (f"/s/{token}", f"/s/{token}/download"):
        response = client.get(path)
        assert response.status_code == 410
        assert "expired" in response.content.decode()


def test_revoked_link_answers_410_at_once(client, report, share_of):
    share, token = share_of(report)
    assert client.get(f"/s/{token}").status_code == 200
    share_revoke(share=share)
    response = client.get(f"/s/{token}/download")
    assert response.status_code == 410
    assert "revoked" in response.content.decode()


def test_exhausted_link_answers_410(client, report, share_of):
    share, token = share_of(report, max_downloads=1)
    b"".join(client.get(f"/s/{token}/download").streaming_content)
    response = client.get(f"/s/{token}")
    assert response.status_code == 410
    assert "download limit" in response.content.decode()


def test_trashed_file_kills_its_link(client, report, share_of):
    _share, token = share_of(report)
    file_trash(file=report)
    assert client.get(f"/s/{token}").status_code == 410
    assert client.get(f"/s/{token}/download").status_code == 410


def test_file_in_a_trashed_folder_kills_its_link(client, alice, share_of):
    folder = make_folder(alice, "Photos")
    file = store_file(alice, "cat.txt", b"meow", folder=folder)
    _share, token = share_of(file)
    folder_trash(folder=folder)
    assert client.get(f"/s/{token}/download").status_code == 410


def test_deactivated_owner_kills_the_link(client, alice, report, share_of):
    _share, token = share_of(report)
    alice.is_active = False
    alice.save()
    assert client.get(f"/s/{token}/download").status_code == 410


def test_preview_only_link_refuses_downloads(client, report, share_of):
    _share, token = share_of(report, allow_download=False)
    page = client.get(f"/s/{token}")
    assert page.status_code == 200
    assert f"/s/{token}/download" not in page.content.decode()
    assert client.get(f"/s/{token}/download").status_code == 403
    preview = client.get(f"/s/{token}/preview")
    assert preview.status_code == 200
    assert preview["Content-Disposition"].startswith("inline")
    # Sandboxed; framed by the share page's own viewer only.
    assert preview["Content-Security-Policy"] == "sandbox; frame-ancestors 'self'"
    assert preview["X-Frame-Options"] == "SAMEORIGIN"


def test_preview_is_not_offered_on_links_with_a_download_limit(client, report, share_of):
    _share, token = share_of(report, max_downloads=3)
    assert client.get(f"/s/{token}/preview").status_code == 404


def test_editing_the_expiry_revives_an_expired_link(client, report, share_of):
    share, token = share_of(report)
    ShareLink.objects.filter(pk=share.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    share.refresh_from_db()
    share_update(share=share, expires_at=timezone.now() + timedelta(hours=1))
    assert client.get(f"/s/{token}").status_code == 200


def test_page_says_how_many_downloads_are_left(client, report, share_of):
    _share, token = share_of(report, max_downloads=2)
    assert "2 downloads left" in client.get(f"/s/{token}").content.decode()
    b"".join(client.get(f"/s/{token}/download").streaming_content)
    assert "1 download left" in client.get(f"/s/{token}").content.decode()


def test_a_file_being_checked_says_so_and_is_not_served(client, report, share_of):
    from files.models import File

    File.objects.filter(pk=report.pk).update(state=File.State.PENDING)
    _share, token = share_of(report)
    page = client.get(f"/s/{token}").content.decode()
    assert "being checked" in page
    assert 'id="share-download-button"' not in page
    response = client.get(f"/s/{token}/download")
    assert response.status_code == 409
    assert "being checked" in response.content.decode()


def test_without_required_scans_pending_files_are_served(client, report, share_of, settings):
    from files.models import File

    settings.LOCKER_SHARE_REQUIRES_SCAN = False
    File.objects.filter(pk=report.pk).update(state=File.State.PENDING)
    _share, token = share_of(report)
    assert client.get(f"/s/{token}/download").status_code == 200
    File.objects.filter(pk=report.pk).update(state=File.State.INFECTED)
    assert client.get(f"/s/{token}/download").status_code == 409


def test_a_download_that_storage_cannot_serve_is_not_counted(report, share_of):
    from django.test import Client

    from storage.backends import get_blobstore

    share, token = share_of(report, max_downloads=1)
    get_blobstore().delete(report.blob.storage_key)
    response = Client(raise_request_exception=False).get(f"/s/{token}/download")
    assert response.status_code >= 500
    share.refresh_from_db()
    assert share.download_count == 0

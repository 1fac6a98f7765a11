"""The audit log: what is recorded, who sees it, append-only, export and retention."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services
from accounts.audit import audit, audit_prune, truncate_ip
from accounts.models import AppendOnlyError, AuditEvent
from sharing.services import share_create, share_revoke, share_update
from sharing.upload_links import upload_link_create, upload_link_revoke
from tests.fixtures.files import make_file

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def actions(**filters) -> list[str]:
    return list(
        AuditEvent.objects.filter(**filters).order_by("pk").values_list("action", flat=True)
    )


def test_login_success_is_recorded_with_a_truncated_ip(client, alice):
    client.post(
        LOGIN, {"username": "alice", "password": "alice-password-1"}, REMOTE_ADDR="203.0.113.77"
    )
    event = AuditEvent.objects.get(action="login.success")
    assert event.actor == alice and event.subject == alice
    assert event.ip == "203.0.113.0"


def test_login_failure_is_recorded_against_the_account_without_an_actor(client, alice):
    client.post(LOGIN, {"username": "alice", "password": "wrong"})
    event = AuditEvent.objects.get(action="login.failure")
    assert event.actor is None and event.subject == alice
    assert event.result == "failure"
    assert event.target_label == "alice"


def test_lockout_is_recorded(client, alice):
    for _ in range(5):
        client.post(LOGIN, {"username": "alice", "password": "wrong"})
    assert "lockout" in actions(subject=alice)


def test_logout_is_recorded(client, alice):
    client.force_login(alice)
    client.post("/accounts/logout/")
    assert "logout" in actions(actor=alice)


def test_token_created_first_use_and_revoked_are_recorded(client, alice):
    token, secret = services.api_token_create(user=alice, name="ci")
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/me/").status_code == 200
    assert api.get("/api/v1/me/").status_code == 200  # only the first use is recorded
    services.api_token_revoke(user=alice, token_id=token.pk)
    assert actions(target_type="apitoken") == ["token.created", "token.first_use", "token.revoked"]


def test_user_created_and_deactivated_by_staff_are_recorded(staff):
    user = services.user_create(username="dora", email="dora@example.com", password="long-pass-42x")
    services.user_update(user=user, acting_user=staff, is_active=False)
    assert actions(subject=user) == ["user.created", "user.deactivated"]


def test_share_and_upload_link_lifecycle_is_recorded(alice, alice_root):
    file = make_file(alice, "contract.pdf", b"%PDF-1.4 x")
    share, _ = share_create(owner=alice, file=file)
    share_update(share=share, label="for bob")
    share_revoke(share=share)
    link, _ = upload_link_create(owner=alice, folder=alice_root)
    upload_link_revoke(link=link)
    assert actions(subject=alice, action__startswith="share") == [
        "share.created",
        "share.changed",
        "share.revoked",
    ]
    assert actions(action__startswith="upload_link") == [
        "upload_link.created",
        "upload_link.revoked",
    ]


def test_trash_restore_and_purge_are_recorded(alice):
    from files import services as files

    file = make_file(alice, "payslip.pdf", b"%PDF-1.4 y")
    files.file_trash(file=file)
    files.trash_restore(item=file)
    files.file_trash(file=file)
    files.trash_empty(user=alice)
    assert actions(target_type="file") == [
        "file.deleted",
        "file.restored",
        "file.deleted",
        "file.purged",
    ]
    assert AuditEvent.objects.filter(action="file.purged", target_label="payslip.pdf").exists()


def test_audit_events_cannot_be_changed_or_deleted_through_the_orm(alice):
    event = audit("login.success", actor=alice)
    event.result = "failure"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(result="failure")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_unknown_action_is_refused(alice):
    with pytest.raises(ValueError):
        audit("made.up", actor=alice)


def test_ipv6_addresses_keep_only_the_48_bit_network():
    assert truncate_ip("2001:db8:abcd:12:1:2:3:4") == "2001:db8:abcd::"
    assert truncate_ip("not an ip") is None


def test_prune_deletes_only_events_older_than_the_retention(alice, settings):
    settings.LOCKER_AUDIT_DAYS = 30
    old = audit("login.success", actor=alice)
    recent = audit("logout", actor=alice)
    assert audit_prune(now=timezone.now() + timedelta(days=31)) == 2
    assert not AuditEvent.objects.filter(pk__in=[old.pk, recent.pk]).exists()
    audit("login.success", actor=alice)
    assert audit_prune() == 0
    assert AuditEvent.objects.count() == 1


def test_pruneaudit_command_is_the_twin_of_the_task(alice):
    audit("login.success", actor=alice)
    out = io.StringIO()
    call_command("pruneaudit", "--days", "1", stdout=out)
    assert "Deleted 0 audit event(s)." in out.getvalue()
    from accounts.tasks import prune_audit

    assert prune_audit() == 0


def test_master_key_rotation_is_recorded_with_its_counts(local_storage_settings, settings):
    """rotatekeys lives in the storage app, which does not import accounts: its run still
    reaches the audit log (through storage.signals.master_keys_rotated)."""
    import base64
    import os

    from storage.writer import content_writer

    writer = content_writer()
    writer.write(b"wrapped under the old key")
    writer.finish()
    fresh = base64.b64encode(os.urandom(32)).decode()
    settings.LOCKER_MASTER_KEYS = f"k-next:{fresh}," + settings.LOCKER_MASTER_KEYS
    call_command("rotatekeys", stdout=io.StringIO(), stderr=io.StringIO())
    event = AuditEvent.objects.get(action="keys.rotated")
    assert (event.target_type, event.target_id, event.target_label) == (
        "master_key",
        "k-next",
        "k-next",
    )
    assert event.result == "success"
    assert event.extra == {"rewrapped": 1, "failed": 0, "remaining": 0}


def test_the_periodic_prune_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "accounts.tasks.prune_audit" in tasks


# --- Who sees what ----------------------------------------------------------------------------


def test_users_see_their_own_events_only_in_the_api(alice_api, bob, alice):
    audit("login.success", actor=bob)
    audit("login.failure", subject=alice, target_label="alice", result="failure")
    body = alice_api.get("/api/v1/audit/").json()
    seen = [(e["action"], e["actor"]) for e in body["results"]]
    assert ("login.failure", "") in seen
    assert all(e["concerns"] in ("alice", "") for e in body["results"])
    assert not any(e["actor"] == "bob" for e in body["results"])


def test_a_normal_user_asking_for_everyones_events_is_refused(alice_api):
    response = alice_api.get("/api/v1/audit/?scope=all")
    assert response.status_code == 403
    assert "staff" in response.json()["detail"]


def test_staff_filter_by_user_action_and_date(staff_api, alice, bob):
    audit("login.success", actor=alice)
    audit("login.success", actor=bob)
    audit("logout", actor=bob)
    body = staff_api.get("/api/v1/audit/?scope=all&user=bob&action=login").json()
    assert [(e["action"], e["actor"]) for e in body["results"]] == [("login.success", "bob")]
    today = timezone.localdate()
    body = staff_api.get(f"/api/v1/audit/?scope=all&since={today + timedelta(days=1)}").json()
    assert body["results"] == []
    body = staff_api.get(f"/api/v1/audit/?scope=all&until={today}&user=bob").json()
    assert len(body["results"]) == 2


def test_unknown_filter_values_answer_400_with_a_sentence(staff_api):
    response = staff_api.get("/api/v1/audit/?scope=all&action=nope")
    assert response.status_code == 400
    assert response.json()["detail"] == "action: Unknown action."


def test_activity_page_lists_the_users_events(client, alice, bob):
    audit("token.created", actor=alice, target_label="laptop")
    audit("token.created", actor=bob, target_label="bobs-secret-token")
    client.force_login(alice)
    page = client.get("/accounts/activity/").content.decode()
    assert "laptop" in page and "bobs-secret-token" not in page


def test_audit_page_is_for_staff_only(client, alice, staff):
    client.force_login(alice)
    assert client.get("/accounts/audit/").status_code == 403
    assert client.get("/accounts/audit/export.csv").status_code == 403
    client.force_login(staff)
    assert client.get("/accounts/audit/?user=alice").status_code == 200
    response = client.get("/accounts/audit/?user=nobody")
    assert response.status_code == 400
    assert "There is no user with that name." in response.content.decode()


def test_staff_export_csv_is_streamed_filtered_and_formula_safe(client, staff, alice):
    audit("share.created", actor=alice, target_label='=HYPERLINK("http://evil")')
    audit("login.success", actor=staff)
    client.force_login(staff)
    response = client.get("/accounts/audit/export.csv?action=share")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["time", "actor", "ip", "action"]
    assert [row[3] for row in rows[1:]] == ["share.created"]
    assert rows[1][7].startswith("'=")


def test_admin_shows_audit_events_read_only(client, staff, alice):
    event = audit("login.success", actor=alice)
    client.force_login(staff)
    assert client.get("/admin/accounts/auditevent/").status_code == 200
    assert client.get(f"/admin/accounts/auditevent/{event.pk}/change/").status_code == 200
    assert client.post(f"/admin/accounts/auditevent/{event.pk}/delete/").status_code == 403
    assert client.get("/admin/accounts/auditevent/add/").status_code == 403


def _old_events(count: int, *, days_ago: int = 400) -> None:
    at = timezone.now() - timedelta(days=days_ago)
    AuditEvent.objects.bulk_create(
        AuditEvent(action="login.success", actor_label="alice", created_at=at) for _ in range(count)
    )


def test_prune_works_in_batches_with_the_same_queries_whatever_the_backlog(alice, settings):
    settings.LOCKER_AUDIT_DAYS = 30
    settings.LOCKER_JOB_BATCH_SIZE = 5
    settings.LOCKER_JOB_TIME_BUDGET = 0  # one batch a run
    kept = audit("logout", actor=alice)
    _old_events(8)
    with CaptureQueriesContext(connection) as small:
        assert audit_prune() == 5
    _old_events(1200)
    with CaptureQueriesContext(connection) as large:
        assert audit_prune() == 5
    assert len(small) == len(large)
    runs = []
    while pruned := audit_prune():
        runs.append(pruned)
    assert sum(runs) == 1203 - 5 and set(runs[:-1]) == {5}
    assert AuditEvent.objects.filter(pk=kept.pk).exists()
    assert not AuditEvent.objects.filter(actor_label="alice", action="login.success").exists()


def test_prune_with_time_left_takes_every_batch_in_one_run(alice, settings):
    settings.LOCKER_AUDIT_DAYS = 30
    settings.LOCKER_JOB_BATCH_SIZE = 5
    settings.LOCKER_JOB_TIME_BUDGET = 3600
    _old_events(23)
    assert audit_prune() == 23
    assert not AuditEvent.objects.filter(actor_label="alice", action="login.success").exists()

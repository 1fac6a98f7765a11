"""Attacks on the LDAP log-in (accounts.ldap) from outside, against Debian's slapd started by the
tests (tests/fixtures/slapd.py) and the real log-in form: each test is one attack that worked
before its fix (see docs/sso-ldap.md)."""

import socket
import threading

import pytest
from axes.models import AccessAttempt

from accounts.models import AuditEvent, User
from tests.fixtures.slapd import (
    PEOPLE,
    SERVICE_PASSWORD,
    USERS_GROUP,
    password_of,
    person_dn,
)

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"
BAD_CREDENTIALS = "Please enter a correct username and password"
UNREACHABLE = "The directory is unreachable"


def log_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password})


def logged_in_as(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


# --- Lock-out ---------------------------------------------------------------------------------


def test_case_variants_of_a_directory_name_share_one_lockout(client, ldap_on):
    # The directory matches uid case-insensitively: "ada", "Ada", "ADA"... are one account, so
    # each variant must not get its own five guesses.
    for variant in ["ada", "Ada", "aDa", "adA"]:
        assert BAD_CREDENTIALS in log_in(client, variant, "wrong guess").content.decode()
    assert log_in(client, "ADA", "wrong guess").status_code == 429  # the fifth failure locks
    response = log_in(client, "AdA", password_of("ada"))
    assert response.status_code == 429
    assert logged_in_as(client) is None


def test_unicode_variants_of_a_directory_name_share_one_lockout(client, ldap_on):
    # Full-width letters (NFKC) and spaces the directory ignores are the same name again.
    for variant in ["ada", "ａｄａ", "ＡＤＡ", "Ａda", "aＤa"]:
        log_in(client, variant, "wrong guess")
    assert log_in(client, "ADA", password_of("ada")).status_code == 429


def test_a_very_long_username_is_refused_without_an_error_page(client, ldap_on):
    response = log_in(client, "a" * 5000, "some password")
    assert response.status_code == 200
    assert BAD_CREDENTIALS in response.content.decode()
    assert all(len(a.username) <= 255 for a in AccessAttempt.objects.all())


# --- A slow or hung directory -----------------------------------------------------------------


class SilentDirectory:
    """A TCP server that accepts connections and never answers: a hung directory. Counts the
    connections it accepted; closing it lets every waiting client fail at once."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.url = f"ldap://127.0.0.1:{self.server.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self.arrived = threading.Semaphore(0)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                connection, _address = self.server.accept()
            except OSError:
                return
            self.accepted.append(connection)
            self.arrived.release()

    def close(self):
        self.server.close()
        for connection in self.accepted:
            connection.close()


def test_a_hung_directory_never_holds_more_than_its_share_of_web_threads(
    client, ldap_on, directory
):
    from accounts import ldap

    hung = SilentDirectory()
    ldap_on.LOCKER_LDAP_URL = hung.url
    ldap_on.LOCKER_LDAP_START_TLS = False
    ldap_on.LOCKER_LDAP_TIMEOUT = 600  # the attackers are held until the test hangs up
    ldap_on.LOCKER_LDAP_MAX_CONNECTIONS = 2
    outcomes = []

    def attacker(name):
        try:
            ldap.directory_check(name, "whatever")
        except ldap.DirectoryUnreachable as exc:
            outcomes.append(str(exc))

    attackers = [threading.Thread(target=attacker, args=(f"nobody{i}",)) for i in range(2)]
    try:
        for thread in attackers:
            thread.start()
        for _ in attackers:  # both are now waiting on the hung directory
            assert hung.arrived.acquire(timeout=60)
        # A third log-in in the same process is answered at once, without a connection (were
        # it let through, it would give up after a second, on a third connection).
        ldap_on.LOCKER_LDAP_TIMEOUT = 1
        response = log_in(client, "ada", password_of("ada"))
        assert response.status_code == 200
        assert UNREACHABLE in response.content.decode()
        assert len(hung.accepted) == 2
        event = AuditEvent.objects.get(action="ldap.unreachable", target_label="ada")
        assert "LOCKER_LDAP_MAX_CONNECTIONS" in event.extra["error"]
    finally:
        hung.close()
        for thread in attackers:
            thread.join(timeout=60)
    assert len(outcomes) == 2  # the held ones failed as unreachable once the directory hung up
    # Slots are given back: the next log-in reaches the directory again.
    ldap_on.LOCKER_LDAP_URL = directory.ldap_url
    ldap_on.LOCKER_LDAP_START_TLS = True
    assert log_in(client, "ada", password_of("ada")).status_code == 302


# --- A local password for a directory user ----------------------------------------------------


def test_staff_cannot_send_a_directory_user_an_invitation_to_choose_a_local_password(
    client, ldap_on, directory, staff
):
    # A directory user has no local password, so they looked like an invitee who never chose
    # one: a resent invitation gave them a Locker password that outlived their directory
    # account and group (the local password is checked first, the directory never again).
    from accounts.models import Invitation
    from tests.fixtures.users import api_client_for

    assert log_in(client, "bea", password_of("bea")).status_code == 302
    client.logout()
    bea = User.objects.get(username="bea")
    response = api_client_for(staff).post(f"/api/v1/users/{bea.pk}/invitation/")
    assert response.status_code == 400
    assert "directory (LDAP)" in response.json()["detail"]
    assert not Invitation.objects.filter(user=bea).exists()


def test_an_invitation_made_before_the_account_came_from_the_directory_cannot_be_used(
    client, ldap_on
):
    from accounts import services
    from accounts.models import Invitation

    assert log_in(client, "bea", password_of("bea")).status_code == 302
    client.logout()
    bea = User.objects.get(username="bea")
    _invitation, token = services.invitation_create(user=bea, created_by=None)
    page = client.get(f"/accounts/invitation/{token}/")
    assert "new_password1" not in page.content.decode()
    client.post(
        f"/accounts/invitation/{token}/",
        {"new_password1": "a-local-password-42", "new_password2": "a-local-password-42"},
    )
    bea.refresh_from_db()
    assert not bea.has_usable_password()
    assert Invitation.objects.get(user=bea).used_at is None


def test_a_local_password_set_by_staff_never_logs_a_directory_user_in(
    client, ldap_on, directory, staff
):
    # Django's admin (and `manage.py changepassword`) can still give a directory user a local
    # password; checked first, it would let them in after leaving the group or the company.
    from django.test import Client

    assert log_in(client, "bea", password_of("bea")).status_code == 302
    client.logout()
    bea = User.objects.get(username="bea")
    admin = Client()
    admin.force_login(staff)
    changed = admin.post(
        f"/admin/accounts/user/{bea.pk}/password/",
        {"password1": "a-local-password-42", "password2": "a-local-password-42"},
    )
    assert changed.status_code == 302
    directory.group_remove(USERS_GROUP, person_dn("bea"))
    try:
        response = log_in(client, "bea", "a-local-password-42")
    finally:
        directory.group_add(USERS_GROUP, person_dn("bea"))
    assert logged_in_as(client) is None
    assert response.status_code == 200


# --- Taking over another directory account ----------------------------------------------------

MALLORY_DN = f"cn=Mallory,{PEOPLE}"


@pytest.fixture
def mallory(directory):
    """A second directory entry, in the users group."""
    admin = directory._admin()
    try:
        assert admin.add(
            MALLORY_DN,
            ["inetOrgPerson"],
            {
                "cn": "Mallory",
                "sn": "Mallory",
                "uid": "mallory",
                "mail": "mallory@example.org",
                "userPassword": "mallory-ldap-pass",
            },
        ), admin.result
    finally:
        admin.unbind()
    directory.modify(USERS_GROUP, {"member": [("MODIFY_ADD", [MALLORY_DN])]})
    yield MALLORY_DN
    directory.modify(USERS_GROUP, {"member": [("MODIFY_DELETE", [MALLORY_DN])]})
    admin = directory._admin()
    try:
        admin.delete(MALLORY_DN)
    finally:
        admin.unbind()


def test_another_entry_with_the_same_username_does_not_take_over_the_account(
    client, ldap_on, directory, mallory
):
    from django.test import Client

    first = Client()
    assert log_in(first, "ada", password_of("ada")).status_code == 302
    ada = logged_in_as(first)
    # Then Mallory's entry gets "ADA" as its first username (uid is multi-valued): a mistake,
    # or someone allowed to edit entries other than Ada's.
    directory.modify(mallory, {"uid": [("MODIFY_REPLACE", ["ADA", "mallory"])]})
    response = log_in(client, "mallory", "mallory-ldap-pass")
    assert logged_in_as(client) != ada
    assert "cannot be matched to a Locker account" in response.content.decode()
    ada.refresh_from_db()
    assert ada.ldap_dn == person_dn("ada")


def test_an_entry_renamed_onto_a_local_accounts_username_is_refused(
    client, ldap_on, directory, mallory, staff
):
    # Mallory's account already exists; her entry then gets "ROOT" as its username: her account
    # must not become a second "root" beside the local administrator.
    assert log_in(client, "mallory", "mallory-ldap-pass").status_code == 302
    client.logout()
    directory.modify(mallory, {"uid": [("MODIFY_REPLACE", ["ROOT", "mallory"])]})
    response = log_in(client, "mallory", "mallory-ldap-pass")
    assert logged_in_as(client) is None
    assert "cannot be matched to a Locker account" in response.content.decode()
    assert User.objects.get(ldap_dn=mallory).username == "mallory"
    assert User.objects.filter(username__iexact="root").count() == 1


def test_an_entry_that_moved_keeps_its_account(client, ldap_on, directory):
    # Its old DN is gone from the directory: the same person, under a new DN.
    assert log_in(client, "ada", password_of("ada")).status_code == 302
    ada = logged_in_as(client)
    client.logout()
    admin = directory._admin()
    try:
        assert admin.modify_dn(person_dn("ada"), "cn=Ada Lovelace", delete_old_dn=False)
        # (a directory with referential integrity, or Active Directory, follows in its groups)
        directory.modify(USERS_GROUP, {"member": [("MODIFY_ADD", [f"cn=Ada Lovelace,{PEOPLE}"])]})
        try:
            assert log_in(client, "ada", password_of("ada")).status_code == 302
            assert logged_in_as(client) == ada
            ada.refresh_from_db()
            assert ada.ldap_dn == f"cn=Ada Lovelace,{PEOPLE}"
        finally:
            directory.modify(
                USERS_GROUP, {"member": [("MODIFY_DELETE", [f"cn=Ada Lovelace,{PEOPLE}"])]}
            )
            admin.modify_dn(f"cn=Ada Lovelace,{PEOPLE}", "uid=ada", delete_old_dn=False)
    finally:
        admin.unbind()


# --- Passwords in clear -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "start_tls", "warned"),
    [
        ("ldap://ldap.example.org", False, True),
        ("ldap://10.0.0.5:389", False, True),
        ("ldap://ldap.example.org", True, False),
        ("ldaps://ldap.example.org", False, False),
        ("ldap://127.0.0.1:3389", False, False),
        ("", False, False),
    ],
)
def test_plain_ldap_to_another_host_is_warned_about_at_start(settings, url, start_tls, warned):
    # Plain ldap:// sends every typed password in clear; `manage.py check` (run by migrate and
    # `check --deploy`) says so, loopback aside.
    from django.core import checks

    settings.LOCKER_LDAP_URL = url
    settings.LOCKER_LDAP_START_TLS = start_tls
    ids = [message.id for message in checks.run_checks(tags=[checks.Tags.security])]
    assert ("accounts.W001" in ids) is warned


# --- Removed from the group -------------------------------------------------------------------


def test_a_user_removed_from_the_group_loses_sessions_and_tokens_at_the_next_recheck(
    client, ldap_on, directory
):
    from django.core.management import call_command
    from django.test import Client

    from accounts.ldap import directory_members_recheck
    from accounts.services import api_token_create

    assert log_in(client, "bea", password_of("bea")).status_code == 302
    bea = logged_in_as(client)
    _token, secret = api_token_create(user=bea, name="laptop")
    other = Client()
    assert log_in(other, "ada", password_of("ada")).status_code == 302
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert Client().get("/api/v1/me/", **bearer).status_code == 200
    directory.group_remove(USERS_GROUP, person_dn("bea"))
    try:
        assert directory_members_recheck() == 1
    finally:
        directory.group_add(USERS_GROUP, person_dn("bea"))
    call_command("ldaprecheck")  # the cron twin: nothing left to cut off
    assert client.get("/accounts/profile/").status_code == 302  # back to the log-in form
    assert Client().get("/api/v1/me/", **bearer).status_code == 401
    assert other.get("/accounts/profile/").status_code == 200  # ada is still in the group
    event = AuditEvent.objects.get(action="logout", target_id=str(bea.pk))
    assert event.extra["tokens_revoked"] == 1 and event.extra["sessions_ended"] == 1


def test_the_recheck_cuts_no_one_off_when_the_directory_cannot_say(client, ldap_on):
    from django.test import Client

    from accounts.ldap import DirectoryUnreachable, directory_members_recheck
    from tests.fixtures.slapd import free_port

    assert log_in(client, "bea", password_of("bea")).status_code == 302
    assert log_in(Client(), "ada", password_of("ada")).status_code == 302
    ldap_on.LOCKER_LDAP_REQUIRE_GROUP = f"cn=nosuchgroup,{PEOPLE}"  # a mistake, not a purge
    assert directory_members_recheck() == 0
    ldap_on.LOCKER_LDAP_REQUIRE_GROUP = PEOPLE  # not a group: nobody is "in" it
    assert directory_members_recheck() == 0
    ldap_on.LOCKER_LDAP_URL = f"ldap://127.0.0.1:{free_port()}"
    with pytest.raises(DirectoryUnreachable):
        directory_members_recheck()
    assert client.get("/accounts/profile/").status_code == 200


# --- The audit log ----------------------------------------------------------------------------


def test_no_password_reaches_the_audit_log_or_the_log(client, ldap_on, caplog):
    import json
    import logging

    from django.core import serializers

    caplog.set_level(logging.DEBUG)
    log_in(client, "ada", password_of("ada"))  # success, account created
    client.logout()
    log_in(client, "ada", "wrong-Secret-1")  # wrong password
    log_in(client, "cyd", password_of("cyd"))  # outside the group
    ldap_on.LOCKER_LDAP_BIND_PASSWORD = "wrong-Service-2"  # unreachable: service refused
    log_in(client, "bea", password_of("bea"))
    events = json.dumps(json.loads(serializers.serialize("json", AuditEvent.objects.all())))
    assert {"user.created", "login.success", "login.failure", "ldap.unreachable"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )
    for secret in [
        password_of("ada"),
        "wrong-Secret-1",
        password_of("cyd"),
        "wrong-Service-2",
        password_of("bea"),
        SERVICE_PASSWORD,
    ]:
        assert secret not in events
        assert secret not in caplog.text

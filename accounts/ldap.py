"""Log-in with the organisation's LDAP directory or Active Directory (LOCKER_LDAP_URL).

`LdapBackend` is a Django authentication backend placed after the local one, so every place a
password is checked through `authenticate()` takes the directory's password too: the log-in
form, re-authentication before creating an API token, the two-factor pages. django-axes (which
wraps `authenticate()`) counts and locks out LDAP failures as it does local ones.

One log-in: connect (LDAPS, or StartTLS on ldap://, certificate and host name checked), bind
with the service account, search the user with LOCKER_LDAP_USER_FILTER (the typed name escaped,
so `*` or `)(` match only themselves), read whether the entry is in the required and staff
groups, then bind as the user with the typed password. The local account is created at the
first log-in and its name, e-mail and staff status are copied from the directory at each one;
its password is never stored (unusable locally). A local account of the same name that is not
from the directory is never taken over: its own password keeps working, the directory's does
not. Nor is another directory entry's account: an entry whose username is already the account
of another DN that still exists is refused (one whose old DN is gone has moved: it keeps its
account), and an entry renamed onto another account's username is refused too.

When the directory cannot be reached (down, wrong certificate, service account refused) the
log-in fails with "the directory is unreachable" (`directory_unreachable(request)`), never an
error page; local accounts, checked first, still log in.
"""

import contextlib
import logging
import ssl
import threading
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.backends import BaseBackend
from django.db import DataError, IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ldap3 import BASE, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPBindError,
    LDAPException,
    LDAPInvalidCredentialsResult,
    LDAPNoSuchObjectResult,
    LDAPSizeLimitExceededResult,
)
from ldap3.utils.conv import escape_filter_chars

from accounts.audit import A, audit
from accounts.models import AuditResult, User

logger = logging.getLogger(__name__)

# What the typed username may be: longer is refused before the directory is asked.
MAX_USERNAME = 150
MAX_PASSWORD = 4096
# Marks on the request for the log-in form (why it failed) and the audit log.
UNREACHABLE_ATTR = "locker_ldap_unreachable"
REFUSAL_ATTR = "locker_ldap_refusal"

UNREACHABLE_MESSAGE = _(
    "The directory is unreachable, so your password could not be checked. Please try again "
    "later, or tell your administrator."
)
NOT_ALLOWED_MESSAGE = _(
    "Your directory account is not allowed to use Locker. Ask your administrator to add you "
    "to its group."
)

CONFLICT_MESSAGE = _(
    "Your directory account cannot be matched to a Locker account (its username or e-mail "
    "address is already used by another one). Ask your administrator."
)
NOT_IN_GROUP = "not in the required group"


class DirectoryUnreachable(Exception):
    """The directory did not answer, its certificate was refused, or the service account was."""


@dataclass
class DirectoryEntry:
    dn: str
    username: str
    email: str
    name: str
    allowed: bool
    staff: bool


def directory_unreachable(request: HttpRequest | None) -> bool:
    """The last authenticate() on this request failed because the directory was unreachable."""
    return bool(getattr(request, UNREACHABLE_ATTR, False))


def directory_refusal(request: HttpRequest | None) -> str:
    """Why the directory refused the last log-in on this request after a right password."""
    return getattr(request, REFUSAL_ATTR, "")


class _CheckedTls(Tls):
    """TLS by the standard library's default client context: TLS 1.2 or newer, the certificate
    checked against LOCKER_LDAP_CA_FILE (else the system's CAs) and the URL's host name (or IP
    address) checked by OpenSSL during the handshake. ldap3's own name check is not used: it
    relies on ssl.match_hostname, gone from Python 3.12, whose fallback refuses IP addresses."""

    def __init__(self, host: str):
        super().__init__(validate=ssl.CERT_REQUIRED)
        self.host = host

    def wrap_socket(self, connection, do_handshake=False):
        context = ssl.create_default_context(cafile=settings.LOCKER_LDAP_CA_FILE or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        connection.socket = context.wrap_socket(
            connection.socket, server_hostname=self.host, do_handshake_on_connect=do_handshake
        )


def _server() -> Server:
    server = Server(
        settings.LOCKER_LDAP_URL, get_info=NONE, connect_timeout=settings.LOCKER_LDAP_TIMEOUT
    )
    server.tls = _CheckedTls(server.host)
    return server


def _connection(server: Server, *, user: str | None, password: str | None) -> Connection:
    """An open connection, encrypted when asked (StartTLS), bound as `user`."""
    connection = Connection(
        server,
        user=user,
        password=password,
        read_only=True,
        receive_timeout=settings.LOCKER_LDAP_TIMEOUT,
        raise_exceptions=True,
    )
    connection.open()
    if settings.LOCKER_LDAP_START_TLS:
        connection.start_tls()
    connection.bind()
    return connection


def _service_connection(server: Server) -> Connection:
    """A connection bound as the service account; DirectoryUnreachable when there is none."""
    try:
        return _connection(
            server,
            user=settings.LOCKER_LDAP_BIND_DN or None,
            password=settings.LOCKER_LDAP_BIND_PASSWORD or None,
        )
    except (LDAPException, OSError) as exc:
        raise DirectoryUnreachable(f"{type(exc).__name__}: {exc}") from exc


def _first(attributes: dict, name: str) -> str:
    value = attributes.get(name) if name else None
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value).strip() if value else ""


def _member_of(connection: Connection, group_dn: str, *, dn: str, username: str) -> bool:
    """Whether the group entry lists the user: groupOfNames/AD (`member`), groupOfUniqueNames
    (`uniqueMember`) or posixGroup (`memberUid`). Nested groups are not followed."""
    if not group_dn:
        return False
    search_filter = "(|(member={dn})(uniqueMember={dn})(memberUid={uid}))".format(
        dn=escape_filter_chars(dn), uid=escape_filter_chars(username)
    )
    try:
        connection.search(
            group_dn, search_filter, search_scope=BASE, attributes=["1.1"], size_limit=1
        )
    except LDAPNoSuchObjectResult:
        logger.warning("LDAP: the group %s does not exist; nobody is in it.", group_dn)
        return False
    return bool(connection.response and connection.response[0].get("type") == "searchResEntry")


_in_flight = 0
_in_flight_lock = threading.Lock()


@contextlib.contextmanager
def _directory_slot():
    """One of the LOCKER_LDAP_MAX_CONNECTIONS directory checks this process may run at once.

    A slow or hung directory holds each log-in for up to LOCKER_LDAP_TIMEOUT per step; without a
    bound, anyone posting log-ins with made-up names would tie up every web thread. Past the
    bound a log-in is answered at once with "the directory is unreachable"; the other threads
    keep serving everything else.
    """
    global _in_flight
    with _in_flight_lock:
        if _in_flight >= settings.LOCKER_LDAP_MAX_CONNECTIONS:
            raise DirectoryUnreachable(
                f"{_in_flight} directory checks already waiting in this process "
                "(LOCKER_LDAP_MAX_CONNECTIONS); not one more"
            )
        _in_flight += 1
    try:
        yield
    finally:
        with _in_flight_lock:
            _in_flight -= 1


def directory_check(username: str, password: str) -> DirectoryEntry | None:
    """The directory's entry for `username` when `password` is its password, else None.

    Raises DirectoryUnreachable when the directory cannot say, or when this process already
    waits on LOCKER_LDAP_MAX_CONNECTIONS of them.
    """
    with _directory_slot():
        return _directory_check(username, password)


def _directory_check(username: str, password: str) -> DirectoryEntry | None:
    server = _server()
    connection = _service_connection(server)
    try:
        attributes = [
            a
            for a in (
                settings.LOCKER_LDAP_USERNAME_ATTR,
                settings.LOCKER_LDAP_EMAIL_ATTR,
                settings.LOCKER_LDAP_NAME_ATTR,
                "cn",
            )
            if a
        ]
        search_filter = settings.LOCKER_LDAP_USER_FILTER % {"user": escape_filter_chars(username)}
        try:
            connection.search(
                settings.LOCKER_LDAP_USER_BASE,
                search_filter,
                search_scope=SUBTREE,
                attributes=attributes,
                size_limit=2,
            )
            found = [r for r in connection.response or [] if r.get("type") == "searchResEntry"]
        except LDAPSizeLimitExceededResult:
            found = [None, None, None]
        if len(found) != 1:
            # None, or two entries for one name: a filter that is too wide. Refuse either way.
            if len(found) > 1:
                logger.warning("LDAP: %d entries match the user filter for one name.", len(found))
            return None
        entry = found[0]
        dn = entry["dn"]
        values = entry.get("attributes") or {}
        local_name = _first(values, settings.LOCKER_LDAP_USERNAME_ATTR) or username
        allowed = not settings.LOCKER_LDAP_REQUIRE_GROUP or _member_of(
            connection, settings.LOCKER_LDAP_REQUIRE_GROUP, dn=dn, username=local_name
        )
        staff = _member_of(connection, settings.LOCKER_LDAP_STAFF_GROUP, dn=dn, username=local_name)
        # Last, the password itself: a bind as the user on the same encrypted connection.
        try:
            connection.rebind(user=dn, password=password)
        except (LDAPBindError, LDAPInvalidCredentialsResult):
            return None
        return DirectoryEntry(
            dn=dn,
            username=local_name,
            email=_first(values, settings.LOCKER_LDAP_EMAIL_ATTR),
            name=_first(values, settings.LOCKER_LDAP_NAME_ATTR) or _first(values, "cn"),
            allowed=allowed,
            staff=staff,
        )
    except (LDAPException, OSError) as exc:
        raise DirectoryUnreachable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(LDAPException):
            connection.unbind()


def directory_entry_exists(dn: str) -> bool:
    """Whether `dn` is still an entry of the directory (read as the service account).

    Raises DirectoryUnreachable when the directory cannot say.
    """
    with _directory_slot():
        connection = _service_connection(_server())
        try:
            connection.search(dn, "(objectClass=*)", search_scope=BASE, attributes=["1.1"])
            return any(r.get("type") == "searchResEntry" for r in connection.response or [])
        except LDAPNoSuchObjectResult:
            return False
        except (LDAPException, OSError) as exc:
            raise DirectoryUnreachable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            with contextlib.suppress(LDAPException):
                connection.unbind()


def _held_by_another_entry(entry: DirectoryEntry) -> bool:
    """The entry's username is a local account's from another directory entry that still
    exists: two entries claim one account, so neither may take it (an entry that moved or was
    renamed leaves its old DN behind and takes its account along)."""
    holder = (
        User.objects.filter(username__iexact=entry.username)
        .exclude(ldap_dn="")
        .exclude(ldap_dn__iexact=entry.dn)
        .only("ldap_dn")
        .first()
    )
    return holder is not None and directory_entry_exists(holder.ldap_dn)


def directory_members_recheck() -> int:
    """End the sessions and revoke the API tokens of each directory user no longer in
    LOCKER_LDAP_REQUIRE_GROUP (run every LOCKER_LDAP_RECHECK_EVERY by Celery beat): leaving the
    group must not leave them a session or a token. Returns how many were cut off.

    Nothing is revoked when the directory cannot say: unreachable, the group missing, or no
    one in it any more (a group the service account cannot read): a configuration mistake
    rather than everybody leaving.
    """
    from accounts.services import api_tokens_revoke_all, user_sessions_end

    group = settings.LOCKER_LDAP_REQUIRE_GROUP
    if not settings.LOCKER_LDAP_URL or not group:
        return 0
    if not directory_entry_exists(group):
        logger.warning("LDAP: the group %s does not exist; no one is cut off.", group)
        return 0
    connection = _service_connection(_server())
    try:
        gone = [
            user
            for user in User.objects.filter(is_active=True).exclude(ldap_dn="").iterator()
            if not _member_of(connection, group, dn=user.ldap_dn, username=user.username)
        ]
    except (LDAPException, OSError) as exc:
        raise DirectoryUnreachable(f"{type(exc).__name__}: {exc}") from exc
    finally:
        with contextlib.suppress(LDAPException):
            connection.unbind()
    if (
        len(gone) > 1
        and not User.objects.filter(is_active=True)
        .exclude(ldap_dn="")
        .exclude(pk__in=[user.pk for user in gone])
        .exists()
    ):
        # Everybody at once: a group the service account cannot read, or not a group at all.
        logger.warning(
            "LDAP: no directory user is in %s any more; taken for a mistake, no one is cut off.",
            group,
        )
        return 0
    for user in gone:
        sessions = user_sessions_end(user=user)
        tokens = api_tokens_revoke_all(user=user)
        if sessions or tokens:
            audit(
                A.LOGOUT,
                target=user,
                ldap=NOT_IN_GROUP,
                sessions_ended=sessions,
                tokens_revoked=tokens,
            )
    return len(gone)


class DirectoryUserConflict(Exception):
    """The directory's user cannot be matched to a local account safely."""


def directory_user_sync(entry: DirectoryEntry) -> User:
    """The local account of a directory user, created at the first log-in and brought up to
    date (name, e-mail, staff) at each one. Its password stays unusable."""
    with transaction.atomic():
        user = User.objects.select_for_update().filter(ldap_dn__iexact=entry.dn).first()
        if (
            user is not None
            and User.objects.filter(username__iexact=entry.username).exclude(pk=user.pk).exists()
        ):
            raise DirectoryUserConflict("another account already has this username")
        if user is None:
            user = User.objects.select_for_update().filter(username__iexact=entry.username).first()
            if user is not None and not user.from_directory:
                raise DirectoryUserConflict("a local account already has this username")
        email = entry.email or f"{entry.username}@ldap.invalid"
        if len(entry.username) > MAX_USERNAME or len(email) > 254:
            raise DirectoryUserConflict("its username or e-mail address is too long")
        if User.objects.filter(email__iexact=email).exclude(pk=getattr(user, "pk", None)).exists():
            raise DirectoryUserConflict("another account already has this e-mail address")
        created = user is None
        if created:
            user = User(username=entry.username, ldap_dn=entry.dn)
            user.set_unusable_password()
        was_staff = user.is_staff
        user.username = entry.username
        user.ldap_dn = entry.dn
        user.email = email
        user.display_name = entry.name[:150]
        if settings.LOCKER_LDAP_STAFF_GROUP:
            user.is_staff = entry.staff
        if user.has_usable_password():  # never keep a local password for a directory user
            user.set_unusable_password()
        user.save()
        if created:
            audit(A.USER_CREATED, actor=user, target=user, source="ldap")
        elif was_staff != user.is_staff:
            audit(
                A.USER_STAFF_CHANGED, actor=user, target=user, is_staff=user.is_staff, source="ldap"
            )
    return user


class LdapBackend(BaseBackend):
    """Checks a username and password against the directory (see the module's docstring)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None:
            setattr(request, UNREACHABLE_ATTR, False)
            setattr(request, REFUSAL_ATTR, "")
        if not username or not password:
            # An empty password would be an "unauthenticated bind", which many servers accept.
            return None
        if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            return None
        local = User.objects.filter(username__iexact=username).only("ldap_dn").first()
        if local is not None and not local.from_directory:
            return None  # a local account: its own password only (checked by ModelBackend)
        try:
            entry = directory_check(username, password)
        except DirectoryUnreachable as exc:
            self._unreachable(request, username, exc)
            return None
        if entry is None:
            return None
        if not entry.allowed:
            self._refuse(request, NOT_IN_GROUP)
            return None
        try:
            if _held_by_another_entry(entry):
                self._refuse(request, "another directory entry holds this username")
                return None
        except DirectoryUnreachable as exc:
            self._unreachable(request, username, exc)
            return None
        try:
            try:
                user = directory_user_sync(entry)
            except IntegrityError:
                # Two first log-ins at once: the other one created the account; take it up.
                user = directory_user_sync(entry)
        except (DirectoryUserConflict, IntegrityError, DataError) as exc:
            logger.warning("LDAP: %s cannot log in: %s", entry.dn, exc)
            self._refuse(request, str(exc))
            return None
        return user if user.is_active else None

    @staticmethod
    def _unreachable(request, username: str, exc: DirectoryUnreachable) -> None:
        logger.warning("LDAP: the directory is unreachable: %s", exc)
        if request is not None:
            setattr(request, UNREACHABLE_ATTR, True)
        audit(
            A.LDAP_UNREACHABLE,
            target_type="user",
            target_label=username[:150],
            result=AuditResult.FAILURE,
            request=request,
            error=str(exc)[:1000],
        )

    @staticmethod
    def _refuse(request, reason: str) -> None:
        if request is not None:
            setattr(request, REFUSAL_ATTR, reason)

    def get_user(self, user_id):
        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None

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
not.

When the directory cannot be reached (down, wrong certificate, service account refused) the
log-in fails with "the directory is unreachable" (`directory_unreachable(request)`), never an
error page; local accounts, checked first, still log in.
"""

import contextlib
import logging
import ssl
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


def directory_check(username: str, password: str) -> DirectoryEntry | None:
    """The directory's entry for `username` when `password` is its password, else None.

    Raises DirectoryUnreachable when the directory cannot say.
    """
    server = _server()
    try:
        connection = _connection(
            server,
            user=settings.LOCKER_LDAP_BIND_DN or None,
            password=settings.LOCKER_LDAP_BIND_PASSWORD or None,
        )
    except (LDAPException, OSError) as exc:
        raise DirectoryUnreachable(f"{type(exc).__name__}: {exc}") from exc
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


class DirectoryUserConflict(Exception):
    """The directory's user cannot be matched to a local account safely."""


def directory_user_sync(entry: DirectoryEntry) -> User:
    """The local account of a directory user, created at the first log-in and brought up to
    date (name, e-mail, staff) at each one. Its password stays unusable."""
    with transaction.atomic():
        user = User.objects.select_for_update().filter(ldap_dn__iexact=entry.dn).first()
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
            return None
        if entry is None:
            return None
        if not entry.allowed:
            self._refuse(request, NOT_IN_GROUP)
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
    def _refuse(request, reason: str) -> None:
        if request is not None:
            setattr(request, REFUSAL_ATTR, reason)

    def get_user(self, user_id):
        user = User.objects.filter(pk=user_id).first()
        return user if user is not None and user.is_active else None

import hashlib

from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def default_quota() -> int:
    return settings.LOCKER_DEFAULT_QUOTA


def hash_secret(secret: str) -> str:
    """Tokens carry 256 random bits, so a fast unsalted hash is enough to store them safely."""
    return hashlib.sha256(secret.encode()).hexdigest()


class User(AbstractUser):
    email = models.EmailField(_("e-mail address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=150, blank=True)
    quota_bytes = models.BigIntegerField(
        _("storage quota (bytes)"), default=default_quota, help_text=_("0 means unlimited.")
    )
    used_bytes = models.BigIntegerField(_("storage used (bytes)"), default=0)

    class Theme(models.TextChoices):
        SYSTEM = "system", _("As the system")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    theme = models.CharField(
        _("colour theme"), max_length=10, choices=Theme.choices, default=Theme.SYSTEM
    )
    # Pages and e-mails in this language; empty: the browser's (Accept-Language), else
    # LOCKER_LANGUAGE. A code of settings.LANGUAGES.
    language = models.CharField(_("language"), max_length=10, blank=True, default="")
    # The directory entry of an account that logs in through LDAP (accounts.ldap); empty for a
    # local account. Such an account has no local password.
    ldap_dn = models.CharField(_("directory entry (LDAP)"), max_length=1024, blank=True, default="")

    objects = UserManager()
    REQUIRED_FIELDS = ["email"]

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    @property
    def public_name(self) -> str:
        return self.display_name or self.username

    @property
    def from_directory(self) -> bool:
        """Logs in through LDAP: the password is the directory's, never stored here."""
        return bool(self.ldap_dn)

    def check_password(self, raw_password) -> bool:
        """A directory user's local password, however it was set (Django's admin, `manage.py
        changepassword`), is never accepted: checked before the directory, it would let them
        in after they left the required group or the directory."""
        if self.from_directory:
            return False
        return super().check_password(raw_password)


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True, user__is_active=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal API token. Only the SHA-256 of the secret is kept."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text=_("First characters, to recognise it."))
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # What the token may do (accounts.scopes): a list of scope names, ["*"] for everything.
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    # When set, the token only reaches this folder's subtree (files.selectors); deleting the
    # folder for good deletes the token, which never falls back to the whole locker.
    folder = models.ForeignKey(
        "files.Folder",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("confined to folder"),
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Invitation(models.Model):
    """A single-use link that lets an invited user choose a password."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class OidcIdentity(models.Model):
    """The account at the identity provider (issuer, subject) a user logs in with (SSO).

    `groups` is what the provider said at the last log-in or re-check; `checked_at` when."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identities"
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)
    groups = models.JSONField(_("groups"), default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="accounts_oidc_unique_sub"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


# --- Audit log --------------------------------------------------------------------------------


class AuditAction(models.TextChoices):
    """The fixed set of events the audit log records (dotted names, stable: they are exported)."""

    LOGIN_SUCCESS = "login.success", _("Logged in")
    LOGIN_FAILURE = "login.failure", _("Log-in failed")
    LDAP_UNREACHABLE = "ldap.unreachable", _("Directory (LDAP) unreachable")
    LOGOUT = "logout", _("Logged out")
    LOCKOUT = "lockout", _("Locked out after failed log-ins")
    TOKEN_CREATED = "token.created", _("API token created")
    TOKEN_REVOKED = "token.revoked", _("API token revoked")
    TOKEN_FIRST_USE = "token.first_use", _("API token used for the first time")
    PASSWORD_CHANGED = "password.changed", _("Password changed")
    USER_CREATED = "user.created", _("User created")
    USER_DEACTIVATED = "user.deactivated", _("User deactivated")
    USER_REACTIVATED = "user.reactivated", _("User reactivated")
    USER_STAFF_CHANGED = "user.staff_changed", _("Staff status changed")
    TWO_FACTOR_ENABLED = "2fa.enabled", _("Two-factor log-in enabled")
    TWO_FACTOR_DISABLED = "2fa.disabled", _("Two-factor log-in disabled")
    TWO_FACTOR_RESET = "2fa.reset", _("Two-factor log-in reset by staff")
    TWO_FACTOR_FAILURE = "2fa.failure", _("Wrong second-factor code")
    SHARE_CREATED = "share.created", _("Share link created")
    SHARE_CHANGED = "share.changed", _("Share link changed")
    SHARE_REVOKED = "share.revoked", _("Share link revoked")
    SHARE_ACCESSED = "share.accessed", _("Share link downloaded")
    SHARE_EMAILED = "share.emailed", _("Share link sent by e-mail")
    UPLOAD_LINK_CREATED = "upload_link.created", _("Upload link created")
    UPLOAD_LINK_CHANGED = "upload_link.changed", _("Upload link changed")
    UPLOAD_LINK_REVOKED = "upload_link.revoked", _("Upload link revoked")
    FILE_DELETED = "file.deleted", _("Moved to the trash")
    FILE_RESTORED = "file.restored", _("Restored from the trash")
    FILE_PURGED = "file.purged", _("Deleted for good")
    FILE_INFECTED = "file.infected", _("Infected file found")
    KEYS_ROTATED = "keys.rotated", _("Master keys rotated")
    SSO_SESSION_ENDED = "sso.session_ended", _("Single sign-on session ended by the provider")


class AuditResult(models.TextChoices):
    SUCCESS = "success", _("success")
    FAILURE = "failure", _("failure")


class AppendOnlyError(Exception):
    """The audit log cannot be changed or deleted through the ORM, only pruned by age."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events cannot be changed.")

    def delete(self):
        raise AppendOnlyError("Audit events cannot be deleted; they are pruned by age only.")

    def for_user(self, user):
        """What a user may see: what they did, and what was done to their account or data."""
        return self.filter(models.Q(actor=user) | models.Q(subject=user))


class AuditEvent(models.Model):
    """One security-relevant event. Append-only: rows are only ever inserted, then pruned by age
    (`audit_prune`, LOCKER_AUDIT_DAYS)."""

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    # Who did it (null: anonymous or the system), and the username at that time, which stays
    # readable if the account is deleted later.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_label = models.CharField(_("actor name"), max_length=150, blank=True)
    # Whose account or data the event concerns: the owner sees it in their activity.
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("concerns"),
    )
    ip = models.GenericIPAddressField(_("network (truncated IP)"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=40, choices=AuditAction.choices)
    target_type = models.CharField(_("target type"), max_length=40, blank=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target_label = models.CharField(_("target"), max_length=200, blank=True)
    result = models.CharField(
        _("result"), max_length=10, choices=AuditResult.choices, default=AuditResult.SUCCESS
    )
    extra = models.JSONField(_("details"), default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["actor", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["subject", "-created_at"], name="audit_subject_time"),
            models.Index(fields=["action", "-created_at"], name="audit_action_time"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events cannot be deleted; they are pruned by age only.")

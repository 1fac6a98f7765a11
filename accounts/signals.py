"""Events other apps signal, into the audit log: log-ins (Django's and django-axes' signals)
and master key rotations (the storage engine's, which does not import accounts)."""

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts.audit import A, audit
from accounts.models import AuditResult
from storage.signals import master_keys_rotated


def _user_named(username: str | None):
    if not username:
        return None
    return get_user_model().objects.filter(username__iexact=username).first()


@receiver(user_logged_in, dispatch_uid="audit_login_success")
def _logged_in(sender, request, user, **kwargs):
    extra = {}
    if second_factor := getattr(request, "locker_second_factor", None):
        extra["second_factor"] = second_factor
    if getattr(user, "backend", "") == "accounts.ldap.LdapBackend":
        extra["source"] = "ldap"
    if method := getattr(request, "locker_login_method", None):
        extra["source"] = method
    audit(A.LOGIN_SUCCESS, actor=user, target=user, request=request, **extra)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit(A.LOGOUT, actor=user, target=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failure")
def _login_failed(sender, credentials, request=None, **kwargs):
    username = (credentials or {}).get("username") or ""
    extra = {}
    if getattr(request, "locker_ldap_unreachable", False):
        extra["ldap"] = "directory unreachable"
    elif refusal := getattr(request, "locker_ldap_refusal", ""):
        extra["ldap"] = refusal
    # The account (if any) sees failed attempts on it; the name typed is kept short.
    audit(
        A.LOGIN_FAILURE,
        subject=_user_named(username),
        target_type="user",
        target_label=username[:150],
        result=AuditResult.FAILURE,
        request=request,
        **extra,
    )


@receiver(user_locked_out, dispatch_uid="audit_lockout")
def _locked_out(sender, request, username=None, ip_address=None, **kwargs):
    audit(
        A.LOCKOUT,
        subject=_user_named(username),
        target_type="user",
        target_label=(username or "")[:150],
        result=AuditResult.FAILURE,
        request=request,
    )


@receiver(master_keys_rotated, dispatch_uid="audit_keys_rotated")
def _keys_rotated(sender, newest_id, result, **kwargs):
    audit(
        A.KEYS_ROTATED,
        target_type="master_key",
        target_id=newest_id,
        target_label=newest_id,
        result=AuditResult.FAILURE if result.failed else AuditResult.SUCCESS,
        rewrapped=result.rewrapped,
        failed=result.failed,
        remaining=result.remaining,
    )


@receiver(user_logged_in, dispatch_uid="theme_from_cookie")
def _theme_from_cookie(sender, request, user, **kwargs):
    """A visitor who chose light or dark before logging in keeps it (static/js/theme.js's
    cookie) when their profile has no choice of its own ("system"); an explicit one wins."""
    from accounts.services import user_theme_set
    from locker.context_processors import THEME_COOKIE

    chosen = request.COOKIES.get(THEME_COOKIE, "") if request is not None else ""
    if user.theme == user.Theme.SYSTEM and chosen in (user.Theme.LIGHT, user.Theme.DARK):
        user_theme_set(user=user, theme=chosen)

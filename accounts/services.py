"""What accounts do: tokens, invitations, users. Views, API and commands call these."""

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import A, audit
from accounts.models import ApiToken, Invitation, User, hash_secret
from accounts.scopes import ALL, SCOPES, scopes_granted, scopes_normalised
from accounts.scopes import CHOICES as SCOPE_CHOICES
from locker.env import MAX_BYTES
from locker.i18n import for_recipient

TOKEN_PREFIX = "lk_"
SIGNUP_SALT = "accounts.signup"


class InvitationUnusable(Exception):
    """The invitation link is unknown, expired or was already used."""


class SignupLinkUnusable(Exception):
    """The sign-up link is malformed, expired or was already used."""


def absolute_url(path: str) -> str:
    """Links in e-mails point at the configured public address, whatever the request's host."""
    return settings.LOCKER_BASE_URL + path


# --- API tokens -------------------------------------------------------------------------------


def api_token_scopes_check(
    *, user: User, scopes, folder=None, creator: ApiToken | None = None
) -> tuple[list[str], object]:
    """The scopes and folder a new token of `user` gets, or ValidationError: known scope names,
    at least one, `admin` only for staff; when a token (`creator`) makes it, nothing beyond that
    token's own scopes, and inside its folder (its folder when none is given; `folder` was
    looked up within it, accounts.scopes.folder_lookup). None: `creator`'s scopes, or all."""
    if scopes is None:
        scopes = list(creator.scopes) if creator is not None else [ALL]
    unknown = sorted(set(scopes) - set(SCOPE_CHOICES))
    if unknown:
        raise ValidationError({"scopes": _("Unknown scope: “%(scope)s”.") % {"scope": unknown[0]}})
    if not scopes:
        raise ValidationError({"scopes": _("Choose at least one scope.")})
    if "admin" in scopes and not user.is_staff:
        raise ValidationError(
            {"scopes": _("Only staff accounts can give a token the “admin” scope.")}
        )
    if creator is not None:
        beyond = [name for name in SCOPES if name in scopes_granted(scopes)]
        beyond = [name for name in beyond if name not in scopes_granted(creator.scopes)]
        if beyond:
            raise ValidationError(
                {
                    "scopes": _(
                        "A token cannot make a token with more rights than its own: this one "
                        "lacks the “%(scope)s” scope."
                    )
                    % {"scope": beyond[0]}
                }
            )
        if creator.folder_id is not None and folder is None:
            folder = creator.folder
    if folder is not None and (folder.owner_id != user.pk or folder.parent_id is None):
        raise ValidationError({"folder": _("Choose one of your folders.")})
    return scopes_normalised(scopes), folder


def api_token_create(
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    scopes=None,
    folder=None,
    creator: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored and shown only once.
    `scopes` and `folder` bound what it may do (api_token_scopes_check); `creator` is the token
    that makes it, when one does."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name.")})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    scopes, folder = api_token_scopes_check(
        user=user, scopes=scopes, folder=folder, creator=creator
    )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            token_hash=hash_secret(secret),
            prefix=secret[: len(TOKEN_PREFIX) + 6],
            expires_at=expires_at,
            scopes=scopes,
            folder=folder,
        )
        # What it may do is part of the record: a token made with more than expected shows.
        extra = {"scopes": scopes}
        if folder is not None:
            extra["folder"] = str(folder.public_id)
        audit(A.TOKEN_CREATED, actor=user, target=token, **extra)
    return token, secret


def api_token_revoke(*, user: User, token_id: int) -> bool:
    """Revoke one of the user's own tokens. False when it is not theirs or already revoked."""
    updated = ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if updated == 1:
        audit(A.TOKEN_REVOKED, actor=user, target=ApiToken.objects.get(pk=token_id))
    return updated == 1


def api_tokens_revoke_all(*, user: User) -> int:
    """Revoke every usable token of the user at once; returns how many."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


# --- Passwords --------------------------------------------------------------------------------


def password_set(*, user: User, password: str, revoke_tokens: bool, how: str) -> int:
    """Give the user a new password (already validated by the caller's form or serializer).

    Django ends the user's other sessions by itself (they hold a hash of the old password);
    API tokens do not depend on the password, so `revoke_tokens` (on by default wherever a user
    changes or resets a password) revokes them all: whoever had the old password may have
    made one. `how` ("change", "reset", "api") goes into the audit record. Returns the number
    of tokens revoked.
    """
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        revoked = api_tokens_revoke_all(user=user) if revoke_tokens else 0
        audit(A.PASSWORD_CHANGED, actor=user, target=user, how=how, tokens_revoked=revoked)
    return revoked


def password_set_elsewhere(*, user: User, how: str) -> int:
    """What every password change does, for one Django made itself (`manage.py
    changepassword`): revoke the user's API tokens (whoever had the old password may have made
    one) and audit the change. Returns the number of tokens revoked."""
    with transaction.atomic():
        revoked = api_tokens_revoke_all(user=user)
        audit(A.PASSWORD_CHANGED, subject=user, target=user, how=how, tokens_revoked=revoked)
    return revoked


# --- Users ------------------------------------------------------------------------------------


def _check_identity_free(*, username: str, email: str, exclude_pk: int | None = None) -> None:
    errors = {}
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if username and others.filter(username__iexact=username).exists():
        errors["username"] = _("A user with that username already exists.")
    if email and others.filter(email__iexact=email).exists():
        errors["email"] = _("A user with that e-mail address already exists.")
    if errors:
        raise ValidationError(errors)


def user_create(
    *,
    username: str,
    email: str,
    password: str | None = None,
    display_name: str = "",
    is_staff: bool = False,
    quota_bytes: int | None = None,
) -> User:
    """Create an account. Without a password it has an unusable one until an invitation is used."""
    # Checked as it will be saved (full_clean normalises it, NFKC: `ａｄｍｉｎ` is `admin`).
    username = User.normalize_username(username.strip())
    email = User.objects.normalize_email(email.strip())
    _check_identity_free(username=username, email=email)
    user = User(username=username, email=email, display_name=display_name, is_staff=is_staff)
    if quota_bytes is not None:
        user.quota_bytes = quota_bytes
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    # The constraints were checked above with clearer messages.
    user.full_clean(validate_constraints=False, validate_unique=False)
    with transaction.atomic():
        user.save()
        audit(A.USER_CREATED, target=user)
    return user


def invitation_create(*, user: User, created_by: User | None) -> tuple[Invitation, str]:
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        user=user,
        token_hash=hash_secret(token),
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=settings.LOCKER_INVITATION_DAYS),
    )
    return invitation, token


def _invitation_email_send(*, invitation: Invitation, token: str) -> None:
    context = {
        "user": invitation.user,
        "inviter": invitation.created_by,
        "url": absolute_url(reverse("invitation_accept", args=[token])),
        "expires_at": invitation.expires_at,
        "days": settings.LOCKER_INVITATION_DAYS,
    }
    with for_recipient(user=invitation.user):
        subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
        body = render_to_string("accounts/email/invitation.txt", context)
    send_mail(subject, body, None, [invitation.user.email])


def user_invite(*, username: str, email: str, invited_by: User | None) -> User:
    """Create an account without a password and e-mail a single-use link to choose one."""
    with transaction.atomic():
        user = user_create(username=username, email=email)
        invitation, token = invitation_create(user=user, created_by=invited_by)
    _invitation_email_send(invitation=invitation, token=token)
    return user


def invitation_resend(*, user: User, invited_by: User | None) -> Invitation:
    """Send a new link to a user who has not chosen a password yet; earlier links stop working."""
    if user.from_directory:  # no local password to choose: it would outlive the directory's
        raise ValidationError(
            _(
                "%(username)s logs in with the directory (LDAP) password; there is no Locker "
                "password to choose."
            )
            % {"username": user}
        )
    if user.has_usable_password():
        raise ValidationError(_("%(username)s has already chosen a password.") % {"username": user})
    if not user.is_active:
        raise ValidationError(_("%(username)s is deactivated.") % {"username": user})
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(
            expires_at=now
        )
        invitation, token = invitation_create(user=user, created_by=invited_by)
    _invitation_email_send(invitation=invitation, token=token)
    return invitation


def invitation_get(*, token: str) -> Invitation:
    """The usable invitation for this secret, or InvitationUnusable."""
    invitation = (
        Invitation.objects.select_related("user").filter(token_hash=hash_secret(token)).first()
    )
    if invitation is None or not invitation.is_usable or not invitation.user.is_active:
        raise InvitationUnusable
    if invitation.user.from_directory:  # its password is the directory's, never a local one
        raise InvitationUnusable
    return invitation


def invitation_accept(*, token: str, password: str) -> User:
    """Use an invitation once: set the invitee's password. Raises InvitationUnusable."""
    invitation = invitation_get(token=token)
    user = invitation.user
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    now = timezone.now()
    with transaction.atomic():
        # Conditional update: two simultaneous submissions cannot both use it.
        claimed = Invitation.objects.filter(
            pk=invitation.pk, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if claimed != 1:
            raise InvitationUnusable
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


def user_update(
    *,
    user: User,
    acting_user: User | None = None,
    is_active: bool | None = None,
    is_staff: bool | None = None,
    quota_bytes: int | None = None,
) -> User:
    """Administrative changes. Administrators cannot lock themselves out."""
    if acting_user is not None and acting_user.pk == user.pk:
        if is_active is False:
            raise ValidationError({"is_active": _("You cannot deactivate your own account.")})
        if is_staff is False:
            raise ValidationError({"is_staff": _("You cannot remove your own staff status.")})
    fields = []
    was_active, was_staff = user.is_active, user.is_staff
    if is_active is not None:
        user.is_active = is_active
        fields.append("is_active")
    if is_staff is not None:
        user.is_staff = is_staff
        fields.append("is_staff")
    if quota_bytes is not None:
        if quota_bytes < 0:
            raise ValidationError({"quota": _("The quota cannot be negative.")})
        if quota_bytes > MAX_BYTES:
            raise ValidationError({"quota": _("The quota is larger than Locker can store.")})
        user.quota_bytes = quota_bytes
        fields.append("quota_bytes")
    if fields:
        with transaction.atomic():
            user.save(update_fields=fields)
            user_status_changed(user=user, was_active=was_active, was_staff=was_staff)
    return user


def user_sessions_end(*, user: User) -> int:
    """Log the user out everywhere: delete every session that belongs to them."""
    from django.contrib.sessions.models import Session

    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


def user_status_changed(*, user: User, was_active: bool, was_staff: bool) -> None:
    """After an administrative save (API, staff page or Django admin): audit it, and end a
    deactivated user's sessions at once. Their tokens and links stop by checking is_active."""
    if was_active and not user.is_active:
        ended = user_sessions_end(user=user)
        audit(A.USER_DEACTIVATED, target=user, sessions_ended=ended)
    elif not was_active and user.is_active:
        audit(A.USER_REACTIVATED, target=user)
    if was_staff != user.is_staff:
        audit(A.USER_STAFF_CHANGED, target=user, is_staff=user.is_staff)


def user_theme_set(*, user: User, theme: str | None) -> User:
    """Remember the colour theme of the web pages for `user` (None: leave it)."""
    if theme is not None and theme != user.theme:
        if theme not in User.Theme.values:
            raise ValidationError({"theme": _("Choose system, light or dark.")})
        user.theme = theme
        User.objects.filter(pk=user.pk).update(theme=theme)
    return user


def user_language_set(*, user: User, language: str | None) -> User:
    """The language of `user`'s pages and e-mails ("" = the browser's; None: leave it)."""
    if language is not None and language != user.language:
        if language and language not in dict(settings.LANGUAGES):
            codes = ", ".join(code for code, _name in settings.LANGUAGES)
            raise ValidationError(
                {
                    "language": _("Choose one of %(codes)s, or empty for the browser's.")
                    % {"codes": codes}
                }
            )
        user.language = language
        User.objects.filter(pk=user.pk).update(language=language)
    return user


def profile_update(*, user: User, display_name: str, email: str, language: str = "") -> User:
    email = User.objects.normalize_email(email.strip())
    _check_identity_free(username="", email=email, exclude_pk=user.pk)
    user.display_name = display_name.strip()
    user.email = email
    user.language = language
    user.full_clean(validate_constraints=False, validate_unique=False)
    user.save(update_fields=["display_name", "email", "language"])
    return user


# --- Self-service sign-up ---------------------------------------------------------------------
# The sign-up page answers the same for every address: whether the name or address is taken is
# only ever told to the mailbox that asked, so the page cannot be used to probe for accounts.


def password_reset_send(*, email: str) -> int:
    """E-mail a password-reset link to each active account with this address; returns how many.

    Runs in a worker (accounts.tasks.send_password_reset), never in the request: sending takes
    time only when an account exists, and the reset page must answer alike either way.
    """
    from urllib.parse import urlsplit

    from django.contrib.auth.forms import PasswordResetForm

    form = PasswordResetForm(data={"email": email})
    if not form.is_valid():
        return 0
    users = list(form.get_users(form.cleaned_data["email"]))
    base = urlsplit(settings.LOCKER_BASE_URL)
    # Addresses are unique: the e-mail goes to one account, in its language.
    with for_recipient(email=form.cleaned_data["email"]):
        form.save(
            domain_override=base.netloc,
            use_https=base.scheme == "https",
            extra_email_context={"base_url": settings.LOCKER_BASE_URL},
        )
    return len(users)


def signup_request(*, username: str, email: str) -> None:
    """E-mail the address either a link to finish signing up, or why it cannot."""
    username = username.strip()
    email = User.objects.normalize_email(email.strip())
    context = {"username": username, "email": email, "days": settings.LOCKER_INVITATION_DAYS}
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        template = "accounts/email/signup_existing"
        context["reset_url"] = absolute_url(reverse("password_reset"))
        context["username"] = existing.username
    elif User.objects.filter(username__iexact=username).exists():
        template = "accounts/email/signup_taken"
        context["signup_url"] = absolute_url(reverse("signup"))
    else:
        template = "accounts/email/signup"
        token = signing.dumps({"u": username, "e": email}, salt=SIGNUP_SALT, compress=True)
        context["url"] = absolute_url(reverse("signup_complete", args=[token]))
    with for_recipient(user=existing):
        subject = render_to_string(f"{template}_subject.txt", context).strip()
        body = render_to_string(f"{template}.txt", context)
    send_mail(subject, body, None, [email])


def signup_link_read(*, token: str) -> dict[str, str]:
    """The username and e-mail a sign-up link was made for, or SignupLinkUnusable."""
    try:
        data = signing.loads(
            token, salt=SIGNUP_SALT, max_age=timedelta(days=settings.LOCKER_INVITATION_DAYS)
        )
    except signing.BadSignature:
        raise SignupLinkUnusable from None
    identity = {"username": data["u"], "email": data["e"]}
    # A link is used up once its account exists (or someone took the name meanwhile).
    if (
        User.objects.filter(email__iexact=identity["email"]).exists()
        or User.objects.filter(username__iexact=identity["username"]).exists()
    ):
        raise SignupLinkUnusable
    return identity


def signup_complete(*, token: str, password: str) -> User:
    identity = signup_link_read(token=token)
    try:
        return user_create(password=password, **identity)
    except ValidationError as exc:
        if "password" in getattr(exc, "error_dict", {}):
            raise
        raise SignupLinkUnusable from None

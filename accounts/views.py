"""Account pages. Each view reads a form, calls a service and renders; rules live in services."""

import math
import unicodedata

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import (
    ApiTokenCreateForm,
    ChoosePasswordForm,
    InviteForm,
    ProfileForm,
    SignupForm,
)
from accounts.models import User
from accounts.oidc import is_sso_session, password_login_allowed
from accounts.oidc_views import reauthenticate_sso
from accounts.scopes import folder_lookup
from accounts.tasks import send_password_reset
from accounts.throttles import bad_link_throttled, email_request_throttled
from accounts.twofactor import password_recent
from locker.errors import ErrorCode, error_body
from locker.show_once import show_once_stash, show_once_take

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _add_errors(form, exc: ValidationError) -> None:
    """Show a service's errors next to the form fields they concern."""
    aliases = {"password": "new_password2", "expires_at": "expires_in_days"}
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            field = aliases.get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _no_referrer(response: HttpResponse) -> HttpResponse:
    # These pages carry a secret in their URL; never leak it to another site.
    response["Referrer-Policy"] = "no-referrer"
    return response


# --- Log-in lock-out --------------------------------------------------------------------------


def lockout_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """The name django-axes counts failures by (AXES_USERNAME_CALLABLE): the typed username as
    an LDAP directory or Active Directory compares it (case, Unicode compatibility forms and
    spaces ignored), so "ada", "ADA" and "ａｄａ" share one lock-out instead of five guesses each;
    cut to the longest username an account can have, so a huge name is a failure, not an error.
    """
    if credentials:
        username = credentials.get("username")
    else:
        username = getattr(request, "data", request.POST).get("username")
    if not isinstance(username, str):
        return None
    name = " ".join(unicodedata.normalize("NFKC", username).casefold().split())
    return name[: User._meta.get_field("username").max_length]


def lockout_response(request: HttpRequest, original_response=None, credentials=None):
    """What django-axes answers once a username+IP pair is locked out.

    The same answer whether or not the username exists: axes counts failures per name given.
    """
    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else None
    if minutes:
        message = ngettext(
            "Too many failed log-in attempts. Please try again in %(minutes)d minute.",
            "Too many failed log-in attempts. Please try again in %(minutes)d minutes.",
            minutes,
        ) % {"minutes": minutes}
    else:
        message = _("Too many failed log-in attempts. Please contact an administrator.")
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body(ErrorCode.THROTTLED, message), status=429)
    else:
        response = render(request, "accounts/lockout.html", {"message": message}, status=429)
    if minutes:
        response["Retry-After"] = str(minutes * 60)
    return response


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset page, but the e-mail is sent by a worker (with a link on LOCKER_BASE_URL,
    not the request's host).

    It answers the same, and does the same work, whether or not the address has an account:
    sending inline would take longer for a known address and tell an attacker it exists.
    """

    def dispatch(self, request, *args, **kwargs):
        if settings.LOCKER_PASSWORD_LOGIN == "none":
            raise Http404  # no password log-in at all: nothing to reset
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if throttled := email_request_throttled(request):
            return throttled
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        email = form.cleaned_data["email"]
        transaction.on_commit(lambda: send_password_reset.delay(email))
        return HttpResponseRedirect(self.get_success_url())


# --- Profile ----------------------------------------------------------------------------------


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            try:
                services.profile_update(user=user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, _("Your profile was saved."))
                return redirect("profile")
        # A failed save must not leave the unsaved values on request.user (e.g. in the menu).
        user.refresh_from_db()
    else:
        form = ProfileForm(
            initial={
                "display_name": user.display_name,
                "email": user.email,
                "language": user.language,
            }
        )
    usage_percent = (
        min(100, round(100 * user.used_bytes / user.quota_bytes)) if user.quota_bytes else None
    )
    return render(request, "accounts/profile.html", {"form": form, "usage_percent": usage_percent})


# --- API tokens -------------------------------------------------------------------------------


@never_cache
@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    if request.method == "POST" and not password_recent(request) and is_sso_session(request):
        # The same rule for SSO users: a fresh log-in at the identity provider.
        return reauthenticate_sso(request, reverse("api_tokens"))
    if request.method == "POST" and not password_recent(request):
        # A token outlives this session: whoever holds the session must also know the password.
        messages.info(request, _("Enter your password again to create a token."))
        return redirect(f"{reverse('reauthenticate')}?next={reverse('api_tokens')}")
    if request.method == "POST":
        form = ApiTokenCreateForm(request.POST)
        folder = None
        if form.is_valid() and form.cleaned_data["folder"].strip():
            try:
                folder = folder_lookup(user=request.user, path=form.cleaned_data["folder"])
            except Http404:
                form.add_error("folder", _("You have no folder at this path."))
        if form.is_valid():
            try:
                token, secret = services.api_token_create(
                    user=request.user,
                    name=form.cleaned_data["name"],
                    expires_at=form.expires_at(),
                    scopes=form.cleaned_data["scopes"],
                    folder=folder,
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                # Stored only as a hash; shown once (sealed until then, locker.show_once) by the
                # page this redirects to, so a reload of the answer cannot create a second
                # token the user never sees.
                show_once_stash(request, key="api-token", value=[token.pk, secret])
                return redirect("api_tokens")
    else:
        form = ApiTokenCreateForm()
    tokens = selectors.api_token_list(user=request.user)
    new_token = new_secret = None
    if request.method == "GET" and (shown := show_once_take(request, key="api-token")):
        token_id, new_secret = shown
        new_token = next((token for token in tokens if token.pk == token_id), None)
        if new_token is None:  # revoked in between
            new_secret = None
    context = {
        "form": form,
        "tokens": tokens,
        "now": timezone.now(),
        "new_token": new_token,
        "new_secret": new_secret,
    }
    return render(request, "accounts/api_tokens.html", context)


@require_POST
@login_required
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.api_token_list(user=request.user).filter(pk=token_id).first()
    if token is None:
        raise Http404
    if request.POST.get("confirm") != "yes":
        # Without the page's script (which asks in a dialog), the Revoke button lands here.
        context = {
            "title": _("Revoke this token?"),
            "message": _(
                "Scripts and apps using the token “%(name)s” lose access at once. This cannot "
                "be undone."
            )
            % {"name": token.name},
            "action": request.path,
            "cancel_url": reverse("api_tokens"),
        }
        return render(request, "confirm_revoke.html", context)
    if not services.api_token_revoke(user=request.user, token_id=token_id):
        raise Http404
    messages.success(request, _("The token was revoked. It no longer works."))
    return redirect("api_tokens")


# --- Invitations ------------------------------------------------------------------------------


@login_required
def invite(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    if request.method == "POST":
        form = InviteForm(request.POST)
        if form.is_valid():
            try:
                user = services.user_invite(invited_by=request.user, **form.cleaned_data)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("%(username)s was invited; the link was sent to %(email)s.")
                    % {"username": user.username, "email": user.email},
                )
                return redirect("invite")
    else:
        form = InviteForm()
    context = {
        "form": form,
        "days": settings.LOCKER_INVITATION_DAYS,
        "invited": selectors.user_list_invited(),
        "now": timezone.now(),
    }
    return render(request, "accounts/invite.html", context)


@require_POST
@login_required
def invitation_resend(request: HttpRequest, user_id: int) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    user = selectors.user_list_invited().filter(pk=user_id).first()
    if user is None:
        raise Http404
    try:
        services.invitation_resend(user=user, invited_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _("A new link was sent to %(email)s; earlier links no longer work.")
            % {"email": user.email},
        )
    return redirect("invite")


@never_cache
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = services.invitation_get(token=token)
    except services.InvitationUnusable:
        return _no_referrer(_link_unusable(request, kind="invitation"))
    form = ChoosePasswordForm(invitation.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept(
                token=token, password=form.cleaned_data["new_password1"]
            )
        except services.InvitationUnusable:
            return _no_referrer(_link_unusable(request, kind="invitation"))
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            if not password_login_allowed(user):
                # LOCKER_PASSWORD_LOGIN: this password does not log in (single sign-on does).
                messages.success(request, _("Welcome! Your password is set."))
                return redirect("login")
            login(request, user, backend=MODEL_BACKEND)
            messages.success(request, _("Welcome! Your password is set."))
            return redirect("profile")
    return _no_referrer(
        render(
            request,
            "accounts/invitation_accept.html",
            {"form": form, "invited_user": invitation.user},
        )
    )


def _link_unusable(request: HttpRequest, *, kind: str) -> HttpResponse:
    """410 for an unknown, used or expired link; 429 once this address has opened too many."""
    if throttled := bad_link_throttled(request):
        return throttled
    return render(request, "accounts/link_unusable.html", {"kind": kind}, status=410)


# --- Sign-up ----------------------------------------------------------------------------------


def _require_signup_open() -> None:
    # With password log-in restricted (LOCKER_PASSWORD_LOGIN), a signed-up account could not
    # log in, and logging it in at once would be a way around single sign-on.
    if not settings.LOCKER_SIGNUP or settings.LOCKER_PASSWORD_LOGIN != "all":
        raise Http404


def signup(request: HttpRequest) -> HttpResponse:
    _require_signup_open()
    if request.method == "POST":
        if throttled := email_request_throttled(request):
            return throttled
        form = SignupForm(request.POST)
        if form.is_valid():
            services.signup_request(**form.cleaned_data)
            return redirect("signup_done")
    else:
        form = SignupForm()
    return render(request, "accounts/signup.html", {"form": form})


def signup_done(request: HttpRequest) -> HttpResponse:
    _require_signup_open()
    return render(request, "accounts/signup_done.html")


@never_cache
def signup_complete(request: HttpRequest, token: str) -> HttpResponse:
    _require_signup_open()
    try:
        identity = services.signup_link_read(token=token)
    except services.SignupLinkUnusable:
        return _no_referrer(_link_unusable(request, kind="signup"))
    form = ChoosePasswordForm(User(**identity), request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.signup_complete(
                token=token, password=form.cleaned_data["new_password1"]
            )
        except services.SignupLinkUnusable:
            return _no_referrer(_link_unusable(request, kind="signup"))
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            login(request, user, backend=MODEL_BACKEND)
            messages.success(request, _("Welcome! Your account is ready."))
            return redirect("profile")
    return _no_referrer(
        render(request, "accounts/signup_complete.html", {"form": form, "identity": identity})
    )

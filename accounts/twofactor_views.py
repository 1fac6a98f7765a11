"""Pages of two-factor log-in: the code step, enrolment, backup codes, disabling, staff reset,
and re-entering the password before sensitive actions."""

import math

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts import oidc, twofactor
from accounts.forms import LoginForm
from accounts.models import User
from locker.show_once import show_once_stash, show_once_take


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password", "autofocus": True}),
    )


def _safe_next(request: HttpRequest, default: str = "/") -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return default


class LoginView(auth_views.LoginView):
    """Django's log-in page; for accounts with a second factor it leads to the code step."""

    authentication_form = LoginForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["oidc_enabled"] = oidc.enabled()
        context["oidc_button"] = oidc.button_label() if oidc.enabled() else ""
        context["password_login"] = settings.LOCKER_PASSWORD_LOGIN
        context["password_form"] = oidc.password_form_shown()
        context["directory_on"] = bool(settings.LOCKER_LDAP_URL)
        if self.request.GET.get("sso_ended") == "1":
            context["sso_ended"] = oidc.SESSION_ENDED_MESSAGE
        return context

    def form_valid(self, form):
        user = form.get_user()
        if not oidc.password_login_allowed(user):
            # Answered as a wrong password: the page does not tell which accounts exist.
            form.add_error(None, form.get_invalid_login_error())
            return self.form_invalid(form)
        if twofactor.user_has_2fa(user):
            twofactor.pending_start(
                self.request, user=user, backend=user.backend, next_url=self.get_success_url()
            )
            return redirect("login_2fa")
        response = super().form_valid(form)
        twofactor.password_confirmed(self.request)
        return response


@never_cache
def login_2fa(request: HttpRequest) -> HttpResponse:
    """The second step of log-in: a code from the app, or one backup code."""
    user = twofactor.pending_user(request)
    if user is None:
        messages.error(request, _("Your log-in took too long or was not started. Log in again."))
        return redirect("login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            next_url = twofactor.pending_finish(request, form.cleaned_data["code"])
        except twofactor.CodeThrottled as exc:
            minutes = max(1, math.ceil(exc.wait / 60))
            form.add_error(
                "code",
                ngettext(
                    "Too many codes were tried for this account. Try again in %(minutes)d "
                    "minute, or log in from a browser you have used with your code before.",
                    "Too many codes were tried for this account. Try again in %(minutes)d "
                    "minutes, or log in from a browser you have used with your code before.",
                    minutes,
                )
                % {"minutes": minutes},
            )
            response = render(request, "accounts/login_2fa.html", {"form": form}, status=429)
            response["Retry-After"] = str(exc.wait)
            return response
        if next_url is not None:
            response = redirect(next_url)
            twofactor.known_browser_remember(request, response, user=request.user)
            return response
        if twofactor.pending_user(request) is None:
            messages.error(request, _("Too many wrong codes. Log in again."))
            return redirect("login")
        form.add_error("code", _("This code is not correct, or was already used."))
    return render(request, "accounts/login_2fa.html", {"form": form}, status=200)


@never_cache
@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Status page: on or off, backup codes left, and the actions."""
    user = request.user
    context = {
        "enabled": twofactor.user_has_2fa(user),
        "codes_left": twofactor.backup_codes_left(user=user),
        "password_form": PasswordForm(),
    }
    return render(request, "accounts/two_factor.html", context)


@never_cache
@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user = request.user
    if twofactor.user_has_2fa(user):
        return redirect("two_factor")
    device = twofactor.totp_device_pending(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = twofactor.totp_enrol_confirm(
            user=user, device=device, code=form.cleaned_data["code"]
        )
        if codes is not None:
            from django_otp import login as otp_login

            otp_login(request, device)
            # Never stored in clear: sealed until shown once by the page this redirects to.
            show_once_stash(request, key="backup-codes", value=codes)
            response = redirect("backup_codes_show")
            twofactor.known_browser_remember(request, response, user=user)
            return response
        form.add_error("code", _("This code is not correct. Check the time on your phone."))
    context = {
        "form": form,
        "secret": twofactor.totp_secret_text(device),
        "required": twofactor.user_must_enrol(user),
    }
    return render(request, "accounts/two_factor_setup.html", context)


@never_cache
@login_required
def two_factor_qr(request: HttpRequest) -> HttpResponse:
    """The enrolment QR code, drawn by us (no external service sees the secret)."""
    if twofactor.user_has_2fa(request.user):
        raise Http404
    device = twofactor.totp_device_pending(user=request.user)
    response = HttpResponse(twofactor.totp_qr_svg(device), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


def _password_ok(request: HttpRequest, form: PasswordForm) -> bool:
    """Re-check the password through authenticate(), so axes counts wrong guesses."""
    if not form.is_valid():
        return False
    user = authenticate(
        request, username=request.user.get_username(), password=form.cleaned_data["password"]
    )
    if user is not None and not oidc.password_login_allowed(user):
        # LOCKER_PASSWORD_LOGIN: a local password that cannot log in confirms nothing either
        # (an old one kept by an account linked to single sign-on).
        user = None
    if user is None or user.pk != request.user.pk:
        from accounts import ldap

        if ldap.directory_unreachable(request):
            form.add_error("password", ldap.UNREACHABLE_MESSAGE)
        else:
            form.add_error("password", _("This password is not correct."))
        return False
    twofactor.password_confirmed(request)
    return True


@require_POST
@login_required
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    form = PasswordForm(request.POST)
    if not _password_ok(request, form):
        messages.error(request, _("Two-factor log-in stays on: the password was not correct."))
        return redirect("two_factor")
    twofactor.two_factor_disable(user=request.user)
    messages.success(request, _("Two-factor log-in is off."))
    return redirect("two_factor")


@never_cache
@require_POST
@login_required
def backup_codes_new(request: HttpRequest) -> HttpResponse:
    form = PasswordForm(request.POST)
    if not twofactor.user_has_2fa(request.user) or not _password_ok(request, form):
        messages.error(request, _("No new codes: the password was not correct."))
        return redirect("two_factor")
    codes = twofactor.backup_codes_regenerate(user=request.user)
    show_once_stash(request, key="backup-codes", value=codes)
    return redirect("backup_codes_show")


@never_cache
@require_GET  # a HEAD must not use them up
@login_required
def backup_codes_show(request: HttpRequest) -> HttpResponse:
    """The new backup codes, once: a reload finds them gone (and makes no new ones)."""
    codes = show_once_take(request, key="backup-codes")
    if not codes:
        return redirect("two_factor")
    return render(request, "accounts/backup_codes.html", {"codes": codes})


@never_cache
@login_required
def reauthenticate(request: HttpRequest) -> HttpResponse:
    """Enter the password again before a sensitive action (e.g. creating an API token); an SSO
    session logs in again at the identity provider instead."""
    if oidc.is_sso_session(request):
        from accounts.oidc_views import reauthenticate_sso

        return reauthenticate_sso(request, _safe_next(request, default="/accounts/profile/"))
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and _password_ok(request, form):
        return redirect(_safe_next(request, default="/accounts/profile/"))
    context = {"form": form, "next": _safe_next(request, default="")}
    return render(request, "accounts/reauthenticate.html", context)


@login_required
def two_factor_reset(request: HttpRequest, user_id: int) -> HttpResponse:
    """Staff recovery path: remove a user's second factor (confirm page, then POST)."""
    if not request.user.is_staff:
        raise PermissionDenied
    target = get_object_or_404(User, pk=user_id)
    if request.method == "POST":
        twofactor.two_factor_reset(user=target, by=request.user)
        messages.success(
            request,
            _("Two-factor log-in of %(username)s was reset; they can enrol again.")
            % {"username": target.username},
        )
        return redirect("two_factor_reset", user_id=target.pk)
    context = {"target": target, "enabled": twofactor.user_has_2fa(target)}
    return render(request, "accounts/two_factor_reset.html", context)

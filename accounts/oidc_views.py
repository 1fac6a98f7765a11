"""Pages of single sign-on (accounts/oidc.py): start, callback, logout."""

import time

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts import oidc, twofactor
from accounts.twofactor_views import _safe_next
from locker.network import client_network
from locker.throttle import Throttle

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _require_enabled() -> None:
    if not oidc.enabled():
        raise Http404


@never_cache
def oidc_login(request: HttpRequest) -> HttpResponse:
    """Off to the identity provider. `?reauth=1` (a logged-in SSO user about to create an API
    token) asks the provider for a fresh log-in."""
    _require_enabled()
    reauth = request.GET.get("reauth") == "1" and request.user.is_authenticated
    try:
        return oidc.login_start(request, next_url=_safe_next(request, default="/"), reauth=reauth)
    except oidc.OidcUnavailable:
        return oidc.unavailable_response(request)


# Refused callbacks per network: each writes an audit record and may cost a token request to
# the provider, so an outsider's junk is bounded. Callbacks whose state this browser did not
# start (forged: any web page can make a victim's browser send them, without its cookies) and
# callbacks of log-ins this browser did start are counted apart, so that the first cannot lock
# a whole office behind one address out of single sign-on.
CALLBACK_FAILURES = Throttle("oidc-callback", limit=30, window=900)
STARTED_CALLBACK_FAILURES = Throttle("oidc-callback-started", limit=30, window=900)


@never_cache
def oidc_callback(request: HttpRequest) -> HttpResponse:
    _require_enabled()
    network = client_network(request)
    started_here = request.GET.get("state", "") in request.session.get(oidc.PENDING_KEY, {})
    throttle = STARTED_CALLBACK_FAILURES if started_here else CALLBACK_FAILURES
    if wait := throttle.retry_after(network):
        response = render(
            request,
            "accounts/oidc_refused.html",
            {"message": _("Too many failed log-ins from your network. Try again later.")},
            status=429,
        )
        response["Retry-After"] = str(wait)
        return response
    try:
        result = oidc.login_finish(request)
    except oidc.OidcUnavailable:
        return oidc.unavailable_response(request)
    except oidc.OidcRefused as refused:
        throttle.hit(network)
        context = {"message": refused.message, "reason": refused.reason}
        return render(request, "accounts/oidc_refused.html", context, status=403)
    # Read by the log-in signal's audit record; no second factor here: the provider's job.
    request.locker_login_method = "oidc"
    sso = request.session[oidc.SESSION_KEY]
    login(request, result.user, backend=MODEL_BACKEND)
    request.session[oidc.SESSION_KEY] = sso
    auth_at = oidc.session_fresh_auth_at(request)
    if auth_at is not None:
        # The provider's own check of the user's credentials counts as "recently confirmed"
        # (API token creation, accounts.twofactor.password_recent).
        # Never later than now: a provider's clock ahead (or its say-so) would make the log-in
        # "recent" for as long as it is ahead.
        request.session[twofactor.PASSWORD_AT_KEY] = min(auth_at, time.time())
    return redirect(result.next_url)


class LogoutView(auth_views.LogoutView):
    """Django's logout; an SSO session is also ended at the provider when it offers an
    end_session_endpoint (RP-initiated logout)."""

    def post(self, request, *args, **kwargs):
        sso = request.session.get(oidc.SESSION_KEY) if oidc.enabled() else None
        response = super().post(request, *args, **kwargs)
        if sso is not None:
            url = oidc.end_session_url(id_token=sso.get("id_token", ""))
            if url:
                # A page that moves on by itself, not a redirect: the logout button's form may
                # only lead to this site (CSP form-action 'self', which browsers also apply to
                # where a form's redirect goes).
                return render(request, "accounts/oidc_logout.html", {"end_session_url": url})
        return response


def reauthenticate_sso(request: HttpRequest, next_url: str) -> HttpResponse:
    messages.info(request, _("Log in again at the identity provider to create a token."))
    from django.urls import reverse
    from django.utils.http import urlencode

    return redirect(f"{reverse('oidc_login')}?{urlencode({'reauth': '1', 'next': next_url})}")

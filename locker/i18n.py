"""Which language a page, an API answer or an e-mail is written in.

In order: the logged-in user's profile setting (User.language), the visitor's choice from the
language switch (Django's language cookie), the browser's Accept-Language, LOCKER_LANGUAGE.
LocaleMiddleware does the last three; UserLanguageMiddleware (after session authentication)
puts the profile first. An API call with a bearer token is authenticated later, by DRF: it is
answered in the language its Accept-Language asks for (docs/web-ui.md, "Translations").
E-mails go out in the recipient's language when it is known (`for_recipient`), else in
LOCKER_LANGUAGE.
"""

from contextlib import AbstractContextManager
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django.views.i18n import set_language


def supported(code: str | None) -> str | None:
    """`code` if Locker has that language (settings.LANGUAGES), else None."""
    return code if code and code in dict(settings.LANGUAGES) else None


class UserLanguageMiddleware:
    """A logged-in user's language setting wins over the cookie and Accept-Language."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        code = supported(user.language) if user is not None and user.is_authenticated else None
        if code:
            translation.activate(code)
            request.LANGUAGE_CODE = code
        return self.get_response(request)


def _from_this_site(request: HttpRequest) -> bool:
    """The form was sent by one of our own pages: the browser says so (Sec-Fetch-Site), or its
    Origin (or, without one, its Referer) is this site or a trusted origin. Browsers send Origin
    with every cross-site POST; from a page with `Referrer-Policy: no-referrer` (share and
    upload-link pages, invitation links) they send `Origin: null` and no Referer, and only
    Sec-Fetch-Site tells (as in sharing.views.cross_site_post)."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        referer = urlsplit(request.headers.get("Referer", ""))
        origin = f"{referer.scheme}://{referer.netloc}" if referer.netloc else ""
    allowed = {f"{request.scheme}://{request.get_host()}", *settings.CSRF_TRUSTED_ORIGINS}
    return origin in allowed


# Checked by origin rather than by CSRF token: the switch is on every page, public ones too, and
# a token would make each rendering of a page different (pages that must answer alike whether
# an account exists, cacheable public pages).
@csrf_exempt
@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language switch: Django's set_language (a `next` on another host is refused, the
    choice kept in the language cookie), for forms sent from this site only; a logged-in
    user's profile setting changes with it, since it would otherwise win over the cookie."""
    if not _from_this_site(request):
        return HttpResponseForbidden(
            "The language can only be changed from Locker's own pages.", content_type="text/plain"
        )
    response = set_language(request)
    code = supported(request.POST.get("language"))
    user = request.user
    if code and user.is_authenticated and user.language != code:
        get_user_model().objects.filter(pk=user.pk).update(language=code)
    return response


def for_recipient(email: str | None = None, user=None) -> AbstractContextManager:
    """translation.override for an e-mail: the user's language (the user given, or the account
    with that address), else LOCKER_LANGUAGE; never the language of whoever triggered it."""
    if user is None and email:
        user = (
            get_user_model()
            .objects.filter(email__iexact=email)
            .only("language")
            .order_by("pk")
            .first()
        )
    code = supported(getattr(user, "language", "")) or settings.LANGUAGE_CODE
    return translation.override(code)

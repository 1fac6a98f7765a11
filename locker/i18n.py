"""Which language a page, an API answer or an e-mail is written in.

In order: the logged-in user's profile setting (User.language), the visitor's choice from the
language switch (Django's language cookie), the browser's Accept-Language, LOCKER_LANGUAGE.
LocaleMiddleware does the last three; UserLanguageMiddleware (after authentication) puts the
profile first. E-mails go out in the recipient's language when it is known (`for_recipient`),
else in LOCKER_LANGUAGE.
"""

from contextlib import AbstractContextManager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.utils import translation
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


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language switch: Django's set_language (CSRF-checked, a `next` on another host is
    refused, the choice kept in the language cookie); a logged-in user's profile setting
    changes with it, since it would otherwise win over the cookie."""
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

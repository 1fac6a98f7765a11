from django.conf import settings

from locker import __version__

THEME_COOKIE = "locker_theme"
THEMES = ("system", "light", "dark")


def page_theme(request) -> str:
    """The colour theme a page is drawn in, chosen on the server so that it never flashes: a
    logged-in user's saved choice, otherwise the visitor's cookie (set by static/js/theme.js),
    otherwise "system" (the CSS follows prefers-color-scheme)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.theme if user.theme in THEMES else "system"
    chosen = request.COOKIES.get(THEME_COOKIE, "")
    return chosen if chosen in THEMES else "system"


def locker(request):
    return {
        "LOCKER_SIGNUP": settings.LOCKER_SIGNUP,
        "LOCKER_VERSION": __version__,
        "THEME": page_theme(request),
    }

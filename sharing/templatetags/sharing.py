from django import template
from django.conf import settings

register = template.Library()


@register.inclusion_tag("sharing/_dialog_strings.html")
def sharing_dialog_strings():
    """The translated strings static/js/sharing-dialog.js reads; include once per page."""
    from sharing.forms import PREVIEW_ONLY_HELP

    return {
        "allow_never_expiry": settings.LOCKER_SHARE_ALLOW_NEVER
        and not settings.LOCKER_SHARE_MAX_EXPIRY,
        "allow_download_help": PREVIEW_ONLY_HELP,
    }

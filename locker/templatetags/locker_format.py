"""Template filters for sizes and times, one style on every page (locker/formats.py).

Loaded on every template as a builtin (settings.TEMPLATES): `{{ file.size|size }}`,
`{{ link.max_file_size|size_exact }}` in a form, `{{ share.expires_at|when }}` for a `<time>`
that reads "in 3 days" with the exact time on hover.
"""

from datetime import datetime

from django import template
from django.utils.html import format_html

from locker import formats

register = template.Library()


@register.filter
def size(value) -> str:
    if value in (None, ""):
        return "—"
    return formats.size_text(int(value))


@register.filter
def size_exact(value) -> str:
    if value in (None, ""):
        return ""
    return formats.size_exact_text(int(value))


@register.filter
def when(value: datetime | None):
    """`<time datetime="…" title="Nov 30, 2026, 6:21 AM">5 minutes ago</time>`; the browser
    re-renders it in the visitor's time zone (static/js/page.js)."""
    if not value:
        return ""
    return format_html(
        '<time datetime="{}" title="{}" data-relative>{}</time>',
        value.isoformat(),
        formats.exact_time_text(value),
        formats.relative_time_text(value),
    )


@register.filter
def exact_time(value: datetime | None) -> str:
    """ "Nov 30, 2026, 6:21 AM": the exact time as every page shows it on hover, for e-mails
    (which cannot re-render it in the reader's time zone: it is the server's)."""
    return formats.exact_time_text(value) if value else ""

"""How sizes and times read, everywhere: one unit system and one date style.

Sizes use binary units with their IEC names (1 KiB = 1024 bytes), the units `parse_size` reads
("5M" is 5 MiB); times read relative to now ("5 minutes ago", "in 3 days") with the exact time
on hover. static/js/files-format.js formats the same way in the browser, which re-renders every
`<time>` on load in the visitor's own time zone and language (locker/templatetags/locker_format.py
renders them for pages; this module is also used for messages and e-mails).
"""

from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]


def _number(value, decimals: int) -> str:
    """A number in the active language's style: "1,234.5" in English, "1 234,5" in French."""
    return number_format(value, decimal_pos=decimals, use_l10n=True, force_grouping=True)


def size_text(size: int | None) -> str:
    """1536 -> "1.5 KiB"; one decimal below 100 of a unit, none above (as humanSize in JS)."""
    if size is None:
        return "—"
    value = Decimal(size)
    unit = 0
    while abs(value) >= 1024 and unit < len(UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0 or abs(value) >= 100 or round(value, 1) == round(value):
        number = _number(round(value), 0)
    else:
        number = _number(round(value, 1), 1)
    return f"{number} {UNITS[unit]}"


def size_exact_text(size: int | None) -> str:
    """A size as a person would type it, and exactly (parse_size reads it back to the same
    number of bytes): 5242880 -> "5 MiB", 1610612736 -> "1.5 GiB", 1000 -> "1000 B"."""
    if size is None:
        return ""
    for unit in range(len(UNITS) - 1, 0, -1):
        value = Decimal(size) / (1024**unit)
        if value >= 1 and value == round(value, 3):
            return f"{value.normalize():f} {UNITS[unit]}"
    return f"{size} B"


# (limit in seconds below which the unit is used, seconds in the unit, unit)
_STEPS = [
    (45 * 60, 60, "minute"),
    (22 * 3600, 3600, "hour"),
    (26 * 86400, 86400, "day"),
    (320 * 86400, 30.44 * 86400, "month"),
    (None, 365.25 * 86400, "year"),
]


def _unit_phrase(count: int, unit: str) -> str:
    phrases = {
        "minute": ngettext("%(n)d minute", "%(n)d minutes", count),
        "hour": ngettext("%(n)d hour", "%(n)d hours", count),
        "day": ngettext("%(n)d day", "%(n)d days", count),
        "month": ngettext("%(n)d month", "%(n)d months", count),
        "year": ngettext("%(n)d year", "%(n)d years", count),
    }
    return phrases[unit] % {"n": count}


def relative_time_text(when: datetime, now: datetime | None = None) -> str:
    """ "5 minutes ago", "in 3 days", "now" (the same steps as relativeTime in JS)."""
    now = now or timezone.now()
    seconds = (when - now).total_seconds()
    if abs(seconds) < 45:
        return _("now")
    limit, length, unit = next(s for s in _STEPS if s[0] is None or abs(seconds) < s[0])
    count = max(1, round(abs(seconds) / length))
    phrase = _unit_phrase(count, unit)
    return (
        _("in %(when)s") % {"when": phrase} if seconds > 0 else _("%(when)s ago") % {"when": phrase}
    )


def exact_time_text(when: datetime) -> str:
    """The exact time, as the browser's Intl.DateTimeFormat (dateStyle medium, timeStyle short)
    writes it: "Nov 30, 2026, 6:21 AM" in English, "30 nov. 2026, 06:21" in French."""
    # Translators: a date format in the letters of Django's date filter; French: "j N Y, H:i".
    return date_format(timezone.localtime(when), pgettext("exact time", "M j, Y, g:i A"))

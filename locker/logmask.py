"""Bearer secrets in URLs never reach a log: every log Locker writes or configures masks them
(and so are list cursors, whose signed payload names the last row of a page).

A share link (`/s/<token>…`), an upload link (`/r/<token>…`), a tus upload id (`…/tus/<id>`, on
the API and under an upload link), an invitation, a sign-up and a password-reset link each hand
their holder access; an access log that keeps them would hand it to whoever reads the log. The
masking works on the final text of each log line, so it covers request lines, referers, Django's
"Not Found: <path>" warnings and tracebacks alike:

- gunicorn's access and error logs: `--logger-class=locker.logmask.GunicornLogger` (locker/run.py);
- Django's loggers (`django.request`, `django.server`, ours): the `console` handler of `LOGGING`;
- Celery's worker and beat logs: the `after_setup_*logger` signals in `locker/celery.py`.
"""

from __future__ import annotations

import logging
import re

from gunicorn import glogging

MASK = "***"

# Each secret runs up to the next `/`, `?`, `#`, quote or blank, encoded or not.
_SECRET = r"[^/?#\s\"']+"
_PATTERNS = re.compile(
    rf"(?P<lead>/(?:s|r|tus|invitation)/){_SECRET}"
    rf"|(?P<signup>/signup/)(?!sent/){_SECRET}"
    rf"|(?P<reset>/reset/[^/\s\"']+/)(?!set-password){_SECRET}"
    # A list's cursor is signed, not encrypted: it holds the last row's name, size or time.
    rf"|(?P<cursor>[?&]cursor=)[^&#\s\"']+"
)


def _replace(match: re.Match) -> str:
    lead = match.group("lead") or match.group("signup") or match.group("reset")
    return (lead or match.group("cursor")) + MASK


def mask_secrets(text: str) -> str:
    """The text with every token or upload id in a Locker URL replaced by ***."""
    return _PATTERNS.sub(_replace, text)


class MaskingFormatter(logging.Formatter):
    """Formats with `inner` (or as logging.Formatter would), then masks the whole line."""

    def __init__(self, *args, inner: logging.Formatter | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record) if self.inner else super().format(record)
        return mask_secrets(text)


def mask_handlers(logger: logging.Logger) -> None:
    """Make every handler of logger mask what it writes (once)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, MaskingFormatter):
            handler.setFormatter(MaskingFormatter(inner=handler.formatter or logging.Formatter()))


class GunicornLogger(glogging.Logger):
    """gunicorn's logger, with the access and error logs masked (also after a reopen on HUP)."""

    def setup(self, cfg):
        super().setup(cfg)
        mask_handlers(self.error_log)
        mask_handlers(self.access_log)

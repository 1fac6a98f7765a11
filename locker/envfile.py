"""Settings kept in a file next to the checkout: `locker.env` (or the file LOCKER_ENV_FILE names).

One `KEY=VALUE` a line; blank lines and lines starting with `#` are skipped; `export ` before a
key and quotes around a whole value ('…' or "…") are allowed and dropped. A `#` later in a line
is part of the value (passwords may hold one). A variable set in the environment wins over the
file, so `PORT=8001 make run` still works with a file that says `PORT=8000`.

Every entry point reads it before anything else reads a setting: locker/settings.py (so
`manage.py`, gunicorn and Celery), and locker/run.py (whose children inherit what it read). So a
`manage.py` command run from the checkout opens the same database and data dir as `make run`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

VARIABLE = "LOCKER_ENV_FILE"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "locker.env"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def path() -> Path | None:
    """The settings file to read: LOCKER_ENV_FILE (empty: none), else ./locker.env if present."""
    raw = os.environ.get(VARIABLE)
    if raw is None:
        return DEFAULT_PATH if DEFAULT_PATH.is_file() else None
    if not raw.strip():
        return None
    return Path(raw).expanduser()


def parse(text: str, where: str) -> dict[str, str]:
    """The file's settings, in order; ImproperlyConfigured naming the line that is not one."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, equals, value = line.partition("=")
        key = key.strip()
        if not equals or not _KEY.fullmatch(key):
            # The line itself is not shown: it may hold a secret.
            raise ImproperlyConfigured(
                f"{where} line {number} is not KEY=VALUE (a comment line starts with #)."
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def load() -> Path | None:
    """Put the file's settings into os.environ where the environment has none; the file read.

    Reading it again changes nothing, so every entry point may call it.
    """
    file = path()
    if file is None:
        return None
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{VARIABLE} names {str(file)!r}, which cannot be read ({exc.strerror or exc})."
        ) from None
    except UnicodeDecodeError:
        raise ImproperlyConfigured(f"{file} is not UTF-8 text.") from None
    for key, value in parse(text, str(file)).items():
        if key != VARIABLE:
            os.environ.setdefault(key, value)
    return file

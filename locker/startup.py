"""A start that explains itself: a wrong setting or a database that cannot be reached stops a
command with one line naming the variable, the value and what is expected, not a traceback.

`manage.py` runs every command inside `explained()`; `python -m locker.run` prints its own
refusals with `refuse()` (the port, PORT) and lets `manage.py ensureadmin` report the rest.
"""

from __future__ import annotations

import contextlib
import sys

from django.core.exceptions import ImproperlyConfigured
from django.db.utils import OperationalError

PREFIX = "Locker: "


def refuse(message: str, status: int = 1):
    """Print one line to standard error and exit."""
    print(PREFIX + message, file=sys.stderr, flush=True)
    raise SystemExit(status)


def _reason(exc: BaseException) -> str:
    """The last clause of the first line of a driver's message: 'Connection refused'."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    return first.rsplit(": ", 1)[-1].strip().rstrip(".")


def database_unreachable() -> str | None:
    """A sentence naming the database Locker cannot connect to, or None when it connects."""
    from django.db import connections

    connection = connections["default"]
    try:
        connection.close()
        connection.ensure_connection()
    except Exception as exc:  # noqa: BLE001 - any failure to connect is what we explain
        params = connection.settings_dict
        if connection.vendor == "sqlite":
            where = str(params["NAME"])
        else:
            host, port = params.get("HOST") or "localhost", params.get("PORT") or "default port"
            where = f"{host}:{port}"
        return f"cannot connect to the database at {where} (DATABASE_URL): {_reason(exc)}."
    connection.close()
    return None


@contextlib.contextmanager
def explained():
    """Run a command; a configuration error or an unreachable database ends it in one line."""
    try:
        yield
    except ImproperlyConfigured as exc:
        refuse(str(exc))
    except OperationalError:
        # Only when the database cannot be reached at all: any other failure keeps its traceback.
        sentence = database_unreachable()
        if sentence is None:
            raise
        refuse(sentence)

"""Show a new secret once, after a redirect (post/redirect/get).

A create form that rendered its new secret (an API token, a link, backup codes) in the answer to
its POST made a browser's reload send the POST again: a second live credential the user never
saw. Instead the view stashes what must be shown in the session, redirects, and the page it
redirects to takes it out again: it is shown once, and a reload shows it no more and creates
nothing.

The stash lives in the server-side session (database or cache) between the redirect and the
next request, and for as long as the session when the browser never follows the redirect. It is
kept there sealed under the master key, bound to the user and the key, as link tokens are
(docs/encryption.md): a dump of the session store alone reveals no secret. The secret is never
in a cookie or a URL.
"""

import base64
import json
import logging

from django.http import HttpRequest

from storage import crypto, masterkeys

logger = logging.getLogger(__name__)

_PREFIX = "show-once:"
_PURPOSE = "locker show-once secret"


def _context(request: HttpRequest, key: str) -> str:
    return f"{getattr(request.user, 'pk', '')}:{key}"


def show_once_stash(request: HttpRequest, *, key: str, value) -> None:
    """Keep `value` (JSON-serialisable) for the next `show_once_take` of `key`, sealed."""
    key_id, sealed = masterkeys.seal(
        json.dumps(value).encode("utf-8"), purpose=_PURPOSE, context=_context(request, key)
    )
    request.session[_PREFIX + key] = [key_id, base64.b64encode(sealed).decode("ascii")]


def show_once_take(request: HttpRequest, *, key: str):
    """What was stashed under `key`, removed from the session (None when there is none, or
    when it cannot be opened: another user's, a removed master key, tampered with)."""
    stashed = request.session.pop(_PREFIX + key, None)
    if stashed is None:
        return None
    try:
        key_id, sealed = stashed
        opened = masterkeys.unseal(
            base64.b64decode(sealed),
            master_key_id=key_id,
            purpose=_PURPOSE,
            context=_context(request, key),
        )
        return json.loads(opened)
    except (
        masterkeys.UnknownMasterKeyError,
        crypto.DecryptionError,
        TypeError,
        ValueError,
    ) as exc:
        logger.warning("A secret to show once (%s) could not be opened: %s", key, exc)
        return None

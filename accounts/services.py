"""What accounts do: tokens, invitations, users. Views, API and commands call these."""

import secrets
from datetime import datetime

from django.db import transaction

from accounts.models import ApiToken, User, hash_secret

TOKEN_PREFIX = "lk_"


def api_token_create(
    *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored and shown only once."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            token_hash=hash_secret(secret),
            prefix=secret[: len(TOKEN_PREFIX) + 6],
            expires_at=expires_at,
        )
    return token, secret

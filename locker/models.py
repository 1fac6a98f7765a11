"""The API frame's own rows: the answers kept for `Idempotency-Key` (locker/idempotency.py)."""

from django.conf import settings
from django.db import models


class IdempotentRequest(models.Model):
    """One `Idempotency-Key` of one user: claimed while its first request runs, then the answer
    that request got, sealed, kept LOCKER_IDEMPOTENCY_HOURS for the retries of the same request.

    `key_hash` is SHA-256 of (user id, key): the key itself, chosen by the client, is not kept.
    `fingerprint` is SHA-256 of the request (method, path, query and body, or for a streamed
    upload its headers): the same key with another request is refused. `status` is null while
    the first request runs; `claimed_at` then says since when, so that a claim left by a
    crashed process is taken over after LOCKER_IDEMPOTENCY_CLAIM_TIMEOUT.
    """

    key_hash = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_index=True)
    claimed_at = models.DateTimeField()
    status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The answer (status aside) as JSON {"headers": {...}, "body": "<base64>"}, sealed under
    # the master keys with `key_hash` as context: it may hold a new secret (an API token, a
    # link's token), shown again to a retry only.
    master_key_id = models.CharField(max_length=64, blank=True, default="")
    sealed_answer = models.BinaryField(blank=True, default=b"")

    class Meta:
        indexes = [models.Index(fields=["user"], name="locker_idem_user")]

    def __str__(self) -> str:
        return f"Idempotency-Key {self.key_hash[:12]}… of user {self.user_id}"

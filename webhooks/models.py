"""Webhooks: HTTPS endpoints that a user (or staff, for the whole instance) registers to be told
of events, and the deliveries made to them (docs/webhooks.md).

An endpoint's signing secret is kept only sealed under the master key (its public id as
associated data; docs/encryption.md): the worker opens it to sign, a database dump alone does
not reveal it, and it is shown to its owner once, when the endpoint is created.

A delivery is one event for one endpoint. Its body is written once, when the event happens, so
that every attempt sends the same bytes; `next_attempt_at` says when the worker tries again
(null once it succeeded or gave up).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

SECRET_PURPOSE = "webhooks endpoint secret"
URL_MAX_LENGTH = 2000


class Event(models.TextChoices):
    FILE_UPLOADED = "file.uploaded", _("A file was uploaded")
    FILE_READY = "file.ready", _("A file passed the virus scan")
    FILE_INFECTED = "file.infected", _("A virus was found in a file")
    SHARE_DOWNLOADED = "share.downloaded", _("A share link was downloaded")
    SHARE_EXPIRED = "share.expired", _("A share link expired")
    SHARE_REVOKED = "share.revoked", _("A share link was revoked")
    UPLOAD_LINK_FILLED = "upload_link.filled", _("An upload link received its last file")


TEST_EVENT = "webhook.test"


class Webhook(models.Model):
    class Scope(models.TextChoices):
        MINE = "mine", _("My events")
        INSTANCE = "instance", _("Every user's events")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.CharField(_("URL"), max_length=URL_MAX_LENGTH)
    events = models.JSONField(_("events"), default=list)
    active = models.BooleanField(_("active"), default=True)
    scope = models.CharField(_("scope"), max_length=10, choices=Scope, default=Scope.MINE)
    secret_sealed = models.BinaryField(editable=False)
    secret_key_id = models.CharField(max_length=32, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["owner", "active"], name="webhooks_owner_active"),
            models.Index(
                fields=["scope"], name="webhooks_instance_active", condition=Q(active=True)
            ),
        ]

    def __str__(self) -> str:
        return self.url


class Delivery(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCEEDED = "succeeded", _("delivered")
        FAILED = "failed", _("failed")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField()
    event = models.CharField(max_length=40)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=10, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveIntegerField(null=True, blank=True)
    last_response = models.CharField(max_length=500, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["webhook", "-created_at"], name="webhooks_delivery_log"),
            models.Index(
                fields=["next_attempt_at"],
                name="webhooks_delivery_due",
                condition=Q(next_attempt_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id}"

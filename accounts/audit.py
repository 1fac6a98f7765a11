"""The audit log: one call, `audit(...)`, from every service that changes something that matters.

Who did it and from where comes from the request being served (set by `AuditContextMiddleware`),
so services do not need the request; the IP is always truncated (/24, /48) before it is stored.
Records are append-only (see `AuditEvent`); `audit_prune` removes those older than
LOCKER_AUDIT_DAYS and is the only way rows leave the table.
"""

import contextvars
import csv
import ipaddress
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import AuditAction, AuditEvent, AuditResult
from locker.jobs import JobRun, delete_oldest_in_batches
from locker.network import client_ip

logger = logging.getLogger(__name__)

_request: contextvars.ContextVar = contextvars.ContextVar("locker_audit_request", default=None)

A = AuditAction  # short alias for the call sites: audit(A.SHARE_CREATED, ...)


def truncate_ip(ip: str | None) -> str | None:
    """Keep the network, drop the host: /24 for IPv4, /48 for IPv6."""
    if not ip:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


class AuditContextMiddleware:
    """Remembers the request being served so `audit()` can name the actor and network."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def _authenticated(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def _target_fields(target) -> dict:
    if target is None:
        return {}
    label = getattr(target, "audit_label", None) or getattr(target, "name", None)
    if label is None:
        label = getattr(target, "label", "") or getattr(target, "username", "") or str(target)
    return {
        "target_type": target._meta.model_name,
        "target_id": str(getattr(target, "public_id", None) or target.pk),
        "target_label": str(label)[:200],
    }


def audit(
    action: AuditAction | str,
    *,
    actor=None,
    subject=None,
    target=None,
    target_type: str = "",
    target_id: str = "",
    target_label: str = "",
    result: str = AuditResult.SUCCESS,
    request=None,
    **extra,
) -> AuditEvent:
    """Record one event. `actor` defaults to the logged-in user of the current request;
    `subject` is whose account or data it concerns (defaults to the actor, or the target's
    owner); `target` is a model instance (or give target_type/id/label)."""
    action = AuditAction(action)
    request = request or _request.get()
    if actor is None and request is not None and _authenticated(getattr(request, "user", None)):
        actor = request.user
    if not _authenticated(actor):
        actor = None
    if subject is None:
        subject = getattr(target, "owner", None) or getattr(target, "user", None) or actor
        if target is not None and target._meta.model_name == "user":
            subject = target
    fields = {"target_type": target_type, "target_id": str(target_id), "target_label": target_label}
    fields.update(_target_fields(target))
    fields["target_label"] = fields["target_label"][:200]
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_label=actor.get_username() if actor else "",
        subject=subject if _authenticated(subject) else None,
        ip=truncate_ip(client_ip(request)) if request is not None else None,
        result=result,
        extra=extra,
        **fields,
    )


def audit_many(action: AuditAction | str, *, targets, from_request: bool = False, **extra) -> int:
    """Record one event per target in one INSERT, for the periodic jobs that act on many rows
    at once (trash purge): no request, so no actor and no network; each event concerns its
    target's owner (by id: no query per target). With `from_request` (a batch action of the
    Files page), the actor and network are the current request's, as `audit()` records them.
    Returns how many were written."""
    action = AuditAction(action)
    request = _request.get() if from_request else None
    actor = getattr(request, "user", None)
    if not _authenticated(actor):
        actor = None
    who = {
        "actor": actor,
        "actor_label": actor.get_username() if actor else "",
        "ip": truncate_ip(client_ip(request)) if request is not None else None,
    }
    events = []
    for target in targets:
        fields = _target_fields(target)
        fields["target_label"] = fields["target_label"][:200]
        events.append(
            AuditEvent(
                action=action,
                subject_id=getattr(target, "owner_id", None),
                result=AuditResult.SUCCESS,
                extra=extra,
                **who,
                **fields,
            )
        )
    AuditEvent.objects.bulk_create(events)
    return len(events)


# --- Reading ----------------------------------------------------------------------------------


# How to name a target that has no label of its own ("share link to report.pdf"), by
# target_type: a function from target ids to {id: label}, one query per call. Registered by the
# app that owns the model (sharing registers its links), so this module imports none of them.
_target_labellers: dict = {}

# The kind of each target, as people say it.
TARGET_KINDS = {
    "sharelink": gettext_lazy("share link"),
    "uploadlink": gettext_lazy("upload link"),
    "apitoken": gettext_lazy("API token"),
    "file": gettext_lazy("file"),
    "folder": gettext_lazy("folder"),
    "user": gettext_lazy("user"),
    "master_key": gettext_lazy("master key"),
}


def audit_target_labeller_register(target_type: str, labeller) -> None:
    _target_labellers[target_type] = labeller


def _named(kind, label: str) -> str:
    """ "share link “Report”": a kind of thing and its name, in the page's language."""
    return _("%(kind)s “%(label)s”") % {"kind": kind, "label": label}


def audit_events_describe(events) -> list[AuditEvent]:
    """The events as a list, each with `target_text`: its target as people say it. A target
    recorded without a label of its own (only its id) is named by its app's labeller: one query
    per kind of target on the page, whatever the number of events."""
    events = list(events)
    missing: dict[str, set[str]] = {}
    for event in events:
        if event.target_type in _target_labellers and event.target_label in ("", event.target_id):
            missing.setdefault(event.target_type, set()).add(event.target_id)
    found = {kind: _target_labellers[kind](sorted(ids)) for kind, ids in missing.items()}
    for event in events:
        kind = TARGET_KINDS.get(event.target_type, event.target_type)
        if event.target_type in found:
            label = found[event.target_type].get(event.target_id)
            if label is None and event.target_label in ("", event.target_id):
                label = _("a %(kind)s that no longer exists") % {"kind": kind}
            event.target_text = label or _named(kind, event.target_label)
        elif event.target_label and event.target_label != event.target_id:
            event.target_text = _named(kind, event.target_label) if kind else event.target_label
        else:
            event.target_text = str(kind)
    return events


def audit_events_for_user(*, user) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.for_user(user).select_related("actor", "subject")


def audit_events_filtered(
    *,
    user=None,
    action: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> models.QuerySet[AuditEvent]:
    """Staff view: every event, narrowed by user (actor or subject), action and date range;
    newest first (the id breaks ties, for keyset pages)."""
    events = AuditEvent.objects.select_related("actor", "subject").order_by("-created_at", "-id")
    if user is not None:
        events = events.for_user(user)
    if action:
        # "share" matches every share.* action; "share.created" only that one.
        events = events.filter(models.Q(action=action) | models.Q(action__startswith=action + "."))
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events


CSV_COLUMNS = [
    "time",
    "actor",
    "ip",
    "action",
    "result",
    "target_type",
    "target_id",
    "target",
    "concerns",
    "details",
]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ is a formula in spreadsheets: neutralise it (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def audit_csv_rows(events: models.QuerySet[AuditEvent]) -> Iterator[str]:
    """CSV lines, one event at a time, for a streamed export of any size."""
    import json

    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for event in events.iterator(chunk_size=1000):
        row = [
            event.created_at.isoformat(),
            event.actor_label,
            event.ip or "",
            event.action,
            event.result,
            event.target_type,
            event.target_id,
            event.target_label,
            event.subject.get_username() if event.subject else "",
            json.dumps(event.extra, sort_keys=True) if event.extra else "",
        ]
        yield writer.writerow([_csv_safe(str(cell)) for cell in row])


# --- Retention --------------------------------------------------------------------------------


def audit_prune(
    *, days: int | None = None, now: datetime | None = None, run: JobRun | None = None
) -> int:
    """Delete events older than LOCKER_AUDIT_DAYS; the only way a row ever leaves the log.

    Oldest first through the `created_at` index, LOCKER_JOB_BATCH_SIZE rows per DELETE (each a
    transaction of its own), until none is left or LOCKER_JOB_TIME_BUDGET has passed; the next
    run goes on. Two runs at once may pick the same rows: each counts only what it deleted."""
    days = settings.LOCKER_AUDIT_DAYS if days is None else days
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    old = AuditEvent.objects.filter(created_at__lt=cutoff).order_by("created_at", "pk")
    # QuerySet.delete itself bypasses the append-only guard on purpose: retention is the one
    # sanctioned deletion.
    return delete_oldest_in_batches(old, run or JobRun(), delete=models.QuerySet.delete)

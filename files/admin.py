from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from files.models import File, Folder, UploadReservation
from locker.formats import size_text


@admin.register(Folder)
class FolderAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "created_at", "deleted_at"]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "owner__username"]
    raw_id_fields = ["owner", "trash_root"]
    # The tree changes only through files.services (cycle check, LOCKER_MAX_FOLDER_DEPTH):
    # the admin neither moves folders nor adds them.
    readonly_fields = ["public_id", "name_key", "parent"]

    def has_add_permission(self, request) -> bool:
        return False


class ProcessingFilter(admin.SimpleListFilter):
    """Files whose scan or thumbnail is still owed; "waiting long": longer than
    LOCKER_REQUEUE_PENDING_AFTER since upload, i.e. retried through an outage or requeued."""

    title = _("processing")
    parameter_name = "processing"

    def lookups(self, request, model_admin):
        return [("waiting", _("Still to process")), ("long", _("Waiting long"))]

    def queryset(self, request, queryset):
        if self.value() not in ("waiting", "long"):
            return queryset
        queryset = queryset.filter(processing_due_at__isnull=False)
        if self.value() == "long":
            since = timezone.now() - timedelta(seconds=settings.LOCKER_REQUEUE_PENDING_AFTER)
            queryset = queryset.filter(created_at__lt=since)
        return queryset


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    # Names are user input: the admin escapes them like every template does.
    list_display = [
        "name",
        "owner",
        "human_size",
        "content_type",
        "state",
        "processing_since",
        "deleted_at",
    ]
    list_filter = [
        ProcessingFilter,
        "state",
        "thumbnail_state",
        ("deleted_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["name", "owner__username", "sha256"]
    raw_id_fields = ["owner", "folder", "blob", "trash_root"]
    readonly_fields = [
        "public_id",
        "name_key",
        "blob",
        "size",
        "sha256",
        "content_type",
        "state",
        "state_reason",
        "thumbnail_state",
        "thumbnail_reason",
        "processing_due_at",
    ]

    @admin.display(description=_("waiting for processing since"), ordering="created_at")
    def processing_since(self, obj: File):
        return obj.created_at if obj.processing_due_at is not None else None

    @admin.display(description="size", ordering="size")
    def human_size(self, obj: File) -> str:
        return size_text(obj.size)


@admin.register(UploadReservation)
class UploadReservationAdmin(admin.ModelAdmin):
    list_display = ["owner", "size", "created_at", "expires_at"]
    raw_id_fields = ["owner"]

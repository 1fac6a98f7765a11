from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from files.models import File, Folder, UploadReservation


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


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    # Names are user input: the admin escapes them like every template does.
    list_display = ["name", "owner", "human_size", "content_type", "state", "deleted_at"]
    list_filter = ["state", "thumbnail_state", ("deleted_at", admin.EmptyFieldListFilter)]
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
    ]

    @admin.display(description="size", ordering="size")
    def human_size(self, obj: File) -> str:
        return filesizeformat(obj.size)


@admin.register(UploadReservation)
class UploadReservationAdmin(admin.ModelAdmin):
    list_display = ["owner", "size", "created_at", "expires_at"]
    raw_id_fields = ["owner"]

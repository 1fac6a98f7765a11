from django.contrib import admin

from sharing.models import ShareAccess, ShareLink, UploadLink, UploadLinkUpload


class ReadOnlyInline(admin.TabularInline):
    """A link's log: every field shown is read-only."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ShareAccessInline(ReadOnlyInline):
    model = ShareAccess
    fields = ["at", "name", "counted", "completed", "bytes_sent", "ip", "user_agent"]


class LinkAdmin(admin.ModelAdmin):
    """Both kinds of link. Secrets, targets and counters are never edited here: revoke through
    the owner's page or the API."""

    search_fields = ["owner__username", "label", "public_id"]


@admin.register(ShareLink)
class ShareLinkAdmin(LinkAdmin):
    list_display = [
        "public_id",
        "owner",
        "label",
        "created_at",
        "expires_at",
        "revoked_at",
        "download_count",
        "max_downloads",
        "is_send",
    ]
    list_filter = ["is_send", "allow_download"]
    readonly_fields = [
        "public_id",
        "owner",
        "file",
        "folder",
        "token_hash",
        "password_hash",
        "created_at",
        "download_count",
        "cleaned_at",
        "is_send",
    ]
    inlines = [ShareAccessInline]
    actions = ["revoke"]

    @admin.action(description="Revoke the selected links")
    def revoke(self, request, queryset):
        from django.utils import timezone

        queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


class UploadLinkUploadInline(ReadOnlyInline):
    model = UploadLinkUpload
    fields = ["at", "name", "size", "ip", "notified_at"]


@admin.register(UploadLink)
class UploadLinkAdmin(LinkAdmin):
    list_display = [
        "public_id",
        "owner",
        "folder",
        "label",
        "created_at",
        "expires_at",
        "revoked_at",
        "files_count",
        "max_files",
    ]
    readonly_fields = [
        "public_id",
        "owner",
        "folder",
        "token_hash",
        "password_hash",
        "created_at",
        "files_count",
    ]
    # The change form's order as it was before the fields moved to `Link` (they come first).
    fields = [
        "label",
        "message",
        "expires_at",
        "revoked_at",
        "max_files",
        "max_file_size",
        "notify",
        *readonly_fields,
    ]
    inlines = [UploadLinkUploadInline]

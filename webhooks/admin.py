from django.contrib import admin

from webhooks.models import Webhook


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    """Staff see every user's endpoints and may pause or delete one; the secret and the URL are
    changed only by their owner (a URL is checked where it is set: the API or the page)."""

    list_display = ["url", "owner", "scope", "active", "created_at"]
    list_filter = ["active", "scope"]
    search_fields = ["owner__username", "url", "public_id"]
    fields = ["public_id", "owner", "url", "events", "scope", "active", "created_at"]
    readonly_fields = ["public_id", "owner", "url", "events", "scope", "created_at"]

    def has_add_permission(self, request):
        return False

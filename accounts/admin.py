from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit import A, audit
from accounts.models import ApiToken, AuditEvent, Invitation, OidcIdentity, User


class TokenRevokingPasswordChangeForm(AdminPasswordChangeForm):
    """Staff setting a user's password (often because the account is in other hands): the
    user's API tokens are revoked too, as on every other password change, and it is audited."""

    def save(self, commit=True):
        from accounts.services import api_tokens_revoke_all

        with transaction.atomic():
            user = super().save(commit=commit)
            revoked = api_tokens_revoke_all(user=user) if commit else 0
            audit(
                A.PASSWORD_CHANGED, subject=user, target=user, how="admin", tokens_revoked=revoked
            )
        return user


@admin.register(OidcIdentity)
class OidcIdentityAdmin(admin.ModelAdmin):
    """The single sign-on accounts linked to Locker users: deleting one unlinks it (the next SSO
    log-in with it then follows LOCKER_OIDC_CREATE_USERS / LOCKER_OIDC_LINK_BY_EMAIL)."""

    list_display = ("user", "subject", "issuer", "checked_at")
    search_fields = ("user__username", "subject")
    fields = ("user", "issuer", "subject", "groups", "created_at", "checked_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    change_password_form = TokenRevokingPasswordChangeForm
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Locker", {"fields": ("display_name", "quota_bytes", "used_bytes", "ldap_dn")}),
    )
    readonly_fields = ("used_bytes", "ldap_dn")
    list_display = ("username", "email", "is_active", "is_staff", "quota_bytes", "used_bytes")

    actions = ["reset_two_factor"]

    @admin.action(description=_("Reset two-factor log-in (lost phone and codes)"))
    def reset_two_factor(self, request, queryset):
        from accounts.twofactor import two_factor_reset

        for user in queryset:
            two_factor_reset(user=user, by=request.user)
        self.message_user(request, _("Two-factor log-in was reset for the selected users."))

    def save_model(self, request, obj, form, change):
        """Changes made here are audited like the API's; a deactivation ends the user's
        sessions at once."""
        from accounts.services import user_status_changed

        before = User.objects.filter(pk=obj.pk).values("is_active", "is_staff").first()
        super().save_model(request, obj, form, change)
        if change and before:
            user_status_changed(
                user=obj, was_active=before["is_active"], was_staff=before["is_staff"]
            )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "prefix",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "scopes",
    )
    # Scopes and folder are chosen when the token is made (by its owner) and never widened
    # afterwards; a folder select would also list every folder of every user.
    readonly_fields = ("token_hash", "prefix", "last_used_at", "scopes", "folder")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "expires_at", "used_at")
    readonly_fields = ("token_hash",)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ("created_at", "action", "result", "actor_label", "ip", "target_label")
    list_filter = ("action", "result")
    search_fields = ("actor_label", "target_label", "target_id")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

"""Reads for accounts: every lookup is scoped to whoever asks."""

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import Max, QuerySet, Sum

from accounts.models import ApiToken, User
from accounts.scopes import confined_subtree


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that have not been revoked, newest first (expired ones included)."""
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
    subtree = confined_subtree(user)
    if subtree is not None:
        # A confined token's request: only the tokens confined inside its own folder.
        tokens = tokens.filter(folder_id__in=subtree)
    return tokens.select_related("folder").order_by("-created_at", "-id")


def user_list() -> QuerySet[User]:
    return User.objects.order_by("username")


def user_list_invited() -> QuerySet[User]:
    """Active users who have not chosen a password yet, with their latest link's expiry."""
    return (
        User.objects.filter(is_active=True, password__startswith=UNUSABLE_PASSWORD_PREFIX)
        .annotate(invitation_expires_at=Max("invitations__expires_at"))
        .order_by("username")
    )


def storage_used_total() -> int:
    """Bytes stored for every user together (their `used_bytes`), in one aggregate query."""
    return User.objects.aggregate(total=Sum("used_bytes"))["total"] or 0

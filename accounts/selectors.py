"""Reads for accounts: every lookup is scoped to whoever asks."""

from django.db.models import QuerySet

from accounts.models import ApiToken, User


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that have not been revoked, newest first (expired ones included)."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def user_list() -> QuerySet[User]:
    return User.objects.order_by("username")

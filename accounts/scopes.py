"""What an API token may do: its scopes, and the folder it may be confined to.

A token carries a list of scopes chosen when it is made; `*` (every token made before scopes
existed, and a token made without naming any) means all of them. Every API operation names the
scope it needs (`required_scopes` on its view, checked by `accounts.api.permissions.TokenScopes`);
a browser session is never limited by scopes. A token may also be confined to one folder: the
file selectors (files.selectors) then only find what lies inside that folder's subtree.
"""

from django.utils.translation import gettext_lazy as _

ALL = "*"
# Set by accounts.authentication on the user of a confined token's request: the folder's pk,
# which files.selectors reads to bound every lookup.
CONFINED_ATTRIBUTE = "locker_confined_folder_id"
# Set likewise on the user of every token's request: the token, for the few answers that depend
# on what it may read (user_may_read).
TOKEN_ATTRIBUTE = "locker_api_token"

# name → what it allows, as shown on the tokens page and in the schema.
SCOPES: dict[str, str] = {
    "files:read": _("List, search and download your files and folders, and see the trash."),
    "files:write": _("Upload, rename, move and delete files and folders; empty the trash."),
    "shares:read": _("See your share links and upload links."),
    "shares:write": _("Create, change, send and revoke share links."),
    "upload-links:write": _("Create, change and revoke upload links."),
    "account:read": _("See your account, your API tokens and your activity."),
    "account:write": _("Change your preferences and password; create and revoke API tokens."),
    "webhooks:read": _("See your webhooks."),
    "webhooks:write": _("Create, change and delete your webhooks."),
    "admin": _("Staff only: manage users and use the staff routes."),
}
STAFF_ONLY = frozenset({"admin"})
# The choices of a token's `scopes` (the schema's enum, the form's checkboxes).
CHOICES = [ALL, *SCOPES]


def scopes_granted(scopes) -> frozenset[str]:
    """The scopes a stored list stands for (`*`: all of them)."""
    scopes = set(scopes or ())
    if ALL in scopes:
        return frozenset(SCOPES)
    return frozenset(scopes & set(SCOPES))


def scopes_normalised(scopes) -> list[str]:
    """The list to store: known names, each once, in the order of SCOPES; `*` alone when
    every scope is named or `*` is among them."""
    chosen = set(scopes)
    if ALL in chosen or chosen >= set(SCOPES):
        return [ALL]
    return [name for name in SCOPES if name in chosen]


def token_allows(token, scope: str) -> bool:
    """Whether `token` (an ApiToken) carries `scope`; `admin` also needs a staff owner now."""
    if scope in STAFF_ONLY and not token.user.is_staff:
        return False
    return scope in scopes_granted(token.scopes)


def user_may(user, scope: str) -> bool:
    """Whether the request `user` comes from may use `scope`: a session (or a task) may; a
    token's request only with the scope (`user` marked by accounts.authentication)."""
    token = getattr(user, TOKEN_ATTRIBUTE, None)
    return token is None or token_allows(token, scope)


def missing_scopes(token, required) -> list[str]:
    return [scope for scope in required if not token_allows(token, scope)]


# accounts does not import files (files builds on accounts): files registers, when it starts,
# how a token's folder is found for a user (by id or by path, within the user's own
# confinement when the user comes from a confined token's request).
_folder_lookup = None
_subtree = None


def folder_lookup_register(lookup, *, subtree) -> None:
    """`lookup(user=, folder_id=, path=)` finds a folder for a new token; `subtree(user)` is
    the `id IN (…)` operand of a confined request's folder subtree, None when unconfined."""
    global _folder_lookup, _subtree
    _folder_lookup, _subtree = lookup, subtree


def confined_subtree(user):
    return _subtree(user) if _subtree is not None else None


def folder_lookup(*, user, folder_id=None, path: str = ""):
    """The folder (a files.Folder) of `user` a new token is to be confined to; Http404 when
    there is none such."""
    return _folder_lookup(user=user, folder_id=folder_id, path=path)

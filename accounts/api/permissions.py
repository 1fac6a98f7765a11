"""The scope check of every API operation (accounts.scopes).

Each API view declares `required_scopes`: a mapping from its viewset actions or HTTP methods to
the scope (or tuple of scopes) a token needs; `()` means any token may call it. A request made
with a token is refused (403, naming the missing scope) when the token lacks one; an operation
that declares nothing is refused to every token (fail closed: tests/security/
test_route_inventory.py finds such an operation before it ships). Browser sessions are not
limited by scopes.
"""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, permissions

from accounts.models import ApiToken
from accounts.scopes import missing_scopes


class InsufficientScope(exceptions.PermissionDenied):
    default_detail = gettext_lazy("This token lacks the scope this operation needs.")
    default_code = "insufficient_scope"

    def __init__(self, scope: str):
        super().__init__(
            _("This token lacks the “%(scope)s” scope.") % {"scope": scope},
            code=self.default_code,
        )


class NotForConfinedTokens(exceptions.PermissionDenied):
    default_code = "insufficient_scope"


def required_scopes_of(view, method: str) -> tuple[str, ...] | None:
    """The scopes `view` declares for the request's action or method; None: not declared."""
    # Imported here: this module is loaded by DRF's settings while rest_framework.views loads.
    from rest_framework.views import APIView

    declared = getattr(view, "required_scopes", None)
    if method.upper() == "OPTIONS" and type(view).options is APIView.options:
        return ()  # DRF's description of the view (its metadata): no data, for any token
    if declared is None:
        return None
    keys = [getattr(view, "action", None), method.upper()]
    if method.upper() == "HEAD":
        keys.append("GET")
    for key in keys:
        if key is not None and key in declared:
            scopes = declared[key]
            return (scopes,) if isinstance(scopes, str) else tuple(scopes)
    return None


def token_of(request) -> ApiToken | None:
    auth = getattr(request, "auth", None)
    return auth if isinstance(auth, ApiToken) else None


def require_scopes(request, *scopes: str) -> None:
    """In a view, for a rule the method alone does not tell (a batch's action): 403 unless the
    request's token carries every one of `scopes`. Sessions pass."""
    token = token_of(request)
    if token is None:
        return
    missing = missing_scopes(token, scopes)
    if missing:
        raise InsufficientScope(missing[0])


def refuse_confined(request, message: str) -> None:
    """403 with `message` when the request's token is confined to a folder (for operations on
    the whole account that a folder cannot bound, such as emptying the trash)."""
    token = token_of(request)
    if token is not None and token.folder_id is not None:
        raise NotForConfinedTokens(message)


class TokenScopes(permissions.BasePermission):
    """In REST_FRAMEWORK's DEFAULT_PERMISSION_CLASSES, and in every view that names its own."""

    def has_permission(self, request, view):
        token = token_of(request)
        if token is None:
            return True
        if getattr(view, "action_map", None) is not None:
            handled = getattr(view, "action", None) is not None
        else:
            handled = hasattr(view, request.method.lower())
        if not handled:
            return True  # the view answers 405 (or 404) itself
        required = required_scopes_of(view, request.method)
        if required is None:
            raise exceptions.PermissionDenied(_("API tokens cannot use this operation."))
        missing = missing_scopes(token, required)
        if missing:
            raise InsufficientScope(missing[0])
        return True

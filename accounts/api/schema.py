"""The OpenAPI schema names each operation's token scopes (accounts.api.permissions)."""

from django.utils.translation import gettext as _

from accounts.api.permissions import required_scopes_of
from locker.openapi import AutoSchema


class ScopedAutoSchema(AutoSchema):
    """Locker's schema (locker.openapi: the answers every operation shares), plus
    `x-required-scopes` on each operation (the scopes an API token needs for it; `[]`: any
    token) and a sentence saying so in its description."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        required = required_scopes_of(self.view, method)
        if required is None:
            return operation
        operation["x-required-scopes"] = list(required)
        if required:
            names = ", ".join(f"`{scope}`" for scope in required)
            note = _("API tokens need the scopes: %(names)s.") % {"names": names}
            operation.setdefault("responses", {}).setdefault(
                "403",
                {"description": _("The token lacks a scope this operation needs, or its folder.")},
            )
        else:
            note = _("Any API token may call this.")
        description = operation.get("description", "")
        operation["description"] = f"{description}\n\n{note}" if description else note
        return operation

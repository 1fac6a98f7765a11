"""The OpenAPI schema's shared parts: the operations' common answers and the error component.

`AutoSchema` (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS) adds to every operation the answers it can
give whatever the view does (401 and 429 where authentication is needed, 403 for administrators'
endpoints and cookie-authenticated writes, 404 on a path with an id, 400/413/415 for a request
body, 503 during an outage), and makes every 4xx/5xx answer reference one error component
(`error_component()`). Kept apart from locker.schema (the view): drf-spectacular's views module
loads the schema class, so the view's module cannot be it.
"""

from drf_spectacular import openapi
from rest_framework import permissions, serializers
from rest_framework.authentication import SessionAuthentication


def error_component() -> type[serializers.Serializer]:
    """The one serializer every error answer of the schema references (imported here: this
    module is loaded while DRF reads its settings, before locker.api can be)."""
    from locker.api import ErrorSerializer

    return ErrorSerializer


UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Answers without a body: 416 carries only `Content-Range: bytes */<size>`.
BODILESS_ERRORS = {"416"}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before trying again.",
    }
}
COMMON_ANSWERS = {
    "400": "Invalid input; `detail` says what is wrong, `errors` which field.",
    "401": "Not authenticated: no credentials, or a token that is unknown, expired or revoked "
    "(`WWW-Authenticate: Bearer`).",
    "403": "Not allowed: {why}.",
    "404": "No such item in your locker (another user's answers the same), or an id in the "
    "path of the wrong form (not a UUID; for tokens and users, not a number).",
    "413": "The request body is larger than this endpoint accepts.",
    "415": "The body's Content-Type is not one this endpoint accepts ({types}).",
    "429": "Too many requests from this account or network: wait `Retry-After` seconds.",
    "503": "A part of the service (database, cache, task broker or storage) is unavailable: "
    "try again after `Retry-After` seconds.",
}


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, plus the answers every operation shares (see module)."""

    def _needs_authentication(self) -> bool:
        classes = getattr(self.view, "permission_classes", [])
        return bool(getattr(self.view, "authentication_classes", [])) and any(
            not issubclass(permission, permissions.AllowAny) for permission in classes
        )

    def _forbidden_reasons(self) -> list[str]:
        reasons = []
        if any(issubclass(p, permissions.IsAdminUser) for p in self.view.permission_classes):
            reasons.append("this endpoint is for administrators")
        authenticators = getattr(self.view, "authentication_classes", [])
        if self.method in UNSAFE_METHODS and any(
            issubclass(authenticator, SessionAuthentication) for authenticator in authenticators
        ):
            reasons.append("with the session cookie, a write needs the CSRF token")
        return reasons

    def _accepted_types(self, body: dict) -> list[str]:
        """What the view's parsers read (a body type may be left out of the documented ones)."""
        parsers = self.view.get_parsers()
        types = {parser.media_type for parser in parsers} | set(body.get("content", {}))
        return sorted(types) or ["none"]

    def common_answers(self, operation: dict) -> dict[str, dict]:
        answers: dict[str, dict] = {}

        def add(code: str, **formatting) -> None:
            answers[code] = {"description": COMMON_ANSWERS[code].format(**formatting)}

        if self._needs_authentication():
            add("401")
            add("429")
        elif getattr(self.view, "throttle_classes", []):
            add("429")
        reasons = self._forbidden_reasons() if self._needs_authentication() else []
        if reasons:
            add("403", why="; ".join(reasons))
        if "{" in self.path:
            add("404")
        body = operation.get("requestBody")
        if body is not None:
            add("400")
            add("413")
            add("415", types=", ".join(self._accepted_types(body)))
        add("503")
        for code in ("429", "503"):
            if code in answers:
                answers[code]["headers"] = RETRY_AFTER
        return answers

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code, answer in self.common_answers(operation).items():
            responses.setdefault(code, answer)
        error = self.resolve_serializer(error_component(), "response").ref
        for code, answer in responses.items():
            if code[:1] in ("4", "5") and code not in BODILESS_ERRORS and not answer.get("content"):
                answer["content"] = {"application/json": {"schema": error}}
        operation["responses"] = dict(sorted(responses.items()))
        return operation


def error_bodies(result, generator, request, public):
    """drf-spectacular hook, last: the error answers that hooks added (the paginated lists'
    400 and 404) reference the error component too."""
    error = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for code, answer in operation.get("responses", {}).items():
                if code[:1] in ("4", "5") and code not in BODILESS_ERRORS:
                    answer.setdefault("content", {"application/json": {"schema": error}})
    return result

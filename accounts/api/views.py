"""Thin API views: each one validates input, calls a service or selector and serializes."""

from django.contrib.auth import authenticate, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.api.permissions import TokenScopes, refuse_confined, token_of
from accounts.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    MeSerializer,
    PasswordChangedSerializer,
    PasswordChangeSerializer,
    UserCreateSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from accounts.scopes import folder_lookup
from accounts.twofactor import password_recent
from locker.conditional import ConditionalMixin, conditional_schema
from locker.idempotency import idempotent

_FIELD_NAMES = {"quota_bytes": "quota"}


def _as_api_error(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(
            {_FIELD_NAMES.get(field, field): errors for field, errors in exc.message_dict.items()}
        )
    return serializers.ValidationError({"non_field_errors": exc.messages})


class MeView(APIView):
    required_scopes = {"GET": "account:read", "PATCH": "account:write"}

    @extend_schema(
        operation_id="me_retrieve",
        summary="Who am I",
        description="The caller's account: username, e-mail, quota and usage in bytes.",
        responses=MeSerializer,
    )
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(
        operation_id="me_partial_update",
        summary="Change your preferences",
        description=(
            "Only `theme` (the web pages' colours) and `language` (of your pages and e-mails) "
            "can be changed here."
        ),
        request=MeSerializer,
        responses={
            200: MeSerializer,
            400: OpenApiResponse(description="An unknown theme or language."),
        },
    )
    def patch(self, request):
        serializer = MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.user_theme_set(user=request.user, theme=serializer.validated_data.get("theme"))
        services.user_language_set(
            user=request.user, language=serializer.validated_data.get("language")
        )
        return Response(MeSerializer(request.user).data)


class MePasswordView(APIView):
    required_scopes = {"POST": "account:write"}

    @extend_schema(
        operation_id="me_password_change",
        summary="Change your password",
        description=(
            "Needs the current password (wrong guesses count towards the log-in lock-out, as "
            "on the log-in page: 429 once locked out). Your other sessions end. With "
            "`revoke_tokens` (the default) every API token of yours is revoked too, including "
            "the one making this request."
        ),
        request=PasswordChangeSerializer,
        responses={
            200: PasswordChangedSerializer,
            400: OpenApiResponse(description="Wrong current password or a weak new one."),
            403: OpenApiResponse(
                description="Your password is your directory's (LDAP): change it there; or "
                "the token is confined to a folder."
            ),
            429: OpenApiResponse(description="Too many wrong passwords: locked out for now."),
        },
    )
    def post(self, request):
        # The password guards the whole account: not a folder's business (nor a way to guess
        # it and lock the owner out).
        refuse_confined(
            request, _("A token confined to a folder cannot change the account’s password.")
        )
        serializer = PasswordChangeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = request.user
        if user.from_directory:
            raise PermissionDenied(
                _(
                    "You log in with your organisation’s directory (LDAP) password: change it "
                    "there, Locker does not keep it."
                )
            )
        # Through authenticate(), so that django-axes counts wrong guesses and locks out.
        checked = authenticate(
            request._request, username=user.get_username(), password=data["current_password"]
        )
        if checked is None or checked.pk != user.pk:
            raise serializers.ValidationError(
                {"current_password": [_("This password is not correct.")]}
            )
        try:
            validate_password(data["new_password"], user)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"new_password": exc.messages}) from None
        revoked = services.password_set(
            user=user,
            password=data["new_password"],
            revoke_tokens=data["revoke_tokens"],
            how="api",
        )
        if request.auth is None:
            update_session_auth_hash(request._request, user)  # this session stays logged in
        return Response(PasswordChangedSerializer({"tokens_revoked": revoked}).data)


@extend_schema_view(
    list=extend_schema(summary="List your API tokens", description="Revoked tokens are left out."),
    retrieve=extend_schema(
        summary="Show an API token",
        description="Its name and dates (never its secret); 404 once revoked.",
    ),
    create=extend_schema(
        summary="Create an API token",
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
        description="The secret is in `token` in this response only; it is not stored.",
    ),
    destroy=extend_schema(
        summary="Revoke an API token",
        responses={204: OpenApiResponse(description="Revoked; it stops working at once.")},
    ),
)
@conditional_schema()
class ApiTokenViewSet(
    ConditionalMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ApiTokenSerializer
    required_scopes = {
        "list": "account:read",
        "retrieve": "account:read",
        "create": "account:write",
        "destroy": "account:write",
    }
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.api_token_list(user=self.request.user)

    @idempotent()
    def create(self, request, *args, **kwargs):
        if request.auth is None and not password_recent(request._request):
            # A browser session (not a token): a token outlives the session, so ask for the
            # password again, as the web page does.
            raise PermissionDenied(
                _("Enter your password again (at /accounts/reauthenticate/) to create a token.")
            )
        serializer = ApiTokenCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        folder = folder_id = data.pop("folder", None)
        if folder_id is not None:
            try:
                # Looked up as the caller: a confined token finds only its own subtree.
                folder = folder_lookup(user=request.user, folder_id=folder_id)
            except Http404:
                raise serializers.ValidationError(
                    {"folder": [_("No such folder in your locker.")]}
                ) from None
        try:
            token, secret = services.api_token_create(
                user=request.user, folder=folder, creator=token_of(request), **data
            )
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        token.token = secret
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        if "If-Match" in request.headers:
            with self.preconditioned() as token:
                services.api_token_revoke(user=request.user, token_id=token.pk)
        else:
            # Only a token this caller may see (a confined token sees its own folder's tokens).
            token_id = int(kwargs["pk"])
            visible = self.get_queryset().filter(pk=token_id).exists()
            if not visible or not services.api_token_revoke(user=request.user, token_id=token_id):
                raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    list=extend_schema(summary="List users (staff only)"),
    retrieve=extend_schema(summary="Show a user (staff only)"),
    create=extend_schema(
        summary="Create a user (staff only)",
        request=UserCreateSerializer,
        responses={201: UserSerializer},
        description=(
            "With a `password` the account is ready to use. Without one, the user is e-mailed a "
            "single-use invitation link to choose a password."
        ),
    ),
    partial_update=extend_schema(
        summary="Change a user (staff only)",
        request=UserUpdateSerializer,
        responses=UserSerializer,
        description=(
            "Change `is_active`, `is_staff` and `quota`. A deactivated user's API tokens stop "
            "working at once."
        ),
    ),
)
class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = UserSerializer
    permission_classes = [permissions.IsAuthenticated, permissions.IsAdminUser, TokenScopes]
    required_scopes = {"GET": "admin", "POST": "admin", "PATCH": "admin"}
    http_method_names = ["get", "post", "patch", "head", "options"]
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return selectors.user_list()

    @idempotent()
    def create(self, request, *args, **kwargs):
        serializer = UserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            if data.get("password"):
                user = services.user_create(**data)
            else:
                user = services.user_invite(
                    username=data["username"], email=data["email"], invited_by=request.user
                )
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        user = self.get_object()
        serializer = UserUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            user = services.user_update(
                user=user,
                acting_user=request.user,
                is_active=data.get("is_active"),
                is_staff=data.get("is_staff"),
                quota_bytes=data.get("quota"),
            )
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return Response(UserSerializer(user).data)

    @extend_schema(
        summary="Send a new invitation link (staff only)",
        request=None,
        responses=UserSerializer,
        description=(
            "For a user who has not chosen a password yet: e-mails a new single-use link. "
            "Earlier links stop working."
        ),
    )
    @action(detail=True, methods=["post"], url_path="invitation")
    def invitation(self, request, *args, **kwargs):
        user = self.get_object()
        try:
            services.invitation_resend(user=user, invited_by=request.user)
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return Response(UserSerializer(user).data)

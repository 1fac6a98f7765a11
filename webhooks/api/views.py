"""Thin API views for webhooks: scope to the caller, call a service, serialize."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.permissions import refuse_confined, require_scopes
from locker.api import UUID_IN_PATH
from webhooks import selectors, services
from webhooks.api.serializers import (
    DeliverySerializer,
    WebhookCreatedSerializer,
    WebhookCreateSerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)
from webhooks.models import Webhook

CONFINED_REFUSAL = gettext_lazy(
    "A token confined to a folder cannot manage webhooks: their events cover the whole account."
)

ERRORS = {
    400: OpenApiResponse(description="Invalid input; `detail` says what is wrong."),
    404: OpenApiResponse(description="No such webhook of yours."),
}


def _as_api_error(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})


def _instance_needs_admin(request, scope) -> None:
    """Every user's events are staff business: a token needs the `admin` scope to make, see the
    deliveries of, change or test a webhook of scope `instance` (webhooks:* is not enough)."""
    if scope == Webhook.Scope.INSTANCE and request.user.is_staff:
        # (Others hear from the service that only staff may: a 400 on the `scope` field.)
        require_scopes(request, "admin")


@extend_schema_view(
    list=extend_schema(summary="List your webhooks", responses={200: WebhookSerializer(many=True)}),
    retrieve=extend_schema(summary="Show a webhook", responses={200: WebhookSerializer, **ERRORS}),
    create=extend_schema(
        summary="Register a webhook",
        request=WebhookCreateSerializer,
        responses={201: WebhookCreatedSerializer, 400: ERRORS[400]},
        description=(
            "Locker POSTs the chosen `events` to `url`, signed with `secret` (in this response "
            "only: keep it). The URL must be https and must not resolve to a private, loopback, "
            "link-local, multicast or reserved address. See docs/webhooks.md."
        ),
    ),
    partial_update=extend_schema(
        summary="Change a webhook",
        request=WebhookUpdateSerializer,
        responses={200: WebhookSerializer, **ERRORS},
        description="Change `url`, `events`, `active` or `scope`; the secret stays.",
    ),
    destroy=extend_schema(
        summary="Delete a webhook",
        responses={204: OpenApiResponse(description="Deleted, with its delivery log."), **ERRORS},
    ),
)
class WebhookViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = WebhookSerializer
    lookup_url_kwarg = "id"
    lookup_value_regex = UUID_IN_PATH
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_scopes = {
        "list": "webhooks:read",
        "retrieve": "webhooks:read",
        "deliveries": "webhooks:read",
        "create": "webhooks:write",
        "partial_update": "webhooks:write",
        "destroy": "webhooks:write",
        "test": "webhooks:write",
    }

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # An endpoint hears about the whole account: a folder cannot bound it.
        refuse_confined(request, CONFINED_REFUSAL)

    def get_queryset(self):
        return selectors.webhook_list(user=self.request.user)

    def get_object(self):
        webhook = selectors.webhook_get(user=self.request.user, public_id=self.kwargs["id"])
        if webhook is None:
            raise exceptions.NotFound()
        _instance_needs_admin(self.request, webhook.scope)
        return webhook

    def create(self, request, *args, **kwargs):
        serializer = WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _instance_needs_admin(request, serializer.validated_data.get("scope"))
        try:
            webhook, secret = services.webhook_create(
                owner=request.user, **serializer.validated_data
            )
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        webhook.secret = secret
        return Response(WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        webhook = self.get_object()
        serializer = WebhookUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        _instance_needs_admin(request, serializer.validated_data.get("scope"))
        try:
            services.webhook_update(webhook=webhook, data=serializer.validated_data)
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from None
        return Response(WebhookSerializer(webhook).data)

    def destroy(self, request, *args, **kwargs):
        services.webhook_delete(webhook=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Send a test event",
        request=None,
        responses={
            202: DeliverySerializer,
            404: ERRORS[404],
            429: OpenApiResponse(
                description="Too many test events lately (20 per user in 10 minutes), or too "
                "many of the webhook's deliveries waiting; `detail` says which."
            ),
        },
        description=(
            "Queue a `webhook.test` event to this endpoint alone; its result shows in the "
            "delivery log. At most 20 per user in 10 minutes."
        ),
    )
    @action(detail=True, methods=["post"])
    def test(self, request, *args, **kwargs):
        try:
            delivery = services.webhook_send_test(webhook=self.get_object())
        except services.SendTestRefused as exc:
            raise exceptions.Throttled(wait=exc.wait, detail=str(exc)) from None
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The webhook's delivery log",
        description=(
            "Its newest deliveries (at most LOCKER_WEBHOOK_LOG_SIZE are kept), each with its "
            "last attempt's status, answer excerpt, duration and error."
        ),
        responses={200: DeliverySerializer(many=True), 404: ERRORS[404]},
    )
    @action(detail=True, methods=["get"], serializer_class=DeliverySerializer)
    def deliveries(self, request, *args, **kwargs):
        page = self.paginate_queryset(selectors.delivery_log(webhook=self.get_object()))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

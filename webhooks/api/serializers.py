from rest_framework import serializers

from webhooks.models import Delivery, Event, Webhook


class WebhookSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices))

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "active", "scope", "created_at"]
        read_only_fields = fields


class WebhookCreateSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=4000, help_text="https:// URL the events are POSTed to (no private address)."
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=Event.choices),
        max_length=len(Event.values),
        help_text="The events to send, at least one.",
    )
    active = serializers.BooleanField(default=True)
    scope = serializers.ChoiceField(
        choices=Webhook.Scope.choices,
        default=Webhook.Scope.MINE,
        help_text="`mine`: your own events; `instance` (staff only): every user's.",
    )


class WebhookUpdateSerializer(WebhookCreateSerializer):
    """Every field optional (PATCH)."""


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text="The signing secret (`whsec_…`). Returned only this once.",
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    event_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event",
            "created_at",
            "state",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status",
            "last_response",
            "last_error",
            "last_duration_ms",
        ]
        read_only_fields = fields

"""`GET /api/v1/audit/`: the caller's own audit events; staff may ask for everyone's."""

from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError

from accounts.api.permissions import refuse_confined, require_scopes
from accounts.audit import audit_events_filtered
from accounts.models import AuditAction, AuditEvent, User


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label", help_text=_("Empty: anonymous."))
    concerns = serializers.SerializerMethodField()
    action = serializers.ChoiceField(choices=AuditAction.choices)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "ip",
            "action",
            "result",
            "target_type",
            "target_id",
            "target_label",
            "concerns",
            "extra",
        ]
        read_only_fields = fields

    def get_concerns(self, event) -> str:
        return event.subject.get_username() if event.subject else ""


class AuditFilterForm(forms.Form):
    """The filters shared by the API and the staff page."""

    scope = forms.ChoiceField(choices=[("mine", "mine"), ("all", "all")], required=False)
    user = forms.CharField(required=False, max_length=150)
    action = forms.CharField(required=False, max_length=40)
    since = forms.DateField(required=False)
    until = forms.DateField(required=False)

    def clean_user(self):
        name = self.cleaned_data["user"].strip()
        if not name:
            return None
        user = User.objects.filter(username__iexact=name).first()
        if user is None:
            raise forms.ValidationError(_("There is no user with that name."))
        return user

    def clean_action(self):
        action = self.cleaned_data["action"].strip()
        known = {value for value, _label in AuditAction.choices}
        if action and action not in known and not any(v.startswith(action + ".") for v in known):
            raise forms.ValidationError(_("Unknown action."))
        return action

    def events(self, *, viewer):
        from datetime import datetime, time, timedelta

        from django.utils import timezone

        data = self.cleaned_data

        def at(day, *, next_day=False):
            if day is None:
                return None
            moment = datetime.combine(day + timedelta(days=1) if next_day else day, time.min)
            return timezone.make_aware(moment)

        everyone = data.get("scope") == "all"
        if everyone and not viewer.is_staff:
            raise PermissionDenied(_("Only staff can see everyone's events."))
        events = audit_events_filtered(
            user=data.get("user") if everyone else viewer,
            action=data.get("action") or "",
            since=at(data.get("since")),
            until=at(data.get("until"), next_day=True),
        )
        return events


@extend_schema(
    summary="Audit events",
    description=(
        "Security-relevant events: yours (what you did, and what was done to your account or "
        "data), newest first. Staff can pass `scope=all` (and `user`) to see everyone's; "
        "`user` naming anyone but yourself is 403 for everyone else."
    ),
    parameters=[
        OpenApiParameter("scope", OpenApiTypes.STR, enum=["mine", "all"]),
        OpenApiParameter("user", OpenApiTypes.STR, description="Username (staff)."),
        OpenApiParameter(
            "action", OpenApiTypes.STR, description="An action, or a prefix such as `share`."
        ),
        OpenApiParameter("since", OpenApiTypes.DATE),
        OpenApiParameter("until", OpenApiTypes.DATE, description="Inclusive."),
    ],
)
class AuditEventViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.none()
    # Everyone's events (`scope=all`, staff) also need the admin scope.
    required_scopes = {"list": "account:read"}

    def get_queryset(self):
        viewer = self.request.user
        refuse_confined(
            self.request,
            _("A token confined to a folder cannot read the activity of the whole account."),
        )
        if self.request.query_params.get("scope") == "all" and viewer.is_staff:
            require_scopes(self.request, "admin")
        asked = self.request.query_params.get("user", "").strip()
        if not viewer.is_staff and asked and asked.lower() != viewer.get_username().lower():
            # Before the name is looked up: whether it exists is not a non-staff caller's
            # business (one answer whatever the name).
            raise PermissionDenied(_("Only staff can see other users' events."))
        form = AuditFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(
                {field: [str(e) for e in errors] for field, errors in form.errors.items()}
            )
        return form.events(viewer=self.request.user)

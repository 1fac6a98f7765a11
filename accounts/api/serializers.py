from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import ApiToken, User
from accounts.scopes import ALL, SCOPES
from accounts.scopes import CHOICES as SCOPE_CHOICES
from locker.fields import AwareDateTimeField, ByteSizeField, size_schema


@extend_schema_field(
    size_schema(
        minimum=0,
        description="Bytes, or a size such as `512M` or `10G` (binary units). 0 = unlimited.",
        example="10G",
    )
)
class QuotaField(ByteSizeField):
    """A storage quota: a number of bytes or a size string such as "10G"."""

    reject_negative = True
    default_error_messages = {
        "invalid": _("Give a number of bytes or a size such as 512M or 10G."),
        "too_large": _("A quota can be at most {max} bytes (8 EiB); use 0 for unlimited."),
    }


class MeSerializer(serializers.ModelSerializer):
    language = serializers.ChoiceField(
        choices=[code for code, _name in settings.LANGUAGES],
        allow_blank=True,
        required=False,
        help_text=(
            "The language of your pages and e-mails: `en`, `fr`; empty: the browser's "
            "(Accept-Language), else the instance's default."
        ),
    )
    quota = serializers.IntegerField(
        source="quota_bytes", read_only=True, help_text="Storage quota in bytes; 0 = unlimited."
    )
    used = serializers.IntegerField(
        source="used_bytes", read_only=True, help_text="Storage used, in bytes."
    )

    class Meta:
        model = User
        fields = [
            "username",
            "email",
            "display_name",
            "quota",
            "used",
            "is_staff",
            "theme",
            "language",
        ]
        read_only_fields = ["username", "email", "display_name", "quota", "used", "is_staff"]
        extra_kwargs = {
            "theme": {"help_text": "The web pages' colours: system (as the device), light, dark."}
        }


SCOPES_HELP = (
    "What the token may do: `*` (everything its owner may do), or any of "
    + ", ".join(f"`{name}`" for name in SCOPES)
    + " (`admin`: staff only). Each operation names the scopes it needs in its description "
    "and in `x-required-scopes`. Left out when creating: the creating token's own scopes, "
    "or `*` from a browser session."
)


def scopes_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=[(ALL, _("Everything you may do")), *SCOPES.items()]),
        max_length=len(SCOPE_CHOICES),
        help_text=SCOPES_HELP,
        **kwargs,
    )


class ApiTokenSerializer(serializers.ModelSerializer):
    scopes = scopes_field(read_only=True)
    folder = serializers.UUIDField(
        source="folder.public_id",
        read_only=True,
        allow_null=True,
        help_text="The folder the token is confined to (it reaches nothing outside); null: "
        "the whole locker.",
    )
    folder_name = serializers.CharField(
        source="folder.name", read_only=True, allow_null=True, help_text="That folder's name."
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "scopes",
            "folder",
            "folder_name",
        ]
        read_only_fields = fields


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text="When the token stops working (ISO 8601 with a time zone); none = never.",
    )
    scopes = scopes_field(
        required=False,
        allow_empty=False,
    )
    folder = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Confine the token to this folder: it only sees and changes what is inside "
        "(for a token, no folder means this one). Made by a confined token: inside its own "
        "folder, which is the default.",
    )


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        read_only=True,
        help_text="The secret, for `Authorization: Bearer <token>`. Returned only this once.",
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class UserSerializer(serializers.ModelSerializer):
    quota = serializers.IntegerField(source="quota_bytes", read_only=True)
    used = serializers.IntegerField(source="used_bytes", read_only=True)
    has_password = serializers.SerializerMethodField(
        help_text="False until an invited user has chosen a password."
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "display_name",
            "is_active",
            "is_staff",
            "quota",
            "used",
            "has_password",
            "date_joined",
            "last_login",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_password(self, user: User) -> bool:
        return user.has_usable_password()


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="Leave out to e-mail the user an invitation to choose one.",
    )


class UserUpdateSerializer(serializers.Serializer):
    is_active = serializers.BooleanField(required=False)
    is_staff = serializers.BooleanField(required=False)
    quota = QuotaField(required=False)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = serializers.CharField(
        max_length=4096, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )
    new_password = serializers.CharField(
        max_length=4096, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )
    revoke_tokens = serializers.BooleanField(
        default=True,
        help_text="Also revoke all your API tokens (including the one making this request).",
    )


class PasswordChangedSerializer(serializers.Serializer):
    tokens_revoked = serializers.IntegerField(help_text="How many API tokens were revoked.")

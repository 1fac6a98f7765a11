from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from locker.fields import AwareDateTimeField, ByteSizeField, size_schema
from sharing.models import ShareAccess, ShareLink, UploadLink

# The range of a PositiveIntegerField on every database (download and file counts).
MAX_COUNT = 2**31 - 1


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1},
            {"type": "string", "pattern": r"^\s*\d+\s*[smhdw]?\s*$|^never$"},
        ],
        "description": "A duration such as `30m`, `12h`, `7d`, a number of seconds, or `never`.",
        "example": "7d",
    }
)
class DurationField(serializers.Field):
    """Kept as given; `sharing.services.expiry_resolve` parses it and says what is wrong."""

    default_error_messages = {
        "invalid": _("Give a duration such as 30m, 12h or 7d, or a number of seconds."),
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


EXPIRES_AT_HELP = (
    "ISO 8601 with a time zone (`Z` or an offset such as `+01:00`; without one: 400); "
    "`null` = never (when the server allows it)."
)


class ShareOptionsSerializer(serializers.Serializer):
    expires_at = AwareDateTimeField(
        required=False,
        allow_null=True,
        help_text=EXPIRES_AT_HELP,
    )
    expires_in = DurationField(required=False, allow_null=True)
    max_downloads = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_COUNT,
        help_text="`null` = no limit.",
    )
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=256,
        write_only=True,
        trim_whitespace=False,
        help_text="Empty removes the password; leave out to keep it.",
    )
    allow_download = serializers.BooleanField(
        required=False,
        help_text=(
            "False: preview only, no download. Images and PDFs are then previewed as a "
            "reduced image (a PDF's first page), never the file itself; audio, video and text "
            "play from the file itself."
        ),
    )
    notify = serializers.BooleanField(
        required=False,
        help_text="E-mail the owner about downloads (one e-mail per link every five minutes "
        "at most, listing the downloads since the last).",
    )
    label = serializers.CharField(required=False, allow_blank=True, max_length=200)


class ShareCreateSerializer(ShareOptionsSerializer):
    file = serializers.UUIDField(required=False, help_text="Id of the file to share.")
    folder = serializers.UUIDField(required=False, help_text="Id of the folder to share.")
    files = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        help_text="A selection share: ids of files to share together (with `folders`).",
    )
    folders = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        help_text="A selection share: ids of folders to share together (with `files`).",
    )

    def validate(self, attrs):
        kinds = ("file" in attrs) + ("folder" in attrs) + ("files" in attrs or "folders" in attrs)
        if kinds == 0:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        _(
                            "Say what to share: a file id (file), a folder id (folder), or lists "
                            "of files and folders (files, folders)."
                        )
                    ]
                }
            )
        if kinds > 1:
            raise serializers.ValidationError(
                {
                    "non_field_errors": [
                        _(
                            "Share one thing at a time: a file id (file), a folder id (folder), "
                            "or lists of files and folders (files, folders), not several of them."
                        )
                    ]
                }
            )
        return attrs


URL_AGAIN_HELP = (
    "The link, for its owner to copy again (its token is kept sealed under the server's master "
    "key). `null` for a link made before links were kept: it was shown at creation only."
)


class LinkUrlMixin(serializers.Serializer):
    """`url` on every answer about a link: the views serialize only the caller's own links."""

    url = serializers.SerializerMethodField(help_text=URL_AGAIN_HELP)

    def get_url(self, link) -> str | None:
        from sharing.services import link_url_again

        return link_url_again(link)


# A share's `status`, an enum in the schema (ShareStatusEnum).
SHARE_STATUSES = ["active", "expired", "revoked", "exhausted", "unavailable"]


class ShareSerializer(LinkUrlMixin, serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    file = serializers.UUIDField(source="file.public_id", read_only=True, allow_null=True)
    folder = serializers.UUIDField(source="folder.public_id", read_only=True, allow_null=True)
    name = serializers.SerializerMethodField(help_text="Name of the shared file or folder.")
    selection = serializers.BooleanField(
        source="is_selection",
        read_only=True,
        help_text="A selection share: `folder` is where its items are, and it shows only them.",
    )
    has_password = serializers.BooleanField(read_only=True)
    status = serializers.SerializerMethodField(
        help_text="`active`, `expired`, `revoked`, `exhausted` or `unavailable` (target deleted)."
    )

    class Meta:
        model = ShareLink
        fields = [
            "id",
            "file",
            "folder",
            "selection",
            "name",
            "label",
            "created_at",
            "expires_at",
            "revoked_at",
            "max_downloads",
            "download_count",
            "has_password",
            "allow_download",
            "notify",
            "status",
            "url",
        ]
        read_only_fields = fields

    def get_name(self, share) -> str:
        if share.is_selection:
            return share.selection_name
        target = share.file if share.file_id else share.folder
        return target.name if target else ""

    @extend_schema_field(serializers.ChoiceField(choices=SHARE_STATUSES))
    def get_status(self, share) -> str:
        from sharing.selectors import share_target_alive

        if share.is_revoked:
            return "revoked"
        if share.is_expired:
            return "expired"
        if share.is_exhausted:
            return "exhausted"
        # A listed page has it already (`shares_target_alive`, one query for the page).
        alive = getattr(share, "target_alive", None)
        if alive is None:
            alive = share_target_alive(share)
        if not alive:
            return "unavailable"
        return "active"


class ShareCreatedSerializer(ShareSerializer):
    token = serializers.CharField(
        read_only=True,
        help_text="The link's secret, in this response only (later, `url` holds it).",
    )
    url = serializers.CharField(read_only=True, help_text="`LOCKER_BASE_URL/s/<token>`.")

    class Meta(ShareSerializer.Meta):
        fields = [*ShareSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ShareAccessSerializer(serializers.ModelSerializer):
    class Meta:
        model = ShareAccess
        fields = [
            "at",
            "name",
            "is_zip",
            "counted",
            "range_start",
            "completed",
            "bytes_sent",
            "resumes",
            "ip",
            "user_agent",
        ]
        read_only_fields = fields


@extend_schema_field(
    size_schema(
        minimum=1,
        description="Bytes, or a size such as `512M` or `2G` (binary units).",
        example="100M",
    )
)
class SizeField(ByteSizeField):
    """An upload link's size limit (below one byte is refused by the service, with its own
    sentence)."""


class UploadLinkOptionsSerializer(serializers.Serializer):
    expires_at = AwareDateTimeField(required=False, allow_null=True, help_text=EXPIRES_AT_HELP)
    expires_in = DurationField(required=False, allow_null=True)
    max_files = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_COUNT
    )
    max_file_size = SizeField(required=False, allow_null=True)
    password = serializers.CharField(
        required=False, allow_blank=True, max_length=256, write_only=True, trim_whitespace=False
    )
    message = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="Shown to uploaders."
    )
    label = serializers.CharField(required=False, allow_blank=True, max_length=200)
    notify = serializers.BooleanField(
        required=False, help_text="E-mail the owner about new uploads (batched)."
    )


class UploadLinkCreateSerializer(UploadLinkOptionsSerializer):
    folder = serializers.UUIDField(help_text="Id of the folder that receives the files.")


class UploadLinkSerializer(LinkUrlMixin, serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    folder = serializers.UUIDField(source="folder.public_id", read_only=True)
    has_password = serializers.BooleanField(read_only=True)

    class Meta:
        model = UploadLink
        fields = [
            "id",
            "folder",
            "label",
            "message",
            "created_at",
            "expires_at",
            "revoked_at",
            "max_files",
            "max_file_size",
            "files_count",
            "has_password",
            "notify",
            "url",
        ]
        read_only_fields = fields


class UploadLinkCreatedSerializer(UploadLinkSerializer):
    token = serializers.CharField(
        read_only=True,
        help_text="The link's secret, in this response only (later, `url` holds it).",
    )
    url = serializers.CharField(read_only=True, help_text="`LOCKER_BASE_URL/r/<token>`.")

    class Meta(UploadLinkSerializer.Meta):
        fields = [*UploadLinkSerializer.Meta.fields, "token"]
        read_only_fields = fields


class SendSerializer(ShareOptionsSerializer):
    """Documents the multipart quick-send body; the view streams the files instead."""

    file = serializers.ListField(
        child=serializers.FileField(), help_text="One or more file parts, streamed into storage."
    )
    keep = serializers.BooleanField(
        required=False,
        help_text="Keep the files when the link dies (default: they go to the trash).",
    )


class ShareEmailSerializer(serializers.Serializer):
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=254, allow_blank=True),
        max_length=100,
        help_text="E-mail addresses (at most 20 after removing repeats); each gets its own e-mail.",
    )
    message = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="Optional text shown in the e-mail (as text: no markup is interpreted).",
    )


class ShareEmailQueuedSerializer(serializers.Serializer):
    recipients = serializers.IntegerField(help_text="How many addresses the e-mail is going to.")

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from files.models import File, Folder
from files.names import InvalidName, validate_name
from files.selectors import confined_folder_id, folder_breadcrumbs
from files.services import ON_CONFLICT


class NameField(serializers.CharField):
    """A file or folder name, checked by files.names (kept as given, NFC-normalised)."""

    default_error_messages = {"blank": _("A name cannot be empty.")}

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("max_length", None)
        super().__init__(**kwargs)
        # files.names gives clearer messages than the generic NUL/surrogate validators.
        self.validators = []

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return validate_name(value)
        except InvalidName as exc:
            raise serializers.ValidationError(exc.messages) from None


def _public_folder_id(folder: Folder | None):
    """The API's id of a folder; the root has none (null)."""
    if folder is None or folder.parent_id is None:
        return None
    return folder.public_id


class FolderRefSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    name = serializers.CharField(read_only=True)


class FolderSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    parent = serializers.SerializerMethodField(
        help_text=_("The containing folder's id; null for a top-level folder.")
    )

    class Meta:
        model = Folder
        fields = ["id", "name", "parent", "created_at", "modified_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_parent(self, folder: Folder):
        return _public_folder_id(folder.parent)


class FolderDetailSerializer(FolderSerializer):
    path = serializers.SerializerMethodField(
        help_text=_("Breadcrumbs from the top level down to this folder (the root is left out).")
    )

    class Meta(FolderSerializer.Meta):
        fields = [*FolderSerializer.Meta.fields, "path"]
        read_only_fields = fields

    @extend_schema_field(FolderRefSerializer(many=True))
    def get_path(self, folder: Folder):
        crumbs = folder_breadcrumbs(folder)
        # A token confined to a folder: that folder is its root, and what is above it is
        # none of its business (not even the names).
        top = confined_folder_id(getattr(self.context.get("request"), "user", None))
        ids = [crumb.pk for crumb in crumbs]
        if top is not None and top in ids:
            crumbs = crumbs[ids.index(top) + 1 :]
        return FolderRefSerializer(crumbs, many=True).data


class FolderCreateSerializer(serializers.Serializer):
    name = NameField(required=False, help_text=_("The new folder's name."))
    path = serializers.CharField(
        required=False,
        trim_whitespace=False,
        max_length=65_535,
        help_text=_(
            "Instead of `name`: folder names separated by “/” below `parent`, created where "
            "missing and reused where they exist (like `mkdir -p`)."
        ),
    )
    parent = serializers.UUIDField(
        required=False, allow_null=True, help_text=_("Containing folder; null or absent = root.")
    )

    def validate(self, attrs):
        if ("name" in attrs) == ("path" in attrs):
            raise serializers.ValidationError({"name": [_("Give either a name or a path.")]})
        return attrs


class FolderUpdateSerializer(serializers.Serializer):
    name = NameField(required=False, help_text=_("New name (renames)."))
    parent = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text=_("New containing folder (moves); null = the root."),
    )


FOLDER_ALIAS_HELP = _("Deprecated: the former name of `parent`, kept for one release.")


@extend_schema_serializer(deprecate_fields=["folder"])
class FileSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    # A file's container is `parent`, as a folder's; `folder` is its former name.
    parent = serializers.SerializerMethodField(
        help_text=_("The containing folder's id; null for the root.")
    )
    folder = serializers.SerializerMethodField(help_text=FOLDER_ALIAS_HELP)
    folder_name = serializers.SerializerMethodField(
        help_text=_(
            "The containing folder's name (to say where a search result is); null for the root."
        )
    )
    state_reason = serializers.CharField(
        read_only=True, help_text=_("Why the file is infected or in error; empty otherwise.")
    )
    thumbnail = serializers.SerializerMethodField(
        help_text=_("Thumbnail URL (add ?size=256 or 1024), or null when there is none.")
    )
    processing = serializers.SerializerMethodField(
        help_text=_("True while a worker still has to scan the file or make its thumbnail.")
    )
    processing_since = serializers.SerializerMethodField(
        help_text=_(
            "While `processing`: since when the file has been waiting for it (its upload); "
            "null otherwise. Processing is retried through outages, so an old value means "
            "the service has trouble (staff see such files in the admin)."
        )
    )

    class Meta:
        model = File
        fields = [
            "id",
            "name",
            "size",
            "content_type",
            "sha256",
            "parent",
            "folder",
            "folder_name",
            "state",
            "state_reason",
            "thumbnail",
            "processing",
            "processing_since",
            "created_at",
            "modified_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_parent(self, file: File):
        return _public_folder_id(file.folder)

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_folder(self, file: File):
        return _public_folder_id(file.folder)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_folder_name(self, file: File):
        # The listing and search querysets select the folder with the file: no query per row.
        folder = file.folder
        return None if folder is None or folder.parent_id is None else folder.name

    @extend_schema_field(serializers.BooleanField())
    def get_processing(self, file: File) -> bool:
        if file.state in (File.State.PENDING, File.State.ERROR):
            return True
        from files.thumbnail_sandbox import thumbnail_kind

        return (
            file.state == File.State.READY
            and not file.thumbnail_state
            and settings.LOCKER_THUMBNAILS
            and thumbnail_kind(file.content_type) is not None
        )

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_processing_since(self, file: File):
        if not self.get_processing(file):
            return None
        return serializers.DateTimeField().to_representation(file.created_at)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_thumbnail(self, file: File):
        """The thumbnail URL (add `?size=256` or `1024`) when there is one."""
        if file.thumbnail_state != "ready" or file.state == File.State.INFECTED:
            return None
        return f"/api/v1/files/{file.public_id}/thumbnail/"


@extend_schema_serializer(deprecate_fields=["folder"])
class FileUpdateSerializer(serializers.Serializer):
    name = NameField(required=False, help_text=_("New name (renames)."))
    parent = serializers.UUIDField(
        required=False, allow_null=True, help_text=_("New folder (moves); null = the root.")
    )
    folder = serializers.UUIDField(required=False, allow_null=True, help_text=FOLDER_ALIAS_HELP)


@extend_schema_serializer(deprecate_fields=["folder"])
class FileUploadSerializer(serializers.Serializer):
    """Documents the multipart upload body; the view streams it instead of validating it."""

    file = serializers.ListField(
        child=serializers.FileField(),
        help_text=_("One or more file parts, each streamed into storage as it arrives."),
    )
    parent = serializers.UUIDField(
        required=False, allow_null=True, help_text=_("Target folder; absent or empty = root.")
    )
    folder = serializers.UUIDField(required=False, allow_null=True, help_text=FOLDER_ALIAS_HELP)
    sha256 = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text=_(
            "Optional hex SHA-256 of each file, in the order of the file parts; a mismatch "
            "answers 400 and nothing is kept."
        ),
    )
    path = serializers.CharField(
        required=False,
        help_text=_(
            "Folder names separated by “/” below `parent` (sent before the file parts): the "
            "files go there, missing folders are created and existing ones reused."
        ),
    )
    on_conflict = serializers.ChoiceField(
        choices=[ON_CONFLICT.REFUSE, ON_CONFLICT.RENAME],
        required=False,
        help_text=_(
            "refuse (default): 409 when the name is taken; rename: store as “name (1).ext”."
        ),
    )


class TrashItemSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    type = serializers.ChoiceField(choices=["file", "folder"], read_only=True)
    name = serializers.CharField(read_only=True)
    deleted_at = serializers.DateTimeField(read_only=True)
    size = serializers.IntegerField(
        read_only=True, help_text=_("Bytes; for a folder, the files deleted with it.")
    )
    location = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text=_(
            'Where it was: the path of the folder it was deleted from ("/" for the top '
            'level, "/Photos/2024"). Restore puts it back there when that folder still exists.'
        ),
    )


class TrashEmptiedSerializer(serializers.Serializer):
    deleted_files = serializers.IntegerField(read_only=True)


class TrashEmptyingSerializer(TrashEmptiedSerializer):
    """A trash too big to empty within the request: the rest goes on in the background."""

    detail = serializers.CharField(read_only=True)


class TrashRestoredSerializer(serializers.Serializer):
    """Where a restored item landed (its name may have changed to avoid a clash)."""

    type = serializers.SerializerMethodField()
    id = serializers.UUIDField(source="public_id", read_only=True)
    name = serializers.CharField(read_only=True)
    folder = serializers.SerializerMethodField(
        help_text=_("The folder it is in now; null for the root.")
    )

    @extend_schema_field(serializers.ChoiceField(choices=["file", "folder"]))
    def get_type(self, item) -> str:
        return "file" if isinstance(item, File) else "folder"

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_folder(self, item):
        return _public_folder_id(item.folder if isinstance(item, File) else item.parent)


class UploadInProgressSerializer(serializers.Serializer):
    """An upload in progress that counts against the quota (a form upload or a tus upload,
    of the owner or through one of their upload links)."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    kind = serializers.SerializerMethodField(help_text=_("`tus` (resumable) or `form`."))
    name = serializers.CharField(
        read_only=True, help_text=_("The file being received; empty until known.")
    )
    size = serializers.IntegerField(read_only=True, help_text=_("Bytes reserved for it."))
    received = serializers.SerializerMethodField(
        help_text=_("Bytes stored so far (tus uploads; null for a form upload).")
    )
    upload_link = serializers.SerializerMethodField(
        help_text=_("The upload link it comes through; null for your own uploads.")
    )
    upload_link_label = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField(source="created_at", read_only=True)
    expires_at = serializers.DateTimeField(
        read_only=True,
        help_text=_("It stops counting then unless more bytes arrive (renewed while they do)."),
    )

    def _tus(self, reservation):
        return getattr(reservation, "tus_upload", None)

    @extend_schema_field(serializers.ChoiceField(choices=["tus", "form"]))
    def get_kind(self, reservation) -> str:
        return "tus" if self._tus(reservation) is not None else "form"

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_received(self, reservation):
        upload = self._tus(reservation)
        return upload.offset if upload is not None else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_upload_link(self, reservation):
        return reservation.link.public_id if reservation.link_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_upload_link_label(self, reservation):
        return reservation.link.label if reservation.link_id else None


class BatchSerializer(serializers.Serializer):
    """A batch action on several files and folders of the caller (docs/files.md)."""

    action = serializers.ChoiceField(
        choices=["delete", "move", "zip"],
        help_text=_(
            "delete: to the trash; move: into `target`; zip: download them as one streamed "
            "ZIP. (A share link over several items: POST /api/v1/shares/ with `files` and "
            "`folders`.)"
        ),
    )
    files = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, help_text=_("File ids.")
    )
    folders = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, help_text=_("Folder ids.")
    )
    target = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text=_("move: the destination folder; null or absent = the root."),
    )

    def validate(self, attrs):
        from files.batch import BatchTooLarge, batch_check_size

        count = len(attrs["files"]) + len(attrs["folders"])
        if not count:
            raise serializers.ValidationError({"detail": _("Select at least one file or folder.")})
        try:
            batch_check_size(count)
        except BatchTooLarge as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from None
        return attrs


class BatchDoneSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=_("How many items were deleted or moved."))
    detail = serializers.CharField(help_text=_("What was done, as a sentence."))

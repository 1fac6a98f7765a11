"""Thin API views: resolve ids through the access check, call a service, serialize."""

import logging
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.utils.translation import ngettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.parsers import FormParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import refuse_confined, require_scopes
from accounts.scopes import user_may
from files import batch, responses, selectors, services, zips
from files.api.serializers import (
    BatchDoneSerializer,
    BatchSerializer,
    FileSerializer,
    FileUpdateSerializer,
    FileUploadSerializer,
    FolderCreateSerializer,
    FolderDetailSerializer,
    FolderSerializer,
    FolderUpdateSerializer,
    TrashEmptiedSerializer,
    TrashEmptyingSerializer,
    TrashItemSerializer,
    TrashRestoredSerializer,
    UploadInProgressSerializer,
)
from files.api.uploads import (
    InsufficientStorage,
    MultipartIntakeParser,
    TooManyUploads,
    UploadGone,
    expected_sha256_from_headers,
    intake_errors,
    normalise_hex_sha256,
)
from files.intake import ReceivedUpload, multipart_intake
from files.models import File
from files.responses import thumbnail_response, thumbnail_size_or_none
from files.thumbnail_sandbox import SIZES as THUMBNAIL_SIZES
from locker.api import LockerAPIException
from locker.conditional import ConditionalMixin, conditional_schema
from locker.errors import ErrorCode
from locker.idempotency import idempotent
from locker.parsers import JSONParser
from storage.exceptions import CorruptContent

logger = logging.getLogger(__name__)


def confined_uploads_refusal() -> str:
    return _("A token confined to a folder cannot see or cancel the account's uploads in progress.")


class StoredContentUnreadable(exceptions.APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_detail = _lazy(
        "The stored content of this file is damaged or missing; an administrator has been told."
    )
    default_code = ErrorCode.CONTENT_DAMAGED


class Quarantined(exceptions.PermissionDenied):
    default_detail = _lazy("A virus was found in this file: nobody can download it.")
    default_code = "infected"


class Conflict(LockerAPIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = ErrorCode.CONFLICT


def name_conflict(exc: services.NameConflict, *, user) -> Conflict:
    """A 409 `name_conflict` that names the item holding the name (`existing`), so that a
    client retrying an upload (or a create) finds what it already made. Not to a token that
    may not read (files:write alone): it would learn ids of items it cannot see."""
    extra = {}
    if not user_may(user, "files:read"):
        return Conflict(str(exc), code=ErrorCode.NAME_CONFLICT)
    item = selectors.item_named(user=user, folder=exc.folder, name=exc.name)
    if item is not None:
        kind = "file" if isinstance(item, File) else "folder"
        extra["existing"] = {"id": str(item.public_id), "name": item.name, "type": kind}
    return Conflict(str(exc), code=ErrorCode.NAME_CONFLICT, **extra)


@contextmanager
def service_errors(field: str = "name", *, user=None):
    """Turn the services' exceptions into API errors with a sentence a person understands
    (a name conflict names the existing item of `user`'s)."""
    try:
        yield
    except services.NameConflict as exc:
        raise name_conflict(exc, user=user) from None
    except services.InvalidMove as exc:
        raise serializers.ValidationError({"non_field_errors": [str(exc)]}) from None
    except services.QuotaExceeded as exc:
        raise InsufficientStorage(str(exc)) from None
    except services.TooManyOpenUploads as exc:
        raise TooManyUploads(str(exc)) from None
    except services.FolderGone:
        raise exceptions.NotFound() from None
    except services.ContentGone as exc:
        raise Conflict(str(exc)) from None
    except services.UploadCancelled as exc:
        raise UploadGone(str(exc)) from None
    except DjangoValidationError as exc:
        raise serializers.ValidationError({field: exc.messages}) from None


def _uuid_or_400(value, field: str):
    if value in (None, ""):
        return None
    try:
        return serializers.UUIDField().to_internal_value(value)
    except serializers.ValidationError:
        raise serializers.ValidationError({field: [_("Must be a folder id.")]}) from None


def _parent_param(data) -> tuple[object, str]:
    """A file's container in a query string or a body: `parent`, or `folder`, its former name
    (kept for one release); `parent` wins when both are given. The value and its field's name."""
    for name in ("parent", "folder"):
        if data.get(name) not in (None, ""):
            return data.get(name), name
    return None, "parent"


ERRORS = {
    400: OpenApiResponse(description="Invalid input; `detail` says what is wrong."),
    404: OpenApiResponse(description="No such item in your locker."),
}
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
FOLDER_ALIAS_PARAMETER = OpenApiParameter(
    "folder",
    OpenApiTypes.UUID,
    deprecated=True,
    description="The former name of `parent`, kept for one release.",
)
BINARY = OpenApiTypes.BINARY


@extend_schema_view(
    list=extend_schema(
        summary="List folders",
        description=(
            "The folders directly inside `parent` (the root when absent), sorted by name. "
            "With `search`, folders whose name contains it anywhere in your locker."
        ),
        parameters=[
            OpenApiParameter("parent", OpenApiTypes.UUID, description="Folder id; absent = root"),
            OpenApiParameter("search", str, description="Part of a name, any case"),
        ],
        responses={200: FolderSerializer(many=True), 404: ERRORS[404]},
    ),
    create=extend_schema(
        summary="Create a folder",
        description=(
            "400 when the new folder would be deeper than LOCKER_MAX_FOLDER_DEPTH levels. With "
            "`path` instead of `name`, every missing folder along it is created and existing "
            "ones (same name in any case) are reused: 201 when one was created, 200 when all "
            "existed; 409 when a file has the name of a folder along it."
        ),
        request=FolderCreateSerializer,
        responses={
            200: FolderDetailSerializer,
            201: FolderDetailSerializer,
            400: ERRORS[400],
            404: ERRORS[404],
            409: OpenApiResponse(description="The name is taken in that folder."),
        },
    ),
    retrieve=extend_schema(
        summary="Get a folder",
        description="Includes `path`, the breadcrumbs from the top level to this folder.",
        parameters=[ID_PARAMETER],
        responses={200: FolderDetailSerializer, 404: ERRORS[404]},
    ),
    partial_update=extend_schema(
        summary="Rename and/or move a folder",
        description=(
            "`name` renames; `parent` moves (null = the root). Both may be given. A move that "
            "would put a folder (the moved one or one below it) deeper than "
            "LOCKER_MAX_FOLDER_DEPTH levels answers 400."
        ),
        parameters=[ID_PARAMETER],
        request=FolderUpdateSerializer,
        responses={
            200: FolderDetailSerializer,
            400: ERRORS[400],
            404: ERRORS[404],
            409: OpenApiResponse(description="The name is taken in the target folder."),
        },
    ),
    destroy=extend_schema(
        summary="Move a folder to the trash",
        description="The folder and everything in it become one trash item.",
        parameters=[ID_PARAMETER],
        responses={204: OpenApiResponse(description="In the trash."), 404: ERRORS[404]},
    ),
)
@conditional_schema()
class FolderViewSet(ConditionalMixin, viewsets.GenericViewSet):
    serializer_class = FolderSerializer
    parser_classes = [JSONParser]
    required_scopes = {
        "list": "files:read",
        "retrieve": "files:read",
        "download": "files:read",
        "create": "files:write",
        "partial_update": "files:write",
        "destroy": "files:write",
    }

    def get_object(self):
        return selectors.folder_get_for_user(user=self.request.user, folder_id=self.kwargs["id"])

    def _folder_or_root(self, value, field: str):
        folder_id = _uuid_or_400(value, field)
        return selectors.folder_get_for_user_or_root(user=self.request.user, folder_id=folder_id)

    def list(self, request):
        parent = self._folder_or_root(request.query_params.get("parent"), "parent")
        search = request.query_params.get("search", "").strip()
        qs = selectors.folder_list(user=request.user, parent=parent, search=search)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(FolderSerializer(page, many=True).data)

    @idempotent()
    def create(self, request):
        data = FolderCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parent = self._folder_or_root(data.validated_data.get("parent"), "parent")
        if "path" in data.validated_data:
            with service_errors(field="path", user=request.user):
                folder, created = services.folder_ensure_path(
                    user=request.user, parent=parent, path=data.validated_data["path"]
                )
            answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
            return Response(
                FolderDetailSerializer(folder, context={"request": request}).data, status=answer
            )
        with service_errors(user=request.user):
            folder = services.folder_create(
                user=request.user, parent=parent, name=data.validated_data["name"]
            )
        return Response(
            FolderDetailSerializer(folder, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    def represent(self, item) -> dict:
        return FolderDetailSerializer(item).data

    def lock_item(self, item) -> None:
        services.item_lock_for_change(item=item)

    def retrieve(self, request, id):
        return Response(
            FolderDetailSerializer(self.get_object(), context={"request": request}).data
        )

    def partial_update(self, request, id):
        with self.preconditioned() as folder:
            data = FolderUpdateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            parent = None
            if "parent" in data.validated_data:
                parent = self._folder_or_root(data.validated_data["parent"], "parent")
            with service_errors(user=request.user):
                folder = services.folder_update(
                    folder=folder, name=data.validated_data.get("name"), parent=parent
                )
        return Response(FolderDetailSerializer(folder, context={"request": request}).data)

    def destroy(self, request, id):
        with self.preconditioned() as folder, service_errors(user=request.user):
            services.folder_trash(folder=folder)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Download a folder as a ZIP",
        description=(
            "Streamed while it is built (stored entries, ZIP64 when needed), with "
            "Content-Length. Entry names are relative to the folder; empty folders are kept."
        ),
        parameters=[ID_PARAMETER],
        responses={
            (200, "application/zip"): OpenApiResponse(BINARY, description="The archive."),
            404: ERRORS[404],
        },
    )
    def download(self, request, id):
        return zips.folder_zip_response(request, folder=self.get_object())


UPLOAD_DESCRIPTION = """\
Multipart body with one or more `file` parts. Each part is streamed into encrypted storage as it
arrives; the SHA-256 is computed on the way and the content type is detected from the bytes.

- `Content-Length` is required (411 otherwise). A body larger than `LOCKER_MAX_UPLOAD_SIZE`
  (plus 64 KiB of multipart framing) answers 413 before anything is read, and a file part that
  grows past it stops the upload with 413.
- The whole `Content-Length` is reserved against your quota first: 507 when it does not fit;
  429 when LOCKER_MAX_OPEN_UPLOADS uploads of yours are in progress already.
- `parent` (the target folder; `folder`, its former name, is still accepted) may also be given
  in the query string, which lets the server refuse an unknown folder (404) before reading the
  body.
- Checksums: `sha256` form fields (hex, one per file, in order), or for a single file a
  `Digest: sha-256=<base64>` or `Content-Digest: sha-256=:<base64>:` header (taken as the
  digest of the file's content). A mismatch answers 400 and nothing is kept.
- Names are kept as sent (NFC); a name taken in the folder answers 409 unless
  `on_conflict=rename`, which stores “name (1).ext” instead.
- `path` (a form field before the file parts): folder names separated by `/` below `parent`;
  the files go there, missing folders are created (existing ones, same name in any case, are
  reused), each name checked like any folder name, no `..`, within LOCKER_MAX_FOLDER_DEPTH.
  This is how a folder chosen or dropped in the web UI is recreated. A file with the name of a
  folder along it answers 409.
- One file part → the file object; several → a JSON array in the order of the parts.
  Everything in one request is stored, or nothing is.
"""


@extend_schema_view(
    list=extend_schema(
        summary="List or search files",
        description=(
            "Files in `parent` (the root when absent). With `search`, files whose name "
            "contains it anywhere in your locker (only in `parent` when it is given). "
            "Trashed files never appear."
        ),
        parameters=[
            OpenApiParameter("parent", OpenApiTypes.UUID, description="Folder id; absent = root"),
            FOLDER_ALIAS_PARAMETER,
            OpenApiParameter("search", str, description="Part of a name, any case"),
            OpenApiParameter(
                "ordering", str, enum=list(selectors.FILE_ORDERINGS), description="Sort order"
            ),
        ],
        responses={200: FileSerializer(many=True), 400: ERRORS[400], 404: ERRORS[404]},
    ),
    create=extend_schema(
        summary="Upload files",
        description=UPLOAD_DESCRIPTION,
        parameters=[
            OpenApiParameter("parent", OpenApiTypes.UUID, description="Target folder"),
            FOLDER_ALIAS_PARAMETER,
        ],
        request={"multipart/form-data": FileUploadSerializer},
        responses={
            201: PolymorphicProxySerializer(
                component_name="FileUploadResult",
                serializers=[FileSerializer, FileSerializer(many=True)],
                resource_type_field_name=None,
                many=False,
            ),
            400: ERRORS[400],
            404: ERRORS[404],
            409: OpenApiResponse(description="A name is taken and on_conflict is not rename."),
            411: OpenApiResponse(description="Content-Length is missing."),
            413: OpenApiResponse(description="Larger than LOCKER_MAX_UPLOAD_SIZE."),
            429: OpenApiResponse(
                description="LOCKER_MAX_OPEN_UPLOADS uploads of yours are in progress already."
            ),
            507: OpenApiResponse(description="Over your quota; nothing was stored."),
        },
    ),
    retrieve=extend_schema(
        summary="Get a file's details",
        parameters=[ID_PARAMETER],
        responses={200: FileSerializer, 404: ERRORS[404]},
    ),
    partial_update=extend_schema(
        summary="Rename and/or move a file",
        description="`name` renames; `parent` moves (null = the root). Both may be given.",
        parameters=[ID_PARAMETER],
        request=FileUpdateSerializer,
        responses={
            200: FileSerializer,
            400: ERRORS[400],
            404: ERRORS[404],
            409: OpenApiResponse(description="The name is taken in the target folder."),
        },
    ),
    destroy=extend_schema(
        summary="Move a file to the trash",
        parameters=[ID_PARAMETER],
        responses={204: OpenApiResponse(description="In the trash."), 404: ERRORS[404]},
    ),
)
@conditional_schema()
class FileViewSet(ConditionalMixin, viewsets.GenericViewSet):
    serializer_class = FileSerializer
    parser_classes = [JSONParser]
    required_scopes = {
        "list": "files:read",
        "retrieve": "files:read",
        "content": "files:read",
        "thumbnail": "files:read",
        "create": "files:write",
        "partial_update": "files:write",
        "destroy": "files:write",
    }

    def get_parsers(self):
        request = getattr(self, "request", None)
        if getattr(self, "action", None) == "create" or getattr(request, "method", "") == "POST":
            return [MultipartIntakeParser()]
        return super().get_parsers()

    def get_object(self) -> File:
        return selectors.file_get_for_user(user=self.request.user, file_id=self.kwargs["id"])

    def lock_item(self, item) -> None:
        services.item_lock_for_change(item=item)

    def _folder_or_root(self, value, field: str):
        folder_id = _uuid_or_400(value, field)
        return selectors.folder_get_for_user_or_root(user=self.request.user, folder_id=folder_id)

    def list(self, request):
        ordering = request.query_params.get("ordering", selectors.DEFAULT_FILE_ORDERING)
        if ordering not in selectors.FILE_ORDERINGS:
            raise serializers.ValidationError(
                {
                    "ordering": [
                        _("Unknown ordering; use one of: %s.") % ", ".join(selectors.FILE_ORDERINGS)
                    ]
                }
            )
        search = request.query_params.get("search", "").strip()
        folder_param, field = _parent_param(request.query_params)
        if search and folder_param is None:
            folder = None
        else:
            folder = self._folder_or_root(folder_param, field)
        qs = selectors.file_list(user=request.user, folder=folder, search=search, ordering=ordering)
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(FileSerializer(page, many=True).data)

    @idempotent(streamed=True)
    def create(self, request):
        max_size = settings.LOCKER_MAX_UPLOAD_SIZE
        early = {"folder": None}

        def reserve(size: int):
            # A folder named in the query string is checked before any byte is read.
            value, field = _parent_param(request.query_params)
            if value is not None:
                early["folder"] = self._folder_or_root(value, field)
            with service_errors(user=request.user):
                return services.upload_reservation_create(user=request.user, size=size)

        def check_fields_sent_first(fields) -> None:
            # The web UI sends `folder` before the file: refuse a foreign one before storing.
            value, field = _parent_param(fields) if fields is not None else (None, "")
            if early["folder"] is None and value is not None:
                early["folder"] = self._folder_or_root(value, field)
            if fields is not None and fields.get("path"):
                with service_errors(field="path", user=request.user):
                    services.folder_path_split(fields["path"])  # refused before any byte

        with (
            intake_errors(),
            multipart_intake(
                request._request,
                reserve=reserve,
                max_file_size=max_size,
                body_cap=max_size,
                before_first_file=check_fields_sent_first,
            ) as received,
        ):
            created = self._store(request, received, early["folder"])
        if len(created) == 1:
            return Response(FileSerializer(created[0]).data, status=status.HTTP_201_CREATED)
        return Response(FileSerializer(created, many=True).data, status=status.HTTP_201_CREATED)

    def _store(self, request, received: ReceivedUpload, folder) -> "list[File]":
        data = received.fields
        if folder is None:
            folder = self._folder_or_root(*_parent_param(data))
        on_conflict = data.get("on_conflict") or services.ON_CONFLICT.REFUSE
        if on_conflict not in (services.ON_CONFLICT.REFUSE, services.ON_CONFLICT.RENAME):
            raise serializers.ValidationError({"on_conflict": [_("Use “refuse” or “rename”.")]})
        self._verify_checksums(request, data, received.contents)
        # One transaction: the folders a path names exist only if the files are kept (a request
        # refused by files_create leaves no empty tree; the blobs stay the intake's to clean).
        with transaction.atomic():
            if data.get("path"):
                with service_errors(field="path", user=request.user):
                    folder, _created = services.folder_ensure_path(
                        user=request.user, parent=folder, path=data["path"]
                    )
            with service_errors(field="file", user=request.user):
                return services.files_create(
                    user=request.user,
                    folder=folder,
                    contents=received.contents,
                    on_conflict=on_conflict,
                    reservation=received.reservation,
                )

    def _verify_checksums(self, request, data, stored) -> None:
        expected: list[str | None] = [None] * len(stored)
        sums = [value for value in data.getlist("sha256") if value.strip()]
        if sums:
            if len(sums) != len(stored):
                raise serializers.ValidationError(
                    {"sha256": [_("Send one sha256 value per file, in the same order.")]}
                )
            try:
                expected = [normalise_hex_sha256(value) for value in sums]
            except ValueError:
                raise serializers.ValidationError(
                    {"sha256": [_("A sha256 value must be 64 hexadecimal characters.")]}
                ) from None
        try:
            header_sum = expected_sha256_from_headers(request.META)
        except ValueError:
            raise serializers.ValidationError(
                {"detail": _("The sha-256 digest header is not valid base64 of 32 bytes.")}
            ) from None
        if header_sum is not None:
            if len(stored) != 1:
                raise serializers.ValidationError(
                    {"detail": _("A digest header can only check a single uploaded file.")}
                )
            if expected[0] not in (None, header_sum):
                raise serializers.ValidationError(
                    {"detail": _("The digest header and the sha256 field disagree.")}
                )
            expected[0] = header_sum
        for upload, want in zip(stored, expected, strict=True):
            if want is not None and want != upload.sha256:
                raise serializers.ValidationError(
                    {
                        "sha256": [
                            _(
                                "The content of “%(name)s” does not match the checksum sent "
                                "(received SHA-256 %(got)s, expected %(want)s); nothing was kept."
                            )
                            % {"name": upload.name, "got": upload.sha256, "want": want}
                        ]
                    }
                )

    def retrieve(self, request, id):
        return Response(FileSerializer(self.get_object()).data)

    def partial_update(self, request, id):
        with self.preconditioned() as file:
            data = FileUpdateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            folder = None
            moved_to = [name for name in ("parent", "folder") if name in data.validated_data]
            if moved_to:  # `parent`, or `folder` (its former name); null = the root
                field = moved_to[0]
                folder = self._folder_or_root(data.validated_data[field], field)
            with service_errors(user=request.user):
                file = services.file_update(
                    file=file, name=data.validated_data.get("name"), folder=folder
                )
        return Response(FileSerializer(file).data)

    def destroy(self, request, id):
        with self.preconditioned() as file:
            services.file_trash(file=file)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Download a file's content",
        description=(
            "Streams the decrypted content. Supports HEAD, one `Range` (206, 416 when it "
            "cannot be satisfied; several ranges get the whole content), `If-None-Match` / "
            "`If-Modified-Since` (304) and `If-Range`. `Content-Disposition` is attachment "
            "unless `inline=1` is asked for an allow-listed type (raster images, PDF, audio, "
            "video, plain text as text/plain). Always `X-Content-Type-Options: nosniff` and "
            "`Content-Security-Policy: sandbox`."
        ),
        parameters=[
            ID_PARAMETER,
            OpenApiParameter("inline", OpenApiTypes.BOOL, description="Ask to display inline"),
            OpenApiParameter("Range", str, OpenApiParameter.HEADER, description="bytes=a-b"),
            OpenApiParameter(
                "Accept-Ranges",
                str,
                OpenApiParameter.HEADER,
                response=[200, 206],
                description="`bytes`: a `Range` may be asked for.",
            ),
            OpenApiParameter(
                "Content-Range",
                str,
                OpenApiParameter.HEADER,
                response=[206],
                description="`bytes <first>-<last>/<size>`: which part this is.",
            ),
        ],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(BINARY, description="Content"),
            (206, "application/octet-stream"): OpenApiResponse(BINARY, description="A range"),
            304: OpenApiResponse(description="Not modified."),
            403: OpenApiResponse(description="The file is infected: nobody may download it."),
            404: ERRORS[404],
            416: OpenApiResponse(description="Range not satisfiable."),
        },
    )
    def content(self, request, id):
        file = self.get_object()
        if file.state == File.State.INFECTED:
            raise Quarantined()
        inline = request.query_params.get("inline", "").lower() in ("1", "true", "yes")
        try:
            return responses.content_response(
                request, file=file, disposition="inline" if inline else "attachment"
            )
        except CorruptContent:
            logger.exception("Stored content of file %s cannot be read", file.pk)
            raise StoredContentUnreadable() from None

    @extend_schema(
        summary="Get a file's thumbnail",
        description=(
            "A WebP preview of images, the first page of PDFs and a frame of videos, made in "
            "the background after upload (`thumbnail` in the file says when it exists). "
            "`size` is 256 (default) or 1024: the longest side in pixels."
        ),
        parameters=[
            ID_PARAMETER,
            OpenApiParameter("size", OpenApiTypes.INT, enum=[*THUMBNAIL_SIZES]),
        ],
        responses={
            (200, "image/webp"): OpenApiResponse(BINARY, description="The thumbnail"),
            400: ERRORS[400],
            404: OpenApiResponse(description="No such file, or it has no thumbnail (yet)."),
        },
    )
    def thumbnail(self, request, id):
        file = self.get_object()
        size = thumbnail_size_or_none(request.query_params.get("size"))
        if size is None:
            raise serializers.ValidationError(
                {"size": [_("Must be one of: %s.") % ", ".join(map(str, THUMBNAIL_SIZES))]}
            )
        response = thumbnail_response(request, file=file, size=size)
        if response is None:
            raise exceptions.NotFound(_("This file has no thumbnail (yet)."))
        return response


@extend_schema_view(
    list=extend_schema(
        summary="List the trash",
        description=(
            "What you deleted, newest first: files, and folders with everything that was in "
            "them. Items stay LOCKER_TRASH_DAYS days, then are deleted for good."
        ),
        responses={200: TrashItemSerializer(many=True)},
    ),
)
class TrashViewSet(viewsets.GenericViewSet):
    serializer_class = TrashItemSerializer
    required_scopes = {
        "list": "files:read",
        "empty": "files:write",
        "restore": "files:write",
        "destroy": "files:write",
    }

    def list(self, request):
        items = selectors.trash_list(user=request.user)
        page = selectors.trash_located(
            self.paginate_queryset(items), top=selectors.confined_folder_id(request.user)
        )
        return self.get_paginated_response(TrashItemSerializer(page, many=True).data)

    @extend_schema(
        summary="Empty the trash",
        description=(
            "Deletes every trashed item for good and frees its space. A trash too big to empty "
            "within LOCKER_TRASH_EMPTY_REQUEST_BUDGET answers 202: what was deleted so far is "
            "counted, and the rest is deleted in the background (still listed in the trash, "
            "and counted in the quota, until it is)."
        ),
        request=None,
        responses={200: TrashEmptiedSerializer, 202: TrashEmptyingSerializer},
    )
    def empty(self, request):
        refuse_confined(
            request,
            _(
                "A token confined to a folder cannot empty the whole trash: delete its items "
                "one by one."
            ),
        )
        emptied = services.trash_empty(user=request.user)
        if emptied.continues:
            detail = _("The rest of the trash is being emptied in the background.")
            data = {"deleted_files": emptied.deleted_files, "detail": detail}
            return Response(TrashEmptyingSerializer(data).data, status=202)
        return Response(TrashEmptiedSerializer({"deleted_files": emptied.deleted_files}).data)

    @extend_schema(
        summary="Restore a trashed item",
        description=(
            "Back into the folder it was deleted from, or the root when that folder is gone "
            "or a restored folder would be deeper than LOCKER_MAX_FOLDER_DEPTH there; "
            "renamed “name (1)” when its name has been taken meanwhile."
        ),
        parameters=[ID_PARAMETER],
        request=None,
        responses={
            200: TrashRestoredSerializer,
            400: OpenApiResponse(description="The folder would be too deep even at the top level."),
            404: ERRORS[404],
        },
    )
    def restore(self, request, id):
        item = selectors.trash_item_get_for_user(user=request.user, item_id=id)
        within = None
        if selectors.confined_folder_id(request.user) is not None:
            within = selectors.folder_get_for_user_or_root(user=request.user, folder_id=None)
        with service_errors(user=request.user):
            item = services.trash_restore(item=item, within=within)
        return Response(TrashRestoredSerializer(item).data)

    @extend_schema(
        operation_id="trash_item_destroy",
        summary="Delete a trashed item for good",
        description=(
            "One file, or one folder with everything deleted with it, is deleted for good "
            "and its space freed. A folder too big to delete within "
            "LOCKER_TRASH_EMPTY_REQUEST_BUDGET answers 202: the rest is deleted in the "
            "background (still listed in the trash, and counted in the quota, until it is)."
        ),
        parameters=[ID_PARAMETER],
        request=None,
        responses={
            200: TrashEmptiedSerializer,
            202: TrashEmptyingSerializer,
            404: ERRORS[404],
        },
    )
    def destroy(self, request, id):
        item = selectors.trash_item_get_for_user(user=request.user, item_id=id)
        deleted = services.trash_item_delete(item=item)
        if deleted.continues:
            detail = _("The rest of this item is being deleted in the background.")
            data = {"deleted_files": deleted.deleted_files, "detail": detail}
            return Response(TrashEmptyingSerializer(data).data, status=202)
        return Response(TrashEmptiedSerializer({"deleted_files": deleted.deleted_files}).data)


@extend_schema_view(
    list=extend_schema(
        summary="List your uploads in progress",
        description=(
            "Uploads that hold part of your quota now: your own form and tus uploads, and "
            "those strangers are sending through your upload links (`upload_link` narrows the "
            "list to one link). Oldest first. A form upload's reservation is a lease renewed "
            "while its bytes arrive (LOCKER_UPLOAD_LEASE); a tus upload keeps its reservation "
            "until it idles for LOCKER_PARTIAL_UPLOAD_HOURS (your own) or "
            "LOCKER_UPLOAD_LINK_IDLE (through a link)."
        ),
        parameters=[
            OpenApiParameter(
                "upload_link", OpenApiTypes.UUID, description="Only uploads through this link"
            )
        ],
        responses={200: UploadInProgressSerializer(many=True), 400: ERRORS[400]},
    ),
    destroy=extend_schema(
        summary="Cancel an upload in progress",
        description=(
            "Its reservation is released at once. A tus upload's bytes are deleted, even "
            "during a PATCH (which stops and keeps nothing); a form upload still sending stops "
            "at its next lease renewal and keeps nothing."
        ),
        parameters=[ID_PARAMETER],
        responses={
            204: OpenApiResponse(description="Cancelled."),
            404: OpenApiResponse(description="No such upload in progress of yours."),
        },
    ),
)
class UploadInProgressViewSet(viewsets.GenericViewSet):
    serializer_class = UploadInProgressSerializer
    required_scopes = {"list": "files:read", "destroy": "files:write"}

    def list(self, request):
        refuse_confined(request, confined_uploads_refusal())
        link = None
        if request.query_params.get("upload_link"):
            try:
                link_id = serializers.UUIDField().to_internal_value(
                    request.query_params["upload_link"]
                )
            except serializers.ValidationError:
                raise serializers.ValidationError(
                    {"upload_link": [_("Must be an upload link id.")]}
                ) from None
            link = selectors.upload_link_get_for_owner(user=request.user, public_id=link_id)
        rows = selectors.uploads_in_progress(user=request.user, link=link)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(UploadInProgressSerializer(page, many=True).data)

    def destroy(self, request, id):
        refuse_confined(request, confined_uploads_refusal())
        reservation = selectors.upload_in_progress_get(user=request.user, public_id=id)
        services.upload_cancel(reservation=reservation)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    summary="Act on several files and folders at once",
    description="""\
One action on a selection of your files and folders (the Files page's checkboxes):

- `delete`: each item goes to the trash as its own trash item (a folder with everything in it).
- `move`: into `target` (null = the root). Refused (400) when `target` is a selected folder or
  inside one, when an item is already there or inside another selected folder, or when a folder
  would be deeper than LOCKER_MAX_FOLDER_DEPTH; 409 when a name is taken in `target` or two
  items share a name.
- `zip`: one ZIP, streamed while it is built like a folder's download: selected files at the
  top, each selected folder as a folder of the archive with its whole tree. Infected files are
  left out.

All or nothing: every item is checked first; one refusal refuses the whole batch and nothing
changes. Every id must be a live item of yours: one that is not (unknown, another user's, in
the trash) answers 404 for the whole batch. At most LOCKER_BATCH_MAX_ITEMS items (400 beyond).
The number of database queries does not grow with the number of items. An API token needs
`files:read`, and `files:write` too for `move` and `delete`.

The body is JSON, or a form (`application/x-www-form-urlencoded`, repeated `files` / `folders`
fields) so that a browser can download the ZIP with a plain form post. A share link over
several items is `POST /api/v1/shares/` with `files` and `folders`.
""",
    # The form encoding is in the description only: generated clients cannot use an operation
    # with one model under two body types (openapi-python-client issues 1276 and 1451).
    request={"application/json": BatchSerializer},
    responses={
        200: BatchDoneSerializer,
        (200, "application/zip"): OpenApiResponse(BINARY, description="zip: the archive."),
        400: ERRORS[400],
        404: OpenApiResponse(description="An item (or the target) is not a live item of yours."),
        409: OpenApiResponse(description="move: a name is taken in the target folder."),
    },
)
class BatchView(APIView):
    parser_classes = [JSONParser, FormParser]
    # `zip` reads; `move` and `delete` also need files:write (checked once the body is read).
    required_scopes = {"POST": "files:read"}

    def post(self, request):
        data = BatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        action = data.validated_data["action"]
        if action != "zip":
            require_scopes(request, "files:write")
        selection = selectors.selection_get_for_user(
            user=request.user,
            file_ids=data.validated_data["files"],
            folder_ids=data.validated_data["folders"],
        )
        if action == "zip":
            parent_id = batch.selection_common_parent(selection)
            parent = selection.folders[0].parent if selection.folders else selection.files[0].folder
            name = parent.name if parent_id is not None and parent.parent_id else "files"
            return batch.selection_zip_response(request, selection=selection, name=name)
        if action == "move":
            target = selectors.folder_get_for_user_or_root(
                user=request.user, folder_id=data.validated_data.get("target")
            )
            with service_errors(user=request.user):
                count = batch.items_move(user=request.user, selection=selection, target=target)
            detail = ngettext("Moved %(n)s item.", "Moved %(n)s items.", count) % {"n": count}
        else:
            count = batch.items_trash(user=request.user, selection=selection)
            detail = ngettext(
                "Moved %(n)s item to the trash.", "Moved %(n)s items to the trash.", count
            ) % {"n": count}
        return Response(BatchDoneSerializer({"count": count, "detail": detail}).data)

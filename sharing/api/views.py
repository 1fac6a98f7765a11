"""Thin API views for share links and upload links: scope to the caller, call a service,
serialize. Both kinds of link share one viewset base, `LinkViewSet`."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import refuse_confined
from files import services as file_services
from files.api.uploads import (
    InsufficientStorage,
    MultipartIntakeParser,
    TooManyUploads,
    UploadGone,
    intake_errors,
)
from files.batch import BatchTooLarge, batch_check_size
from files.intake import ReceivedUpload, multipart_intake
from files.selectors import file_get_for_user, folder_get_for_user, selection_get_for_user
from locker.api import UUID_IN_PATH
from locker.conditional import ConditionalMixin, conditional_schema
from locker.errors import ErrorCode
from locker.idempotency import idempotent
from sharing import link_email, selectors, services, upload_links
from sharing.api.serializers import (
    SendSerializer,
    ShareAccessSerializer,
    ShareCreatedSerializer,
    ShareCreateSerializer,
    ShareEmailQueuedSerializer,
    ShareEmailSerializer,
    ShareOptionsSerializer,
    ShareSerializer,
    UploadLinkCreatedSerializer,
    UploadLinkCreateSerializer,
    UploadLinkOptionsSerializer,
    UploadLinkSerializer,
)
from sharing.models import Link, ShareLink, UploadLink
from sharing.qr import link_qr_response


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = ErrorCode.CONFLICT


ERRORS = {
    400: OpenApiResponse(description="Invalid input; `detail` says what is wrong."),
    404: OpenApiResponse(description="No such link (or file/folder) of yours."),
}


def as_api_error(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})


def expiry_from(data: dict):
    """The API's expires_at / expires_in (either, or neither) for the services."""
    return services.expiry_resolve(
        expires_at=data.get("expires_at", services.UNSET),
        expires_in=data.get("expires_in", services.UNSET),
    )


class LinkViewSet(
    ConditionalMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    # The API of one kind of link, in the manner of NetBox's `NetBoxModelViewSet`: a kind's
    # viewset names its serializers, selectors and services; list, show, create, change (PATCH)
    # and revoke (DELETE) are written once, always scoped to the caller's own links. (A comment,
    # not a docstring: drf-spectacular would make it every operation's description.)

    required_scopes = {
        "list": "shares:read",
        "retrieve": "shares:read",
        "qr": "shares:read",
        "create": "shares:write",
        "partial_update": "shares:write",
        "destroy": "shares:write",
    }
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    # A UUID (dashes optional, any case); anything else is not a path here: 404 with a sentence.
    lookup_value_regex = UUID_IN_PATH
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    create_serializer_class: type[serializers.Serializer]
    created_serializer_class: type[serializers.Serializer]
    options_serializer_class: type[serializers.Serializer]

    def list_for_user(self, *, user) -> QuerySet:
        raise NotImplementedError

    def get_for_user(self, *, user, public_id) -> Link:
        raise NotImplementedError

    def link_create(self, *, owner, data: dict, expires_at) -> tuple[Link, str]:
        """Create the link from the validated create body (its target looked up scoped to
        `owner`: a foreign or trashed id is a 404)."""
        raise NotImplementedError

    def link_update(self, link: Link, **changes) -> None:
        raise NotImplementedError

    def link_revoke(self, link: Link) -> None:
        raise NotImplementedError

    def link_url(self, token: str) -> str:
        raise NotImplementedError

    qr_filename: str

    def get_queryset(self):
        return self.list_for_user(user=self.request.user)

    def get_object(self):
        return self.get_for_user(user=self.request.user, public_id=self.kwargs["id"])

    @idempotent()
    def create(self, request, *args, **kwargs):
        serializer = self.create_serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            link, token = self.link_create(
                owner=request.user, data=data, expires_at=expiry_from(data)
            )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from None
        except BatchTooLarge as exc:
            raise serializers.ValidationError({"detail": str(exc)}) from None
        link.token = token
        link.url = self.link_url(token)
        return Response(self.created_serializer_class(link).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        with self.preconditioned() as link:
            serializer = self.options_serializer_class(data=request.data, partial=True)
            serializer.is_valid(raise_exception=True)
            data = dict(serializer.validated_data)
            try:
                data["expires_at"] = expiry_from(data)
                data.pop("expires_in", None)
                self.link_update(link, **data)
            except DjangoValidationError as exc:
                raise as_api_error(exc) from None
        return Response(self.get_serializer(link).data)

    def destroy(self, request, *args, **kwargs):
        with self.preconditioned() as link:
            self.link_revoke(link)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="The link's QR code",
        description=(
            "An SVG QR code of the link's `url`, drawn by the server, as an attachment "
            "(`Content-Security-Policy: default-src 'none'; …; sandbox`, `nosniff`). 404 for "
            "another user's link, and for a link made before links were kept (`url` null)."
        ),
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="SVG"),
            404: ERRORS[404],
        },
    )
    @action(detail=True, methods=["get"])
    def qr(self, request, *args, **kwargs):
        url = services.link_url_again(self.get_object())
        if url is None:
            raise exceptions.NotFound(
                _("This link was shown only at creation: it has no QR code. Create a new one.")
            )
        return link_qr_response(url, filename=self.qr_filename, attachment=True)


@extend_schema_view(
    list=extend_schema(
        summary="List your share links",
        description="Newest first. `file` / `folder` narrow it to the links of one item.",
        parameters=[
            OpenApiParameter("file", OpenApiTypes.UUID, description="Only links of this file"),
            OpenApiParameter("folder", OpenApiTypes.UUID, description="Only links of this folder"),
        ],
        responses={200: ShareSerializer(many=True), 400: ERRORS[400]},
    ),
    retrieve=extend_schema(summary="Show a share link", responses={200: ShareSerializer, **ERRORS}),
    create=extend_schema(
        summary="Create a share link",
        request=ShareCreateSerializer,
        responses={201: ShareCreatedSerializer, **ERRORS},
        description=(
            "Share one `file` or one `folder` (ids from the files API), or several items of "
            "one folder at once with `files` and `folders` (a selection share: one link that "
            "shows just those items where they are, each folder with everything below it; at "
            "most LOCKER_BATCH_MAX_ITEMS, every id yours and alive or the whole request is "
            "404, items of different folders 400). Expiry: `expires_at` "
            "(ISO 8601 with a time zone) or `expires_in` (`30m`, `12h`, `7d`, seconds, `never`); "
            "without either, the server default applies. The response holds `token` and "
            "`url`; later answers about the link hold `url` again (for you only)."
        ),
    ),
    partial_update=extend_schema(
        summary="Change a share link",
        request=ShareOptionsSerializer,
        responses={200: ShareSerializer, **ERRORS},
        description=(
            "Change any option. A new `password` (or an empty one, which removes it) signs out "
            "every visitor who had unlocked the link."
        ),
    ),
    destroy=extend_schema(
        summary="Revoke a share link",
        responses={204: OpenApiResponse(description="Revoked; it answers 410 at once."), **ERRORS},
    ),
)
@conditional_schema()
class ShareViewSet(LinkViewSet):
    serializer_class = ShareSerializer
    required_scopes = {
        **LinkViewSet.required_scopes,
        # A new link publishes what it shares: not for a token that may not read it.
        "create": ("shares:write", "files:read"),
        "accesses": "shares:read",
        "email": "shares:write",
    }
    create_serializer_class = ShareCreateSerializer
    created_serializer_class = ShareCreatedSerializer
    options_serializer_class = ShareOptionsSerializer
    list_for_user = staticmethod(selectors.share_list_for_user)
    get_for_user = staticmethod(selectors.share_get_for_user)
    link_url = staticmethod(services.share_url)
    qr_filename = "share-link-qr.svg"

    def get_queryset(self):
        queryset = super().get_queryset()
        for field in ("file", "folder"):
            value = self.request.query_params.get(field)
            if value:
                try:
                    value = serializers.UUIDField().to_internal_value(value)
                except serializers.ValidationError:
                    raise serializers.ValidationError({field: [_("Must be an id.")]}) from None
                queryset = queryset.filter(**{f"{field}__public_id": value})
        return queryset

    def list(self, request, *args, **kwargs):
        # Each link's status needs its target's chain of folders: one query for the page.
        page = self.paginate_queryset(self.get_queryset())
        selectors.shares_target_alive(page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def link_create(self, *, owner, data: dict, expires_at) -> tuple[ShareLink, str]:
        options = {
            "expires_at": expires_at,
            "max_downloads": data.get("max_downloads"),
            "password": data.get("password", ""),
            "allow_download": data.get("allow_download", True),
            "notify": data.get("notify", False),
            "label": data.get("label", ""),
        }
        if "files" in data or "folders" in data:
            batch_check_size(len(data.get("files", [])) + len(data.get("folders", [])))
            selection = selection_get_for_user(
                user=owner, file_ids=data.get("files", []), folder_ids=data.get("folders", [])
            )
            return services.share_selection_create(
                owner=owner, files=selection.files, folders=selection.folders, **options
            )
        file = folder = None
        if "file" in data:
            file = file_get_for_user(user=owner, file_id=data["file"])
        else:
            folder = folder_get_for_user(user=owner, folder_id=data["folder"])
        return services.share_create(owner=owner, file=file, folder=folder, **options)

    def link_update(self, link: ShareLink, **changes) -> None:
        services.share_update(share=link, **changes)

    def link_revoke(self, link: ShareLink) -> None:
        services.share_revoke(share=link)

    @extend_schema(
        summary="Send a share link by e-mail",
        description=(
            "Queue one e-mail per address with the link and an optional `message` (sent by the "
            "worker). At most 20 addresses at a time, and `LOCKER_SHARE_EMAIL_PER_HOUR` "
            "addresses per user per hour (429 with `Retry-After` beyond). A link that no longer "
            "works, or one made before links were kept, cannot be sent (400)."
        ),
        request=ShareEmailSerializer,
        responses={
            202: ShareEmailQueuedSerializer,
            **ERRORS,
            429: OpenApiResponse(description="Too many e-mails this hour; `detail` says when."),
        },
    )
    @idempotent()
    @action(detail=True, methods=["post"])
    def email(self, request, *args, **kwargs):
        share = self.get_object()
        serializer = ShareEmailSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            count = link_email.share_link_email(
                share=share,
                sender=request.user,
                recipients=data["recipients"],
                message=data.get("message", ""),
            )
        except DjangoValidationError as exc:
            raise as_api_error(exc) from None
        except link_email.TooManyEmails as exc:
            raise exceptions.Throttled(wait=exc.wait, detail=str(exc)) from None
        return Response({"recipients": count}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="A share link's access log",
        description="Each download: time, completed or not, bytes sent, client IP (truncated "
        "when the server anonymises IPs) and user agent. Newest first.",
        responses={200: ShareAccessSerializer(many=True), 404: ERRORS[404]},
    )
    @action(detail=True, methods=["get"])
    def accesses(self, request, *args, **kwargs):
        share = self.get_object()
        queryset = selectors.share_accesses(share=share)
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(ShareAccessSerializer(page, many=True).data)
        return Response(ShareAccessSerializer(queryset, many=True).data)


@extend_schema_view(
    list=extend_schema(summary="List your upload links"),
    retrieve=extend_schema(
        summary="Show an upload link", responses={200: UploadLinkSerializer, **ERRORS}
    ),
    create=extend_schema(
        summary="Create an upload link",
        request=UploadLinkCreateSerializer,
        responses={201: UploadLinkCreatedSerializer, **ERRORS},
        description=(
            "Anyone with the link can upload into `folder` (`POST /r/<token>/upload`, multipart "
            "`file`) and see nothing of it. Options: expiry (`expires_at` or `expires_in`), "
            "`max_files`, `max_file_size`, `password`, `message`. The response holds `token` and "
            "`url`; later answers about the link hold `url` again (for you only)."
        ),
    ),
    partial_update=extend_schema(
        summary="Change an upload link",
        request=UploadLinkOptionsSerializer,
        responses={200: UploadLinkSerializer, **ERRORS},
    ),
    destroy=extend_schema(
        summary="Revoke an upload link",
        responses={204: OpenApiResponse(description="Revoked; it answers 410 at once."), **ERRORS},
    ),
)
@conditional_schema()
class UploadLinkViewSet(LinkViewSet):
    serializer_class = UploadLinkSerializer
    required_scopes = {
        **LinkViewSet.required_scopes,
        "create": "upload-links:write",
        "partial_update": "upload-links:write",
        "destroy": "upload-links:write",
    }
    create_serializer_class = UploadLinkCreateSerializer
    created_serializer_class = UploadLinkCreatedSerializer
    options_serializer_class = UploadLinkOptionsSerializer
    list_for_user = staticmethod(selectors.upload_link_list_for_user)
    get_for_user = staticmethod(selectors.upload_link_get_for_user)
    link_url = staticmethod(services.upload_link_url)
    qr_filename = "upload-link-qr.svg"

    def link_create(self, *, owner, data: dict, expires_at) -> tuple[UploadLink, str]:
        folder = folder_get_for_user(user=owner, folder_id=data["folder"])
        return upload_links.upload_link_create(
            owner=owner,
            folder=folder,
            expires_at=expires_at,
            max_files=data.get("max_files"),
            max_file_size=data.get("max_file_size"),
            password=data.get("password", ""),
            message=data.get("message", ""),
            label=data.get("label", ""),
            notify=data.get("notify", True),
        )

    def link_update(self, link: UploadLink, **changes) -> None:
        upload_links.upload_link_update(link=link, **changes)

    def link_revoke(self, link: UploadLink) -> None:
        upload_links.upload_link_revoke(link=link)


class SendView(APIView):
    """Quick send: upload files and get a share link in one call."""

    parser_classes = [MultipartIntakeParser]
    required_scopes = {"POST": ("files:write", "shares:write")}

    @extend_schema(
        operation_id="send_create",
        summary="Quick send: upload files and get a share link",
        description=(
            "Multipart body: one or more `file` parts plus the share options of "
            "`POST /api/v1/shares/` (`expires_in`, `expires_at`, `max_downloads`, `password`, "
            "`allow_download`, `notify`, `label`) and `keep`. The files are stored in your "
            '"Sent" folder (several files: in a new folder inside it) and count against your '
            "quota; unless `keep` is true they go to the trash when the link expires, is "
            "revoked or is used up. Everything is stored, or nothing. Same size, quota and "
            "Content-Length rules as `POST /api/v1/files/`."
        ),
        request={"multipart/form-data": SendSerializer},
        responses={201: ShareCreatedSerializer, **ERRORS},
    )
    @idempotent(streamed=True)
    def post(self, request):
        refuse_confined(
            request,
            _("A token confined to a folder cannot use quick send, which stores in “Sent”."),
        )

        def reserve(size: int):
            try:
                return file_services.upload_reservation_create(user=request.user, size=size)
            except file_services.QuotaExceeded as exc:
                raise InsufficientStorage(str(exc)) from None
            except file_services.TooManyOpenUploads as exc:
                raise TooManyUploads(str(exc)) from None

        with (
            intake_errors(),
            multipart_intake(
                request._request, reserve=reserve, max_file_size=settings.LOCKER_MAX_UPLOAD_SIZE
            ) as received,
        ):
            share, token = self._send(request, received)
        share.token = token
        share.url = services.share_url(token)
        return Response(ShareCreatedSerializer(share).data, status=status.HTTP_201_CREATED)

    def _send(self, request, received: ReceivedUpload):
        data = received.fields
        options = ShareOptionsSerializer(
            data={k: v for k, v in data.items() if k in ShareOptionsSerializer().fields}
        )
        options.is_valid(raise_exception=True)
        keep = serializers.BooleanField().to_internal_value(data.get("keep", False))
        opts = dict(options.validated_data)
        try:
            return services.quick_send(
                owner=request.user,
                contents=received.contents,
                reservation=received.reservation,
                keep_files=keep,
                expires_at=expiry_from(opts),
                max_downloads=opts.get("max_downloads"),
                password=opts.get("password", ""),
                allow_download=opts.get("allow_download", True),
                notify=opts.get("notify", False),
                label=opts.get("label", ""),
            )
        except file_services.QuotaExceeded as exc:
            raise InsufficientStorage(str(exc)) from None
        except file_services.UploadCancelled as exc:
            raise UploadGone(str(exc)) from None
        except file_services.NameConflict:
            raise Conflict(
                _("Quick send keeps files in a folder named “Sent”; rename the item of that name."),
                code=ErrorCode.NAME_CONFLICT,
            ) from None
        except DjangoValidationError as exc:
            raise as_api_error(exc) from None

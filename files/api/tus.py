"""`/api/v1/tus/`: the tus 1.0.0 resumable upload server for accounts (Bearer token or session).

Thin: authentication and the target folder here, the protocol in files/tus.py.
"""

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from files import selectors, tus
from locker.api import ErrorSerializer
from locker.idempotency import idempotent

BASE = "/api/v1/tus/"


def _header(name: str, description: str, *, required: bool = False, type_=OpenApiTypes.STR):
    return OpenApiParameter(
        name, type_, OpenApiParameter.HEADER, required=required, description=description
    )


TUS_RESUMABLE = _header("Tus-Resumable", "Always `1.0.0`; 412 without it.", required=True)
UPLOAD_ID = OpenApiParameter(
    "upload_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The upload's id."
)


def _response(description: str, *headers: str) -> OpenApiResponse:
    return OpenApiResponse(
        description=description + (" Headers: " + ", ".join(headers) + "." if headers else "")
    )


COMMON_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Not authenticated."),
    404: OpenApiResponse(ErrorSerializer, description="No such upload (or another user's)."),
    410: OpenApiResponse(
        ErrorSerializer,
        description="The upload expired before it was complete (or was terminated meanwhile).",
    ),
    412: OpenApiResponse(ErrorSerializer, description="Tus-Resumable missing or not 1.0.0."),
}


class _TusView(APIView):
    parser_classes: list = []
    # OPTIONS only tells the server's capabilities.
    required_scopes = {
        "OPTIONS": (),
        "POST": "files:write",
        "GET": "files:write",
        "HEAD": "files:write",
        "PATCH": "files:write",
        "DELETE": "files:write",
    }

    def handle_exception(self, exc):
        if isinstance(exc, tus.TusError):
            return tus.error_response(exc)
        response = super().handle_exception(exc)
        response["Tus-Resumable"] = tus.TUS_VERSION
        return response

    def _scope(self) -> tus.Scope:
        user = self.request.user
        return tus.Scope(owner_id=user.pk, folders=selectors.confined_subtree(user))


class TusCollectionView(_TusView):
    def get_permissions(self):
        # tus clients ask for the capabilities before anything else, without credentials (a
        # browser's CORS preflight cannot carry them): they say nothing about anybody.
        if self.request.method == "OPTIONS":
            return []
        return super().get_permissions()

    @extend_schema(
        operation_id="tus_options",
        summary="tus capabilities",
        description="Answers with Tus-Version, Tus-Extension (creation, creation-with-upload, "
        "termination, checksum, expiration), Tus-Checksum-Algorithm (sha1, sha256, md5) and "
        "Tus-Max-Size when LOCKER_MAX_UPLOAD_SIZE is set. Needs no authentication (the only "
        "operation of the API that does not).",
        request=None,
        responses={204: _response("Capabilities.", "Tus-Version", "Tus-Extension")},
    )
    def options(self, request, *args, **kwargs):
        return tus.options_response()

    @extend_schema(
        operation_id="tus_create",
        summary="Create a resumable upload (tus creation)",
        description="`Upload-Length` is the file's size; `Upload-Metadata` carries base64 "
        "`filename` (required), `filetype` and `parent` (a folder id; the root when absent; "
        "`folder`, its former name, is still read). The "
        "quota is reserved for the whole length at once. A body of type "
        "`application/offset+octet-stream` is the first chunk (creation-with-upload). The "
        "`Location` header is the upload's URL.",
        parameters=[
            TUS_RESUMABLE,
            _header("Upload-Length", "Size of the file in bytes.", required=True),
            _header("Upload-Metadata", "`filename <b64>,filetype <b64>,parent <b64>`."),
        ],
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        responses={
            201: _response("Created.", "Location", "Upload-Offset", "Upload-Expires"),
            400: OpenApiResponse(description="Invalid headers or file name."),
            413: OpenApiResponse(description="Larger than LOCKER_MAX_UPLOAD_SIZE."),
            429: OpenApiResponse(
                description="LOCKER_MAX_OPEN_UPLOADS uploads of yours are in progress already."
            ),
            507: OpenApiResponse(description="Not enough quota for Upload-Length."),
            **COMMON_ERRORS,
        },
    )
    @idempotent(streamed=True)
    def post(self, request):
        tus.check_version(request)
        metadata = tus.parse_metadata(request.headers.get("Upload-Metadata"))
        try:
            folder = selectors.folder_get_for_user_or_root(
                # `parent`, as everywhere in the API; `folder`, its former name, still read.
                user=request.user,
                folder_id=metadata.get("parent") or metadata.get("folder") or None,
            )
        except Http404:
            raise tus.TusError(404, _("The target folder does not exist.")) from None
        target = tus.Target(
            owner=request.user, folder=folder, max_size=settings.LOCKER_MAX_UPLOAD_SIZE
        )
        return tus.create(request._request, target, BASE)


class TusUploadView(_TusView):
    @extend_schema(
        operation_id="tus_options_upload",
        summary="tus capabilities",
        parameters=[UPLOAD_ID],
        request=None,
        responses={204: _response("Capabilities.", "Tus-Version", "Tus-Extension")},
    )
    def options(self, request, *args, **kwargs):
        return tus.options_response()

    @extend_schema(
        operation_id="tus_offset",
        summary="Where a resumable upload stands (HEAD; GET answers the same)",
        description="tus clients send `HEAD`, which OpenAPI tools list as this GET. Headers: "
        "Upload-Offset and Upload-Length; Upload-Expires while unfinished; `Locker-File-Id` "
        "(the new file's id) once complete. `OPTIONS` on this URL or on `/api/v1/tus/` answers "
        "204 with Tus-Version, Tus-Extension, Tus-Checksum-Algorithm and Tus-Max-Size.",
        parameters=[UPLOAD_ID, TUS_RESUMABLE],
        request=None,
        responses={
            200: _response("State.", "Upload-Offset", "Upload-Length", "Locker-File-Id"),
            **COMMON_ERRORS,
        },
    )
    def head(self, request, upload_id: str):
        return tus.head(request._request, self._scope(), upload_id)

    # HEAD is the tus way; GET is here only so that the schema can show the operation.
    get = head

    @extend_schema(
        operation_id="tus_append",
        summary="Append a chunk to a resumable upload",
        description="Body `application/offset+octet-stream` starting at `Upload-Offset` (409 "
        "when that is not where the upload stands). With `Upload-Checksum: <sha1|sha256|md5> "
        "<b64>` a mismatching chunk is discarded (460). The last chunk turns the upload into a "
        "file, whose id comes back in `Locker-File-Id`.",
        parameters=[
            UPLOAD_ID,
            TUS_RESUMABLE,
            _header("Upload-Offset", "Where this chunk starts.", required=True),
            _header("Upload-Checksum", "Optional `<algorithm> <base64 digest>` of the chunk."),
        ],
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        responses={
            204: _response("Stored.", "Upload-Offset", "Locker-File-Id"),
            403: OpenApiResponse(description="The upload is complete; no more data."),
            413: OpenApiResponse(description="Beyond the declared Upload-Length."),
            415: OpenApiResponse(description="Wrong Content-Type."),
            409: OpenApiResponse(
                description="Upload-Offset is not the upload's offset, or another request took "
                "the upload over after this one stalled past its write lease."
            ),
            423: OpenApiResponse(
                description="Another request is writing to this upload (Retry-After: its "
                "write lease, LOCKER_TUS_LOCK_LEASE, renewed while its bytes arrive)."
            ),
            460: OpenApiResponse(description="Checksum mismatch; the chunk was discarded."),
            **COMMON_ERRORS,
        },
    )
    def patch(self, request, upload_id: str):
        return tus.patch(request._request, self._scope(), upload_id)

    @extend_schema(
        operation_id="tus_terminate",
        summary="Terminate a resumable upload",
        description="Deletes the partial data and releases the reserved quota at once, even "
        "while a PATCH is writing (it stops and keeps nothing) and even after the upload "
        "expired.",
        parameters=[UPLOAD_ID, TUS_RESUMABLE],
        request=None,
        responses={204: OpenApiResponse(description="Terminated."), **COMMON_ERRORS},
    )
    def delete(self, request, upload_id: str):
        return tus.delete(request._request, self._scope(), upload_id)

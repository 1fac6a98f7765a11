"""Serving share content: files (Range-aware), folder and selection ZIPs, counted and logged.

Callers have passed `share_resolve` and obtained the file or folder through the share's own
selectors; these functions decide nothing about access, only count and meter the download.
"""

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _
from zipstream import ZIP_STORED, ZipStream

from files.models import File, Folder
from files.responses import content_response, thumbnail_response
from files.thumbnail_sandbox import SIZES as THUMBNAIL_SIZES
from files.thumbnail_sandbox import thumbnail_kind
from files.zips import (
    folder_zip_entries,
    trees_zip_entries,
    unique_entry,
    zip_entry_name,
    zip_response,
)
from locker.errors import ErrorCode
from locker.network import client_ip
from sharing import selectors, services, tokens
from sharing.access import ShareDenied, ShareGone, resume_budget, share_resume_credential
from storage.reader import iter_content

PREVIEW_SIZE = max(THUMBNAIL_SIZES)


class NotReady(ShareDenied):
    status = 409
    code = ErrorCode.NOT_READY


def servable(file: File) -> bool:
    """Whether a public link may serve this file: processing (scanning) cleared it.

    `LOCKER_SHARE_REQUIRES_SCAN=false` (the workers issue) lets links serve files still pending;
    infected or failed files are never served.
    """
    if file.state == File.State.READY:
        return True
    return file.state == File.State.PENDING and not getattr(
        settings, "LOCKER_SHARE_REQUIRES_SCAN", True
    )


# A file download takes its budget (`sharing.access.resume_budget`) in steps of this many bytes,
# each an atomic conditional UPDATE of its access row, before sending them.
METER_STEP = 4 * 1024 * 1024


def metered(
    iterator,
    *,
    access_id: int,
    expected: int | None,
    budget: int | None = None,
    reaches_end: bool = True,
):
    """Pass the bytes through, adding to the access row how many left and whether the download
    completed (all `expected` bytes sent, by a request that `reaches_end` of the file).

    With a `budget`, the bytes are taken from it before they are sent, METER_STEP at a time
    (`services.share_access_take`, atomic, so simultaneous requests of one download share it);
    when it is spent the response stops short. The part taken but not sent goes back at the end.
    A process killed mid-stream keeps at most one step of it taken: the client loses that much
    room, nobody gains any.
    """
    sent = taken = 0
    try:
        for chunk in iterator:
            if budget is not None and sent + len(chunk) > taken:
                step = max(sent + len(chunk) - taken, min(METER_STEP, (expected or 0) - taken))
                if not services.share_access_take(access_id=access_id, nbytes=step, budget=budget):
                    return
                taken += step
            sent += len(chunk)
            yield chunk
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()  # storage readers of a stream stopped early
        services.share_access_finish(
            access_id=access_id,
            unreported=sent - taken,
            completed=reaches_end and expected is not None and sent >= expected,
        )


def _metered(response, access_id: int, *, budget: int | None = None, reaches_end: bool = True):
    """Record on the access row how many bytes of the response really leave."""
    length = response.get("Content-Length")
    response.streaming_content = metered(
        response.streaming_content,
        access_id=access_id,
        expected=int(length) if length and length.isdigit() else None,
        budget=budget,
        reaches_end=reaches_end,
    )
    return response


def _require_servable(file: File) -> None:
    if not servable(file):
        if file.state == File.State.PENDING:
            raise NotReady(_("This file is being checked. Try again in a moment."))
        # Infected, or processing failed: it will not become ready by waiting.
        code = (
            ErrorCode.INFECTED if file.state == File.State.INFECTED else ErrorCode.PERMISSION_DENIED
        )
        raise NotReady(_("This file cannot be downloaded."), code=code)


def serve_file(request, share, file: File, *, inline: bool = False):
    _require_servable(file)
    if inline:
        return content_response(request, file=file, disposition="inline")
    decided: dict = {}

    def admit(start: int, end: int) -> None:
        # Every request that sends content counts, except a Range past byte 0 that carries the
        # resume cookie of this client's own counted download of this file, while that
        # download's budget holds these bytes. (Counting only the requests that started at
        # byte 0 let `Range: bytes=1-` fetch a limited file without limit; a resume cookie
        # without a budget was a reusable pass for a day.)
        resumed = share_resume_credential(
            request, share, file=file, start=start, length=end - start
        )
        if resumed is None and not services.share_count_download(share=share):
            raise ShareGone(
                _("This link has reached its download limit."),
                code=ErrorCode.DOWNLOAD_LIMIT_REACHED,
            )
        decided.update(start=start, end=end, resumed=resumed)

    try:
        response = content_response(request, file=file, disposition="attachment", admit=admit)
    except Exception:
        if decided and decided["resumed"] is None:
            # Counted, then storage failed before a byte left: give the download back.
            services.share_uncount_download(share=share)
        raise
    if not decided:
        return response  # HEAD, 304, 416: nothing sent, nothing counted
    budget = resume_budget(file.size)
    reaches_end = decided["end"] == file.size
    if decided["resumed"] is not None:
        # The same download, continued: its row adds this request's bytes, not a new row.
        access_id = decided["resumed"].pk
        services.share_access_resume(access_id=access_id)
        return _metered(response, access_id, budget=budget, reaches_end=reaches_end)
    resume_token = tokens.new_token()
    access = services.share_access_start(
        share=share,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        file=file,
        name=file.name,
        is_zip=False,
        counted=True,
        range_start=decided["start"],
        resume_hash=tokens.hash_token(resume_token),
    )
    # Scoped to this very download URL, so a folder share's files each keep their own.
    response.set_cookie(
        tokens.RESUME_COOKIE,
        resume_token,
        max_age=tokens.RESUME_MAX_AGE,
        path=request.path,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return _metered(response, access.pk, budget=budget, reaches_end=reaches_end)


def preview_is_rendition(share, file: File) -> bool:
    """A preview-only link shows images and PDFs as a rendition, never as the original file:
    the stored 1024 px WebP thumbnail (a re-encoded image without metadata; a PDF's first page),
    made by the worker's sandboxed renderer (files.thumbnail_sandbox). Audio, video and text have no
    rendition: their preview is the file itself (docs/sharing.md says so)."""
    return not share.allow_download and thumbnail_kind(file.content_type) in ("image", "pdf")


def serve_preview(request, share, file: File):
    """The preview route: the rendition on a preview-only link, else the file inline."""
    if not preview_is_rendition(share, file):
        return serve_file(request, share, file, inline=True)
    _require_servable(file)
    response = thumbnail_response(request, file=file, size=PREVIEW_SIZE)
    if response is None:
        raise Http404  # no rendition (yet, or the renderer could not make one): no preview
    return response


def serve_folder_zip(request, share, folder):
    """A folder (the shared one or a subfolder) as a streamed ZIP of its ready files."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    _add_folder(archive, folder)
    response = zip_response(request, archive=archive, name=folder.name)
    return count_zip(request, share, response, name=f"{folder.name}.zip")


def _add_folder(archive, folder) -> None:
    _add_entries(archive, *folder_zip_entries(folder))


def _add_entries(archive, files, empty) -> None:
    for entry in empty:
        archive.mkdir(entry)
    for entry, file in files:
        # Only what processing (scanning) has cleared leaves through a public link.
        if servable(file):
            archive.add(_lazy_content(file), entry, size=file.size)


def count_zip(request, share, response, *, name: str):
    """Count and log a ZIP download. A HEAD (headers only, see `files.zips.zip_response`) is
    not a download: it is neither counted nor logged."""
    if request.method == "HEAD" or response.status_code != 200:
        return response
    if not services.share_count_download(share=share):
        # Nothing was opened yet (entries open storage when the stream reaches them), and
        # response.close() would signal the end of the request in the middle of it.
        raise ShareGone(
            _("This link has reached its download limit."), code=ErrorCode.DOWNLOAD_LIMIT_REACHED
        )
    access = services.share_access_start(
        share=share,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        file=None,
        name=name,
        is_zip=True,
        counted=True,
        range_start=0,
    )
    return _metered(response, access.pk)


def _lazy_content(file: File):
    # A generator: storage is opened only when the archive reaches this entry.
    yield from iter_content(file.blob)


SELECTION_MAX = 1000  # items of one selection ZIP (a URL holds ~150 within gunicorn's limit)


class SelectionTooLarge(ShareDenied):
    status = 400

    def __init__(self):
        super().__init__(
            _("Select at most %(max)s files and folders at once, or download the whole folder.")
            % {"max": f"{SELECTION_MAX:,}"}
        )


def serve_selection_zip(request, share, selection: list[str] | None):
    """Some files and folders of a folder share, as one streamed ZIP (each id checked); with
    `selection` None, everything a selection share holds (its "Download all").

    A constant number of queries however many items (`selectors.share_selection_get`, then one
    for the files of the folders among them); at most SELECTION_MAX items.
    """
    if selection is None:
        items, tree = selectors.share_selection_all(share)
    else:
        if len(selection) > SELECTION_MAX:
            raise SelectionTooLarge()
        items, tree = selectors.share_selection_get(share, selection)
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    used: set[str] = set()
    tops: list[tuple[Folder, list[str]]] = []
    for item in items:
        if isinstance(item, Folder):
            tops.append((item, [item.name]))
        elif servable(item):
            # Only what processing (scanning) has cleared leaves through a public link.
            entry = unique_entry(zip_entry_name([item.name]), used)
            archive.add(_lazy_content(item), entry, size=item.size)
    _add_entries(archive, *trees_zip_entries(tops, descendants=tree, used=used))
    name = selectors.share_title(share)
    response = zip_response(request, archive=archive, name=name)
    return count_zip(request, share, response, name=f"{name} (selection).zip")

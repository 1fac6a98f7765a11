"""A folder as a ZIP archive, streamed while it is built.

Entries are stored (no compression: most of what people keep is already compressed, and storing
keeps the archive's length computable so the response carries Content-Length); ZIP64 records
appear as soon as an entry or the archive needs them. No copy of the archive exists anywhere:
each entry's content is decrypted from storage only when the stream reaches it.
"""

import hashlib
import re
from collections.abc import Iterator

from django.http import HttpResponse, StreamingHttpResponse
from zipstream import ZIP_STORED, ZipStream

from files.models import File, Folder
from files.responses import content_disposition
from files.selectors import folder_descendants
from locker import metrics
from storage.reader import iter_content

_DRIVE = re.compile(r"^([A-Za-z]):")

# A ZIP entry name is at most 65,535 bytes (a 16-bit length). Names are kept under that with
# room for what `unique_entry` and folder entries append (" (12)", "/").
ZIP_NAME_MAX = 65_535
_NAME_ROOM = ZIP_NAME_MAX - 64
_LAST_ROOM = 1024  # the file's own name (255 bytes at most, see files.names) always survives


def zip_entry_name(parts: list[str]) -> str:
    """A safe relative entry name: no `..`, no leading `/`, no `\\`, no drive letter."""
    clean: list[str] = []
    for part in parts:
        part = part.replace("\\", "_").replace("/", "_").replace("\x00", "_")
        if part in ("", ".", ".."):
            part = "_"
        clean.append(part)
    name = "/".join(clean)
    return _DRIVE.sub(r"\1_", name)


def _lazy_content(file: File) -> Iterator[bytes]:
    # A generator: storage is opened only when the archive reaches this entry.
    yield from iter_content(file.blob)


def _tree_paths(
    top: Folder, parts: list[str], children_of: dict[int, list[Folder]], rank: dict[int, int]
) -> tuple[dict[int, list[str]], set[int]]:
    """The path (`parts`, then names) of `top` and every folder below it, walked level by level
    (each level by name), and which of them have a subfolder."""
    names: dict[int, list[str]] = {top.pk: parts}
    has_children: set[int] = set()
    frontier = [top.pk]
    while frontier:
        children = sorted(
            (child for pk in frontier for child in children_of.get(pk, ())),
            key=lambda child: rank[child.pk],
        )
        for child in children:
            names[child.pk] = [*names[child.parent_id], child.name]
            has_children.add(child.parent_id)
        frontier = [child.pk for child in children]
    return names, has_children


def trees_zip_entries(
    tops: list[tuple[Folder, list[str]]], *, descendants: list[Folder], used: set[str]
) -> tuple[list[tuple[str, File]], list[str]]:
    """(files with their entry names, empty folder entry names) of the live trees under `tops`.

    Each top comes with its own path: `[]` puts its content at the root of the archive (the top
    itself has no entry), `["name"]` inside a folder `name/` (an entry of its own when empty).
    `descendants` holds every live folder below the tops (`folder_descendants` of a folder above
    them all), so the whole selection costs one more query, for the files, however many tops.
    Names are made unique (case-insensitively) against `used`, which records them.
    """
    children_of: dict[int, list[Folder]] = {}
    rank: dict[int, int] = {}
    for position, child in enumerate(descendants):
        children_of.setdefault(child.parent_id, []).append(child)
        rank[child.pk] = position
    trees = [_tree_paths(top, parts, children_of, rank) for top, parts in tops]
    if not trees:
        return [], []
    folder_ids = set().union(*(names for names, _has_children in trees))
    files_in: dict[int, list[File]] = {}
    for file in (
        File.objects.alive()
        .filter(folder_id__in=list(folder_ids))
        .exclude(state=File.State.INFECTED)
        .select_related("blob")
        .order_by("folder_id", "name_key", "pk")
    ):
        files_in.setdefault(file.folder_id, []).append(file)
    files: list[tuple[str, File]] = []
    empty: list[str] = []
    for names, has_children in trees:
        for folder_id in sorted(names):
            for file in files_in.get(folder_id, ()):
                entry = unique_entry(zip_entry_name([*names[folder_id], file.name]), used)
                files.append((entry, file))
        empty += [
            unique_entry(zip_entry_name(path), used) + "/"
            for pk, path in names.items()
            if path and pk not in has_children and pk not in files_in
        ]
    return files, empty


def folder_zip_entries(folder: Folder) -> tuple[list[tuple[str, File]], list[str]]:
    """(files with their entry names, empty folder entry names) for the live tree in `folder`.
    Two queries whatever its size and depth: the tree, then its files."""
    return trees_zip_entries([(folder, [])], descendants=folder_descendants(folder), used=set())


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def fit_entry(entry: str) -> str:
    """`entry` when it fits a ZIP name; else its folders shortened, decided before streaming.

    A deep tree can make a path longer than the ZIP format allows (65,535 bytes in UTF-8),
    which used to break the archive mid-stream. Such an entry keeps its leading folders while
    they fit, then one folder named `… <digest of its whole folder path>`, then its own name:
    the entries of one deep folder stay together, and those of different folders stay apart.
    """
    if len(entry.encode("utf-8")) <= _NAME_ROOM:
        return entry
    *folders, last = entry.split("/")
    last = _truncate_utf8(last, _LAST_ROOM) or "_"
    marker = "… " + hashlib.sha256("/".join(folders).encode("utf-8")).hexdigest()[:16]
    budget = _NAME_ROOM - _LAST_ROOM - len(marker.encode("utf-8")) - 2
    kept: list[str] = []
    for part in folders:
        budget -= len(part.encode("utf-8")) + 1
        if budget < 0:
            break
        kept.append(part)
    return "/".join([*kept, marker, last])


def unique_entry(entry: str, used: set[str]) -> str:
    """`entry` (shortened by `fit_entry` if too long), or `name (1).ext`, `name (2).ext`… when
    taken (case-insensitively); records it."""
    entry = fit_entry(entry)
    candidate, counter = entry, 1
    while candidate.lower() in used:
        stem, dot, ext = entry.rpartition(".")
        candidate = f"{stem} ({counter}).{ext}" if dot and stem else f"{entry} ({counter})"
        counter += 1
    used.add(candidate.lower())
    return candidate


def zip_response(request, *, archive: ZipStream, name: str) -> HttpResponse:
    """The response for a sized archive, named `<name>.zip`.

    A HEAD gets the headers only, Content-Length included (computed from the entries' sizes):
    the archive is never iterated, so no stored object is opened or decrypted. (Returning the
    streaming response made WSGI servers, which do not all drop a body on HEAD, build and
    decrypt the whole archive for nothing.)
    """
    if request.method == "HEAD":
        response = HttpResponse(content_type="application/zip")
    else:
        response = StreamingHttpResponse(
            metrics.CountedStream(archive, "zip"), content_type="application/zip"
        )
    response["Content-Length"] = str(len(archive))
    response["Content-Disposition"] = content_disposition("attachment", f"{name or 'files'}.zip")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


def folder_zip_response(request, *, folder: Folder) -> HttpResponse:
    """Stream `folder` (obtained through the access check) as `<name>.zip`."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    files, empty_folders = folder_zip_entries(folder)
    for entry in empty_folders:
        archive.mkdir(entry)
    for entry, file in files:
        archive.add(_lazy_content(file), entry, size=file.size)
    return zip_response(request, archive=archive, name=folder.name)

"""Reads of the sharing app: whether a link's target is alive, what a folder share shows, and
the owner's links. Whether a request may use a link at all is `sharing.access`.
"""

import uuid

from django.db.models import QuerySet
from django.http import Http404

from files.models import File, Folder
from files.selectors import folder_ancestors, folder_descendants
from locker import network
from sharing import tokens
from sharing.models import Link, ShareAccess, ShareLink, UploadLink


def client_ip(request) -> str:
    """The client's address for the access log (throttles count by `network.client_network`)."""
    return network.client_ip(request) or network.UNKNOWN


# --- The target's liveness -------------------------------------------------------------------


def _chain_alive(chain: list[Folder], *, within: Folder | None) -> bool:
    """`chain` (root first, from `folder_ancestors`) reaches a root, holds no trashed folder,
    and, with `within`, passes through it."""
    if not chain or chain[0].parent_id is not None:
        return False
    if any(folder.deleted_at is not None for folder in chain):
        return False
    return within is None or any(folder.pk == within.pk for folder in chain)


def folder_is_alive(folder: Folder, *, within: Folder | None = None) -> bool:
    """True when neither `folder` nor any folder above it is trashed (one query, any depth).

    With `within`, also False when `folder` is not `within` or one of its descendants.
    """
    return _chain_alive(folder_ancestors(folder_id=folder.pk), within=within)


def file_is_alive(file: File, *, within: Folder | None = None) -> bool:
    if file.deleted_at is not None:
        return False
    return _chain_alive(folder_ancestors(folder_id=file.folder_id), within=within)


def share_target_alive(share: ShareLink) -> bool:
    if share.file_id:
        return file_is_alive(share.file)
    return folder_is_alive(share.folder)


# --- Inside a folder share -------------------------------------------------------------------


def share_folder_get(share: ShareLink, opaque: str | None) -> Folder:
    """A folder inside a folder share, by its opaque id (None: the shared folder). Else 404."""
    if share.folder_id is None:
        raise Http404
    if not opaque:
        return share.folder
    public_id = tokens.opaque_id_resolve(share.token_hash, opaque)
    folder = (
        Folder.objects.filter(public_id=public_id, owner_id=share.owner_id).first()
        if public_id
        else None
    )
    if folder is None or not folder_is_alive(folder, within=share.folder):
        raise Http404
    return folder


def share_file_get(share: ShareLink, opaque: str) -> File:
    """A file inside a folder share, by its opaque id; 404 for anything outside it."""
    if share.folder_id is None:
        raise Http404
    public_id = tokens.opaque_id_resolve(share.token_hash, opaque)
    file = (
        File.objects.select_related("folder", "blob")
        .filter(public_id=public_id, owner_id=share.owner_id)
        .first()
        if public_id
        else None
    )
    if file is None or not file_is_alive(file, within=share.folder):
        raise Http404
    return file


def share_selection_get(
    share: ShareLink, opaques: list[str]
) -> tuple[list[File | Folder], list[Folder]]:
    """The files and folders of a folder share that `opaques` name (in their order, each once),
    with every live folder below the shared folder (for the ZIP of the folders among them).

    Http404 when one of them is not a live file or folder inside the share. Two queries however
    many items (the tree below the shared folder, then the files named), where asking
    `share_file_get` and `share_folder_get` item by item cost two or four each.
    """
    if share.folder_id is None:
        raise Http404
    public_ids = [tokens.opaque_id_resolve(share.token_hash, opaque) for opaque in opaques]
    if None in public_ids:
        raise Http404
    public_ids = list(dict.fromkeys(public_ids))
    tree = folder_descendants(share.folder)  # live folders only, never through a trashed one
    folders = {folder.public_id: folder for folder in [share.folder, *tree]}
    wanted = [public_id for public_id in public_ids if public_id not in folders]
    inside = {folder.pk for folder in folders.values()}
    files: dict[uuid.UUID, File] = {}
    if wanted:
        for file in (
            File.objects.alive()
            .select_related("blob")
            .filter(public_id__in=wanted, owner_id=share.owner_id)
        ):
            if file.folder_id in inside:
                files[file.public_id] = file
    items = [files.get(public_id) or folders.get(public_id) for public_id in public_ids]
    if None in items:
        raise Http404
    return items, tree


def share_folder_listing(share: ShareLink, folder: Folder) -> tuple[list[Folder], list[File]]:
    folders = list(Folder.objects.alive().filter(parent=folder).order_by("name_key"))
    files = list(File.objects.alive().filter(folder=folder).order_by("name_key"))
    return folders, files


def share_opaque_id(share: ShareLink, item: File | Folder) -> str:
    return tokens.opaque_id(share.token_hash, item.public_id)


def share_breadcrumbs(share: ShareLink, folder: Folder) -> list[Folder]:
    """Folders from the shared folder down to `folder` (never above the shared folder)."""
    chain = folder_ancestors(folder_id=folder.pk)
    top = next((i for i, f in enumerate(chain) if f.pk == share.folder_id), None)
    return chain[top:] if top is not None else [folder]


# --- Owner-side reads --------------------------------------------------------------------------


def link_get_for_user(*, links: QuerySet, public_id) -> Link:
    """One of the owner's links (`links` is already scoped to them) by its public id; else 404."""
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404 from None
    link = links.filter(public_id=public_id).first()
    if link is None:
        raise Http404
    return link


def share_list_for_user(*, user):
    return ShareLink.objects.filter(owner=user).select_related("file", "folder")


def share_get_for_user(*, user, public_id) -> ShareLink:
    return link_get_for_user(links=share_list_for_user(user=user), public_id=public_id)


def share_accesses(*, share: ShareLink):
    return ShareAccess.objects.filter(share=share).order_by("-at")


def upload_link_list_for_user(*, user):
    return UploadLink.objects.filter(owner=user).select_related("folder")


def upload_link_get_for_user(*, user, public_id) -> UploadLink:
    return link_get_for_user(links=upload_link_list_for_user(user=user), public_id=public_id)

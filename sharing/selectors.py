"""Reads of the sharing app: whether a link's target is alive, what a folder share shows, and
the owner's links. Whether a request may use a link at all is `sharing.access`.
"""

import uuid
from dataclasses import dataclass

from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Value
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from files.models import File, Folder
from files.selectors import (
    confined_subtree,
    folder_ancestors,
    folder_descendants,
    folders_alive,
    folders_subtrees,
)
from sharing import tokens
from sharing.models import Link, ShareAccess, ShareLink, ShareLinkItem, UploadLink

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
    """What `file_is_alive` / `folder_is_alive` say of the link's target, by the same one
    query as a page of links (`folders_alive`): it answers in the database, where the ancestry
    would build a model instance per folder above the target on every visit of the link."""
    if share.file_id:
        if share.file.deleted_at is not None:
            return False
        folder_id = share.file.folder_id
    else:
        folder_id = share.folder_id
    return folder_id in folders_alive(folder_ids=[folder_id])


def shares_target_alive(shares) -> None:
    """Set `target_alive` on each of `shares` (their file and folder loaded with them) in one
    query for all of them: what `share_target_alive` says of each, for a page of links."""
    chains = {
        share.pk: share.file.folder_id if share.file_id else share.folder_id for share in shares
    }
    alive = folders_alive(folder_ids=chains.values())
    for share in shares:
        target_trashed = share.file_id and share.file.deleted_at is not None
        share.target_alive = not target_trashed and chains[share.pk] in alive


# --- Selection shares --------------------------------------------------------------------------
#
# A selection share (`ShareLink.is_selection`) is a folder share narrowed to some of the items
# directly in its folder (ShareLinkItem): its top page lists only them, and anything else is
# reachable only below one of its selected folders. Every check below adds one query per request
# at most (the items, read once per share object), however many items the link holds.


@dataclass(frozen=True)
class SelectionScope:
    files: frozenset[int]
    folders: frozenset[int]


def share_scope(share: ShareLink) -> SelectionScope | None:
    """The items of a selection share (one query, once per share object); None for others."""
    if not share.is_selection:
        return None
    scope = share.__dict__.get("_selection_scope")
    if scope is None:
        items = ShareLinkItem.objects.filter(share_id=share.pk)
        rows = list(items.values_list("file_id", "folder_id"))
        scope = share.__dict__["_selection_scope"] = SelectionScope(
            files=frozenset(file_id for file_id, _ in rows if file_id),
            folders=frozenset(folder_id for _, folder_id in rows if folder_id),
        )
    return scope


def _in_scope(share: ShareLink, chain: list[Folder]) -> bool:
    """Whether a folder whose ancestry (root first, through the shared folder) is `chain` is
    one of the selected folders or below one: for any other share, always."""
    scope = share_scope(share)
    if scope is None:
        return True
    top = next((i for i, folder in enumerate(chain) if folder.pk == share.folder_id), None)
    return top is not None and top + 1 < len(chain) and chain[top + 1].pk in scope.folders


def share_title(share: ShareLink) -> str:
    """What a share page calls the shared thing: the label of a selection share, else
    "N items" (no query: the page asked for its scope already); a file or folder's name."""
    scope = share_scope(share)
    if scope is None:
        return share.target.name
    if share.label:
        return share.label
    count = len(scope.files) + len(scope.folders)
    return ngettext("%(n)s item", "%(n)s items", count) % {"n": count}


# --- Inside a folder share -------------------------------------------------------------------


def share_folder_get(share: ShareLink, opaque: str | None) -> Folder:
    """A folder inside a folder share, by its opaque id (None: the shared folder). Else 404."""
    if share.folder_id is None:
        raise Http404
    if not opaque:
        return share.folder
    public_id = share_opaque_ids(share).resolve(opaque)
    folder = (
        Folder.objects.filter(public_id=public_id, owner_id=share.owner_id).first()
        if public_id
        else None
    )
    if folder is None:
        raise Http404
    chain = folder_ancestors(folder_id=folder.pk)
    if not _chain_alive(chain, within=share.folder) or not _in_scope(share, chain):
        raise Http404
    return folder


def share_file_get(share: ShareLink, opaque: str) -> File:
    """A file inside a folder share, by its opaque id; 404 for anything outside it."""
    if share.folder_id is None:
        raise Http404
    public_id = share_opaque_ids(share).resolve(opaque)
    file = (
        File.objects.select_related("folder", "blob")
        .filter(public_id=public_id, owner_id=share.owner_id)
        .first()
        if public_id
        else None
    )
    if file is None or file.deleted_at is not None:
        raise Http404
    chain = folder_ancestors(folder_id=file.folder_id)
    if not _chain_alive(chain, within=share.folder):
        raise Http404
    scope = share_scope(share)
    if scope is not None and file.folder_id == share.folder_id:
        if file.pk not in scope.files:
            raise Http404
    elif not _in_scope(share, chain):
        raise Http404
    return file


def _selection_tree(share: ShareLink, scope: SelectionScope) -> list[Folder]:
    """The selected folders still directly in the shared folder, and every live folder below
    them, by name (one query)."""
    rows = folders_subtrees(folder_ids=scope.folders)
    tops = {row.pk for row in rows if row.subtree_level == 0 and row.parent_id == share.folder_id}
    return [row for row in rows if row.subtree_top in tops]


def share_selection_all(share: ShareLink) -> tuple[list[File | Folder], list[Folder]]:
    """Everything a selection share holds at its top (its "Download all"), with the tree below
    its folders: three queries however many items (the scope, the tree, the files)."""
    scope = share_scope(share)
    tree = _selection_tree(share, scope)
    files = list(
        File.objects.alive()
        .select_related("blob")
        .filter(pk__in=list(scope.files), folder_id=share.folder_id)
        .order_by("name_key", "pk")
    )
    tops = [folder for folder in tree if folder.subtree_level == 0]
    return [*tops, *files], tree


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
    public_ids = [share_opaque_ids(share).resolve(opaque) for opaque in opaques]
    if None in public_ids:
        raise Http404
    public_ids = list(dict.fromkeys(public_ids))
    scope = share_scope(share)
    if scope is not None:
        # Only the selected items and what is below the selected folders.
        tree = _selection_tree(share, scope)
        folders = {folder.public_id: folder for folder in tree}
    else:
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
            # A selected file counts only where it was picked (moved out, it leaves the share).
            selected = (
                scope is not None and file.pk in scope.files and file.folder_id == share.folder_id
            )
            if file.folder_id in inside or selected:
                files[file.public_id] = file
    items = [files.get(public_id) or folders.get(public_id) for public_id in public_ids]
    if None in items:
        raise Http404
    return items, tree


# A folder share's page lists its subfolders, then its files, each by name, SHARE_PAGE_SIZE at a
# time. Pages are keyset pages: a page starts after (or ends before) the item named by its
# cursor, in the order (kind, name_key, public_id), so every page costs the same two queries
# (one per table, each an index range with a LIMIT) however far into the folder it is. An
# offset would make the database walk every item before the page.
SHARE_PAGE_SIZE = 100
_FOLDER, _FILE = 0, 1
_KIND_LETTERS = {_FOLDER: "d", _FILE: "f"}


@dataclass(frozen=True)
class ListingCursor:
    """Where a page of a folder share starts or ends: an item, by kind, name and id."""

    kind: int
    name_key: str
    public_id: uuid.UUID


@dataclass(frozen=True)
class ListingPage:
    folders: list[Folder]
    files: list[File]
    next: ListingCursor | None  # the page after starts after this item
    previous: ListingCursor | None  # the page before ends before this item


def share_cursor_encode(share: ShareLink, cursor: ListingCursor) -> str:
    """The cursor as it goes in a URL: kind letter, the item's opaque id, its name key (a name
    the page shows anyway; the real id never leaves)."""
    opaque = share_opaque_ids(share).encode(cursor.public_id)
    return _KIND_LETTERS[cursor.kind] + opaque + cursor.name_key


def share_cursor_decode(share: ShareLink, text: str | None) -> ListingCursor | None:
    """The cursor of a URL, or None for none or a malformed one (which means the first page)."""
    if not text or len(text) < 23 or len(text) > 23 + 255 or "\x00" in text:
        return None  # (no name holds a NUL, and PostgreSQL refuses one in a parameter)
    kind = {letter: kind for kind, letter in _KIND_LETTERS.items()}.get(text[0])
    public_id = share_opaque_ids(share).resolve(text[1:23])
    if kind is None or public_id is None:
        return None
    return ListingCursor(kind=kind, name_key=text[23:], public_id=public_id)


def _page_side(queryset, *, kind: int, cursor: ListingCursor | None, backwards: bool, size: int):
    """Up to `size` items of one table on one side of `cursor`, nearest first.

    The kind is a constant column, so the comparison with the cursor is the same expression on
    both tables and a page always runs both queries (the database drops a constant-false one
    without reading anything).
    """
    queryset = queryset.annotate(listing_kind=Value(kind, output_field=IntegerField()))
    if cursor is not None:
        op = "lt" if backwards else "gt"
        queryset = queryset.filter(
            Q(**{f"listing_kind__{op}": cursor.kind})
            | Q(listing_kind=cursor.kind, **{f"name_key__{op}": cursor.name_key})
            | Q(
                listing_kind=cursor.kind,
                name_key=cursor.name_key,
                **{f"public_id__{op}": cursor.public_id},
            )
        )
    order = ("-name_key", "-public_id") if backwards else ("name_key", "public_id")
    return list(queryset.order_by(*order)[:size])


def _cursor_of(item: File | Folder) -> ListingCursor:
    kind = _FILE if isinstance(item, File) else _FOLDER
    return ListingCursor(kind=kind, name_key=item.name_key, public_id=item.public_id)


def share_folder_page(
    share: ShareLink,
    folder: Folder,
    *,
    after: ListingCursor | None = None,
    before: ListingCursor | None = None,
    size: int = SHARE_PAGE_SIZE,
) -> ListingPage:
    """One page of `folder` (inside `share`): the first, the one after `after`, or the one
    before `before`. Two queries, whatever the page and the size of the folder."""
    backwards = before is not None and after is None
    cursor = before if backwards else after
    folder_rows = Folder.objects.alive().filter(parent=folder)
    file_rows = File.objects.alive().filter(folder=folder)
    scope = share_scope(share)
    if scope is not None and folder.pk == share.folder_id:
        # The top of a selection share: only its items.
        folder_rows = folder_rows.filter(pk__in=list(scope.folders))
        file_rows = file_rows.filter(pk__in=list(scope.files))
    folders = _page_side(
        folder_rows,
        kind=_FOLDER,
        cursor=cursor,
        backwards=backwards,
        size=size + 1,
    )
    files = _page_side(
        file_rows,
        kind=_FILE,
        cursor=cursor,
        backwards=backwards,
        size=size + 1,
    )
    # Nearest first: forwards folders come before files, backwards files before folders.
    items: list[File | Folder] = [*files, *folders] if backwards else [*folders, *files]
    more = len(items) > size
    items = items[:size]
    if backwards:
        items.reverse()
    first = _cursor_of(items[0]) if items else None
    last = _cursor_of(items[-1]) if items else None
    return ListingPage(
        folders=[item for item in items if isinstance(item, Folder)],
        files=[item for item in items if isinstance(item, File)],
        next=last if (more and not backwards) or (backwards and last) else None,
        previous=first if (more and backwards) or (cursor is not None and not backwards) else None,
    )


def share_opaque_ids(share: ShareLink) -> tokens.OpaqueIds:
    """The share's opaque ids, set up once per share object (so once per request)."""
    ids = share.__dict__.get("_opaque_ids")
    if ids is None or ids.token_hash != share.token_hash:
        ids = share.__dict__["_opaque_ids"] = tokens.opaque_ids_cached(share.token_hash)
    return ids


def share_opaque_id(share: ShareLink, item: File | Folder) -> str:
    return share_opaque_ids(share).encode(item.public_id)


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


# The owner's lists, newest first, ties broken by the id: keyset pages need a unique last column.
LINK_ORDERING = ("-created_at", "-id")


def share_list_for_user(*, user):
    """The user's share links; for a token confined to a folder, only the links whose every
    item lies in that folder's subtree."""
    links = ShareLink.objects.filter(owner=user)
    subtree = confined_subtree(user)
    if subtree is not None:
        inside = Q(file__folder_id__in=subtree) | Q(folder_id__in=subtree)
        outside_items = ShareLinkItem.objects.filter(share=OuterRef("pk")).exclude(
            pk__in=ShareLinkItem.objects.filter(inside).values("pk")
        )
        selection = Q(file__isnull=True, folder__isnull=True) & ~Exists(outside_items)
        links = links.filter(inside | selection)
    return links.select_related("file", "folder").order_by(*LINK_ORDERING)


def share_get_for_user(*, user, public_id) -> ShareLink:
    return link_get_for_user(links=share_list_for_user(user=user), public_id=public_id)


def share_accesses(*, share: ShareLink):
    return ShareAccess.objects.filter(share=share).order_by("-at", "-id")


def upload_link_list_for_user(*, user):
    """The user's upload links; for a confined token, those into its folder's subtree."""
    links = UploadLink.objects.filter(owner=user)
    subtree = confined_subtree(user)
    if subtree is not None:
        links = links.filter(folder_id__in=subtree)
    return links.select_related("folder").order_by(*LINK_ORDERING)


def upload_link_get_for_user(*, user, public_id) -> UploadLink:
    return link_get_for_user(links=upload_link_list_for_user(user=user), public_id=public_id)


def _valid_uuids(ids) -> list[uuid.UUID]:
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return valid


def share_links_describe(ids) -> dict[str, str]:
    """{public id: "share link to report.pdf"} for the audit pages: one query for any number."""
    links = ShareLink.objects.filter(public_id__in=_valid_uuids(ids)).select_related(
        "file", "folder"
    )
    found = {}
    for link in links:
        target = link.file.name if link.file_id else f"{link.folder.name}/"
        found[str(link.public_id)] = _("share link to %(name)s") % {"name": target}
    return found


def upload_links_describe(ids) -> dict[str, str]:
    """{public id: "upload link to Folder X"} for the audit pages: one query for any number."""
    links = UploadLink.objects.filter(public_id__in=_valid_uuids(ids)).select_related("folder")
    return {
        str(link.public_id): _("upload link to %(name)s") % {"name": link.folder.name}
        for link in links
    }

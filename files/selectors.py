"""Reads of the locker. `file_get_for_user` and `folder_get_for_user` are THE access checks:
every way to reach a file or folder by id goes through them, and anything that is not the
caller's answers 404 (never 403), so an id says nothing about other people's lockers."""

import re
import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BigIntegerField,
    CharField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, StrIndex
from django.http import Http404
from django.utils import timezone

from accounts.scopes import CONFINED_ATTRIBUTE
from files.models import File, Folder, UploadReservation
from files.names import name_key
from locker import keyset

FILE_ORDERINGS = {
    "name": ("name_key", "name", "id"),
    "-name": ("-name_key", "-name", "-id"),
    "size": ("size", "name_key", "id"),
    "-size": ("-size", "name_key", "id"),
    "modified_at": ("modified_at", "id"),
    "-modified_at": ("-modified_at", "-id"),
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
}
DEFAULT_FILE_ORDERING = "name"


def _parse_uuid(value) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise Http404 from None


def folder_get_root(user) -> Folder:
    """The user's root folder, created on first use.

    Two requests racing to create it both end up with the same row: the partial unique
    constraint `files_one_root_per_user` lets only one insert win.
    """
    root = Folder.objects.filter(owner=user, parent__isnull=True).first()
    if root is not None:
        return root
    try:
        with transaction.atomic():
            return Folder.objects.create(owner=user, parent=None, name="", name_key="")
    except IntegrityError:
        return Folder.objects.get(owner=user, parent__isnull=True)


# --- Confinement: an API token confined to one folder (accounts.scopes) -----------------------
#
# accounts.authentication marks the user of a confined token's request with the folder's pk
# (`CONFINED_ATTRIBUTE`); every selector below that takes `user` then only finds what lies in
# that folder's subtree, so each way in (API lists, ids, batches, ZIPs, search, trash, tus,
# shares) inherits the rule. The confining folder plays the root's part for such a token: it is
# where "no folder" means, and, like the root, it cannot itself be fetched, renamed, moved,
# deleted or shared by id. One recursive subquery inside the query each selector already makes:
# no extra query per request.


# The folder and every folder below it, trashed ones included (the walk goes by parent_id).
_SUBTREE_SQL = """
WITH RECURSIVE subtree(id) AS (
    SELECT id FROM files_folder WHERE id = %s
    UNION
    SELECT f.id FROM files_folder f JOIN subtree s ON f.parent_id = s.id
)
SELECT id FROM subtree
"""


def confined_folder_id(user) -> int | None:
    """The pk of the folder the request's token is confined to, or None (a session, a token
    that reaches the whole locker, a task)."""
    return getattr(user, CONFINED_ATTRIBUTE, None)


def confined_subtree(user, *, include_top: bool = True):
    """`id IN (…)` operand: the ids of the confining folder's subtree; None when unconfined.
    Without `include_top`, only the folders strictly below it."""
    top = confined_folder_id(user)
    if top is None:
        return None
    if include_top:
        return RawSQL(_SUBTREE_SQL, [top])  # noqa: S611 (a literal; the pk is a parameter)
    return RawSQL(_SUBTREE_SQL + " WHERE id <> %s", [top, top])  # noqa: S611


def _confined_folders(qs: QuerySet, user, *, field: str = "id", include_top: bool = False):
    subtree = confined_subtree(user, include_top=include_top)
    return qs if subtree is None else qs.filter(**{f"{field}__in": subtree})


def _confined_files(qs: QuerySet, user, *, field: str = "folder_id"):
    subtree = confined_subtree(user)
    return qs if subtree is None else qs.filter(**{f"{field}__in": subtree})


def folder_for_token(*, user, folder_id=None, path: str = "") -> Folder:
    """The folder a new API token is confined to, by id or by its path from the top ("Invoices/
    2026", names in any case), or Http404; never the root. A confined caller's own folder and
    what is below it only (paths start there). A query per level of the path."""
    if folder_id not in (None, ""):
        folder = folder_get_for_user_or_root(user=user, folder_id=folder_id)
    else:
        names = [part.strip() for part in path.split("/") if part.strip()]
        if not names:
            raise Http404
        folder = folder_get_for_user_or_root(user=user, folder_id=None)
        for part in names[: SUBTREE_LEVELS + 1]:
            folder = (
                Folder.objects.alive()
                .filter(owner=user, parent=folder, name_key=name_key(part))
                .first()
            )
            if folder is None:
                raise Http404
    if folder.parent_id is None:
        raise Http404
    return folder


def folder_get_for_user(*, user, folder_id, include_trashed: bool = False) -> Folder:
    """A folder of `user` (never the root) by public id, or Http404."""
    if user is None or not user.is_authenticated:
        raise Http404
    qs = _confined_folders(Folder.objects.filter(owner=user, parent__isnull=False), user)
    if not include_trashed:
        qs = qs.alive()
    try:
        return qs.get(public_id=_parse_uuid(folder_id))
    except Folder.DoesNotExist:
        raise Http404 from None


def folder_get_for_user_or_root(*, user, folder_id) -> Folder:
    """`folder_id` None or "" means the root, as everywhere in the API. For a token confined
    to a folder, that folder is its root: None, or the folder's own id, means it."""
    top = confined_folder_id(user)
    if top is not None:
        qs = Folder.objects.alive().filter(owner=user, parent__isnull=False)
        if folder_id in (None, ""):
            found = qs.filter(pk=top).first()
        else:
            found = _confined_folders(qs, user, include_top=True)
            found = found.filter(public_id=_parse_uuid(folder_id)).first()
        if found is None:
            raise Http404
        return found
    if folder_id in (None, ""):
        return folder_get_root(user)
    return folder_get_for_user(user=user, folder_id=folder_id)


def file_get_for_user(*, user, file_id, include_trashed: bool = False) -> File:
    """A file of `user` by public id, or Http404."""
    if user is None or not user.is_authenticated:
        raise Http404
    qs = File.objects.filter(owner=user).select_related("blob", "folder")
    qs = _confined_files(qs, user)
    if not include_trashed:
        qs = qs.alive()
    try:
        return qs.get(public_id=_parse_uuid(file_id))
    except File.DoesNotExist:
        raise Http404 from None


def item_named(*, user, folder: Folder | None, name: str) -> File | Folder | None:
    """The live file or folder of `user` that holds `name` (any case) in `folder`: what a name
    conflict met. None when it is gone meanwhile (or the folder is not the user's)."""
    if folder is None or user is None or folder.owner_id != user.pk:
        return None
    key = name_key(name)
    file = File.objects.alive().filter(folder=folder, name_key=key).first()
    if file is not None:
        return file
    return Folder.objects.alive().filter(parent=folder, name_key=key).first()


def _owned_by(user) -> Q:
    """Items of `user`, with the id sent as a bigint, the type of `owner_id`.

    A plain integer reaches PostgreSQL as an int4 literal, and btree_gin cannot use the owner
    column of the search index (files.0013) for an int8 = int4 comparison: a big user's search
    for a common word then read every user's matches. (A second `owner=user` condition must
    not stay beside it: the planner keeps the int4 one.)
    """
    return Q(owner_id=Cast(Value(user.pk), output_field=BigIntegerField()))


# Three letters or digits in a row: what pg_trgm needs to find a trigram in a LIKE pattern.
_TRIGRAM_RUN = re.compile(r"[^\W_]{3}")


def _name_search(qs: QuerySet, search: str) -> QuerySet:
    """Names whose case-folded form contains `search`'s (the key is case-folded already, so no
    `icontains`, whose `UPPER()` no index holds), among live rows: served by files.0013's
    indexes (docs/architecture.md, "Name search").

    A term with a trigram is `name_key LIKE '%…%'` (its `%`, `_` and `\\` escaped by Django),
    which the trigram GIN index answers when the term is rare. A term without one (`q`, `zz`,
    `a.b`, `%`) is `strpos(name_key, term) > 0` instead: the same test, but one the GIN index
    cannot take, since for it the index would read every entry of the column (1 s for a 200,000
    file user at 1 M files); the planner walks the owner's btree in name order instead.
    """
    key = name_key(search)
    if _TRIGRAM_RUN.search(key):
        return qs.filter(name_key__contains=key)
    return qs.alias(name_at=StrIndex("name_key", Value(key))).filter(name_at__gt=0)


def folder_list(*, user, parent: Folder, search: str = "") -> QuerySet[Folder]:
    qs = Folder.objects.alive().filter(_owned_by(user), parent__isnull=False)
    # A search looks through the whole locker (a confined token's subtree); otherwise one
    # folder's children.
    qs = _confined_folders(_name_search(qs, search), user) if search else qs.filter(parent=parent)
    return qs.select_related("parent").order_by("name_key", "name", "id")


def file_list(
    *, user, folder: Folder | None, search: str = "", ordering: str = DEFAULT_FILE_ORDERING
) -> QuerySet[File]:
    """Files in `folder`, or, with `search`, files whose name contains it anywhere in the
    user's locker (restricted to `folder` when one is given). Trashed files never appear."""
    qs = File.objects.alive().filter(_owned_by(user)).select_related("folder")
    if search:
        qs = _confined_files(_name_search(qs, search), user)
    if folder is not None:
        qs = qs.filter(folder=folder)
    return qs.order_by(*FILE_ORDERINGS[ordering])


# --- The tree in a constant number of queries ---------------------------------------------------
#
# Ancestry and descent are each ONE recursive query (`WITH RECURSIVE`, the same SQL on SQLite and
# PostgreSQL) over `parent_id`, whatever the depth: `parent_id` stays the only truth about the
# tree, so there is no denormalised path to keep in step under concurrent moves. Walks upwards
# use UNION, which drops rows already seen, so even a cycle (which the services never make)
# ends. The table name is a literal: it never comes from input.

_ANCESTRY_SQL = """
WITH RECURSIVE chain(id, parent_id) AS (
    SELECT id, parent_id FROM files_folder WHERE id = %s
    UNION
    SELECT f.id, f.parent_id FROM files_folder f JOIN chain c ON f.id = c.parent_id
)
SELECT * FROM files_folder WHERE id IN (SELECT id FROM chain)
"""

_DEPTH_SQL = """
WITH RECURSIVE chain(id, parent_id) AS (
    SELECT id, parent_id FROM files_folder WHERE id = %s
    UNION
    SELECT f.id, f.parent_id FROM files_folder f JOIN chain c ON f.id = c.parent_id
)
SELECT COUNT(*) FROM chain
"""

_DESCENDANTS_SQL = """
WITH RECURSIVE below(id) AS (
    SELECT id FROM files_folder WHERE parent_id = %s {alive}
    UNION
    SELECT f.id FROM files_folder f JOIN below b ON f.parent_id = b.id {alive_f}
)
SELECT {columns} FROM files_folder WHERE id IN (SELECT id FROM below)
"""

# Levels below a folder, counting the folders that are alive or that come back with it from
# the trash; `lvl < %s` bounds the walk (we only need to know whether it passes the cap).
_HEIGHT_SQL = """
WITH RECURSIVE below(id, lvl) AS (
    SELECT id, 0 FROM files_folder WHERE id = %s
    UNION ALL
    SELECT f.id, b.lvl + 1 FROM files_folder f JOIN below b ON f.parent_id = b.id
    WHERE b.lvl < %s AND (f.deleted_at IS NULL OR f.trash_root_id = %s)
)
SELECT MAX(lvl) FROM below
"""


def folder_ancestors(*, folder_id: int) -> list[Folder]:
    """The folder `folder_id` and every folder above it, from the root down (one query).

    Empty when there is no such folder. A chain that does not reach a root (a cycle) stops where
    it repeats.
    """
    by_id = {folder.pk: folder for folder in Folder.objects.raw(_ANCESTRY_SQL, [folder_id])}
    chain: list[Folder] = []
    current = by_id.pop(folder_id, None)
    while current is not None:
        chain.append(current)
        current = by_id.pop(current.parent_id, None) if current.parent_id else None
    chain.reverse()
    return chain


# The chains of many folders at once: each row remembers the folder it started from. A chain is
# alive when it reaches a root and holds no trashed folder (what `sharing.selectors.
# folder_is_alive` asks of one chain), so a page of links learns whether each target is alive
# in this one query rather than one per link.
_CHAINS_ALIVE_SQL = """
WITH RECURSIVE chain(start, id, parent_id, trashed) AS (
    SELECT id, id, parent_id, CASE WHEN deleted_at IS NULL THEN 0 ELSE 1 END
    FROM files_folder WHERE id IN ({placeholders})
    UNION
    SELECT c.start, f.id, f.parent_id, CASE WHEN f.deleted_at IS NULL THEN 0 ELSE 1 END
    {step}
)
SELECT start FROM chain GROUP BY start
HAVING MAX(trashed) = 0 AND SUM(CASE WHEN parent_id IS NULL THEN 1 ELSE 0 END) > 0
"""
# One step up from each row of the chain. PostgreSQL guesses the work table at ten times the
# starting rows, so for a page of links it planned each step as a hash join over a sequential
# scan of every folder (20 ms per page at 3,000 folders, once per level); a LATERAL subquery with
# LIMIT 1 cannot be flattened into a join, so each step is one primary-key lookup per row
# (0.3 ms). SQLite has no LATERAL; its planner takes the primary key for the plain join anyway.
_CHAINS_STEP = {
    "postgresql": "FROM chain c CROSS JOIN LATERAL (SELECT id, parent_id, deleted_at"
    " FROM files_folder WHERE id = c.parent_id LIMIT 1) f",
}
_CHAINS_STEP_DEFAULT = "FROM files_folder f JOIN chain c ON f.id = c.parent_id"


def folders_alive(*, folder_ids) -> set[int]:
    """Which of `folder_ids` are alive: neither they nor any folder above them is trashed, and
    their chain reaches a root. One query for all of them, whatever their number and depth."""
    ids = sorted({int(pk) for pk in folder_ids})
    if not ids:
        return set()
    sql = _CHAINS_ALIVE_SQL.format(
        placeholders=", ".join(["%s"] * len(ids)),
        step=_CHAINS_STEP.get(connection.vendor, _CHAINS_STEP_DEFAULT),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        return {start for (start,) in cursor.fetchall()}


def folder_depth(*, folder_id: int) -> int:
    """How many levels below the root `folder_id` is (the root is 0, a top folder 1)."""
    with connection.cursor() as cursor:
        cursor.execute(_DEPTH_SQL, [folder_id])
        (count,) = cursor.fetchone()
    return max(count - 1, 0)


def folder_subtree_height(*, folder: Folder, limit: int) -> int:
    """How many levels of folders are below `folder` (0: no subfolder), counting only those
    alive or trashed with it; never more than `limit` (the walk stops there)."""
    with connection.cursor() as cursor:
        cursor.execute(_HEIGHT_SQL, [folder.pk, limit, folder.pk])
        (height,) = cursor.fetchone()
    return height or 0


def folder_breadcrumbs(folder: Folder) -> list[Folder]:
    """The folders from the top level down to `folder` itself (the root is not included)."""
    return [f for f in folder_ancestors(folder_id=folder.pk) if f.parent_id is not None]


def _descendants_sql(*, alive_only: bool, columns: str) -> str:
    return _DESCENDANTS_SQL.format(
        alive="AND deleted_at IS NULL" if alive_only else "",
        alive_f="WHERE f.deleted_at IS NULL" if alive_only else "",
        columns=columns,
    )


def folder_descendant_ids(folder: Folder, *, alive_only: bool = False) -> list[int]:
    """Primary keys of every folder below `folder` (not including it), in one query.

    With `alive_only`, the walk does not go through trashed folders.
    """
    with connection.cursor() as cursor:
        cursor.execute(_descendants_sql(alive_only=alive_only, columns="id"), [folder.pk])
        return [pk for (pk,) in cursor.fetchall() if pk != folder.pk]


def folder_descendants(folder: Folder) -> list[Folder]:
    """Every live folder below `folder` (not through trashed ones), in one query, by name."""
    sql = _descendants_sql(alive_only=True, columns="*") + " ORDER BY name_key, id"
    return [f for f in Folder.objects.raw(sql, [folder.pk]) if f.pk != folder.pk]


# The live subtrees of many folders at once, each row tagged with the top it was reached from
# and its level below it; `lvl < %s` bounds the walk (UNION ALL would loop on a cycle, which the
# services never make, and a tree is at most LOCKER_MAX_FOLDER_DEPTH high anyway).
_SUBTREES_SQL = """
WITH RECURSIVE below(top, id, lvl) AS (
    SELECT id, id, 0 FROM files_folder WHERE id IN ({placeholders}) AND deleted_at IS NULL
    UNION ALL
    SELECT b.top, f.id, b.lvl + 1 FROM files_folder f JOIN below b ON f.parent_id = b.id
    WHERE f.deleted_at IS NULL AND b.lvl < %s
)
SELECT f.*, b.top AS subtree_top, b.lvl AS subtree_level
FROM below b JOIN files_folder f ON f.id = b.id
ORDER BY f.name_key, f.id
"""


# The highest LOCKER_MAX_FOLDER_DEPTH can be (locker/settings.py): a tree made under a higher
# cap than today's is still walked whole, and a cycle would still end.
SUBTREE_LEVELS = 1000


def folders_subtrees(*, folder_ids) -> list[Folder]:
    """Every live folder in the subtrees of `folder_ids` (the tops included, at level 0), by
    name, each with `subtree_top` (the pk of the top it is under) and `subtree_level`. A folder
    under two of the tops (one inside the other) comes once per top. One query, however many
    tops and however deep (at most SUBTREE_LEVELS levels down)."""
    ids = sorted({int(pk) for pk in folder_ids})
    if not ids:
        return []
    sql = _SUBTREES_SQL.format(placeholders=", ".join(["%s"] * len(ids)))
    return list(Folder.objects.raw(sql, [*ids, SUBTREE_LEVELS]))


@dataclass(frozen=True)
class Selection:
    """Files and folders of one user, picked together (the Files page's selection)."""

    files: list[File]
    folders: list[Folder]

    def __len__(self) -> int:
        return len(self.files) + len(self.folders)


def selection_get_for_user(*, user, file_ids, folder_ids) -> Selection:
    """The live files and folders of `user` named by public ids, in the order given, each once:
    the access check of batch actions, the same as `file_get_for_user` and
    `folder_get_for_user` item by item. If ONE of them is not a live item of the caller's (an
    unknown id, someone else's, trashed, the root), the whole selection is Http404. Two queries
    however many items."""
    if user is None or not user.is_authenticated:
        raise Http404
    file_ids = list(dict.fromkeys(_parse_uuid(value) for value in file_ids))
    folder_ids = list(dict.fromkeys(_parse_uuid(value) for value in folder_ids))
    files: dict[uuid.UUID, File] = {}
    folders: dict[uuid.UUID, Folder] = {}
    if file_ids:
        files = {
            file.public_id: file
            for file in _confined_files(
                File.objects.alive().filter(owner=user, public_id__in=file_ids), user
            ).select_related("blob")
        }
    if folder_ids:
        folders = {
            folder.public_id: folder
            for folder in _confined_folders(
                Folder.objects.alive().filter(
                    owner=user, parent__isnull=False, public_id__in=folder_ids
                ),
                user,
            )
        }
    if len(files) != len(file_ids) or len(folders) != len(folder_ids):
        raise Http404
    return Selection(
        files=[files[pk] for pk in file_ids], folders=[folders[pk] for pk in folder_ids]
    )


@dataclass(frozen=True)
class TrashItem:
    type: str  # "file" or "folder"
    id: uuid.UUID
    name: str
    deleted_at: datetime
    size: int
    # The folder it was in (a file's folder, a folder's parent), and its path (`trash_located`).
    parent_id: int | None = None
    location: str | None = None


# The trash's order: newest first; among items deleted at the same moment, by id (descending),
# then kind, so that (kind, id) makes each row unique. Every column is NOT NULL in the trash.
TRASH_ORDERING = ("-item_deleted_at", "-item_id", "item_type")


class TrashListing:
    """The user's trash as one query (files and folders, `UNION ALL`), newest first, cut in the
    database: a numbered page is a count and a LIMIT/OFFSET (`count`, slicing), a keyset page
    (`keyset_page`) puts the seek condition into both halves of the union, so each reads from
    its index from the cursor on, and the union is cut with a LIMIT."""

    keyset_name = "trash:" + ",".join(TRASH_ORDERING)

    def __init__(self, files: QuerySet, folders: QuerySet):
        self.files = files
        self.folders = folders

    @property
    def rows(self) -> QuerySet:
        return self.files.union(self.folders, all=True).order_by(*TRASH_ORDERING)

    def count(self) -> int:
        return self.rows.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [TrashItem(*row) for row in self.rows[index]]
        return TrashItem(*self.rows[index])

    def keyset_page(self, position: keyset.Position | None, *, limit: int) -> list[TrashItem]:
        files, folders, ordering = self.files, self.folders, TRASH_ORDERING
        if position is not None:
            condition = keyset.seek_condition(TRASH_ORDERING, position)
            files, folders = files.filter(condition), folders.filter(condition)
            if position.backwards:
                ordering = keyset.reversed_ordering(TRASH_ORDERING)
        union = files.union(folders, all=True).order_by(*ordering)
        rows = [TrashItem(*row) for row in union[:limit]]
        if position is not None and position.backwards:
            rows.reverse()
        return rows

    @staticmethod
    def keyset_values(item: TrashItem) -> tuple:
        return (item.deleted_at, item.id, item.type)


def _trash_columns(queryset: QuerySet, *, kind: str, size, parent) -> QuerySet:
    # Every column an annotation, so both halves of the union name them alike and in order.
    return queryset.annotate(
        item_type=Value(kind, output_field=CharField()),
        item_id=F("public_id"),
        item_name=F("name"),
        item_deleted_at=F("deleted_at"),
        item_size=size,
        item_parent=parent,
    ).values_list(
        "item_type", "item_id", "item_name", "item_deleted_at", "item_size", "item_parent"
    )


def trash_list(*, user) -> TrashListing:
    """The items the user deleted (not the things inside deleted folders), newest first; a
    folder's size is that of the files deleted with it."""
    files = _trash_columns(
        _confined_files(File.objects.trashed().filter(owner=user, trashed_as_root=True), user),
        kind="file",
        size=F("size"),
        parent=F("folder_id"),
    )
    deleted_with = (
        File.objects.filter(trash_root=OuterRef("pk"))
        .order_by()
        .values("trash_root")
        .annotate(total=Sum("size"))
        .values("total")
    )
    folders = _trash_columns(
        _confined_folders(Folder.objects.trashed().filter(owner=user, trashed_as_root=True), user),
        kind="folder",
        size=Coalesce(Subquery(deleted_with), Value(0), output_field=BigIntegerField()),
        parent=F("parent_id"),
    )
    return TrashListing(files, folders)


# Every folder above any of the given ones (and they themselves), in one walk upwards.
_ANCESTRY_MANY_SQL = """
WITH RECURSIVE chain(id, parent_id) AS (
    SELECT id, parent_id FROM files_folder WHERE id IN ({placeholders})
    UNION
    SELECT f.id, f.parent_id FROM files_folder f JOIN chain c ON f.id = c.parent_id
)
SELECT id, parent_id, name FROM files_folder WHERE id IN (SELECT id FROM chain)
"""


def folder_paths(*, folder_ids, top: int | None = None) -> dict[int, str]:
    """The path of each folder from the top level down ("/Photos/2024"; "/" for a root), in one
    query however many folders and however deep: the folders they were in are shown beside
    trash items this way. A folder in the trash keeps its place in the tree, so its path is
    where it was. With `top` (a confined token's folder), paths start below that folder, as if
    it were the root."""
    ids = sorted({int(pk) for pk in folder_ids if pk is not None})
    if not ids:
        return {}
    sql = _ANCESTRY_MANY_SQL.format(placeholders=", ".join(["%s"] * len(ids)))
    with connection.cursor() as cursor:
        cursor.execute(sql, ids)
        rows = {pk: (parent_id, name) for pk, parent_id, name in cursor.fetchall()}
    paths: dict[int, str] = {}
    for start in ids:
        names: list[str] = []
        seen: set[int] = set()
        current = start
        while current in rows and current not in seen:
            seen.add(current)
            parent_id, name = rows[current]
            if parent_id is None or current == top:
                break  # the root ("My files") is not part of a path
            names.append(name)
            current = parent_id
        paths[start] = "/" + "/".join(reversed(names))
    return paths


def trash_located(items: list[TrashItem], *, top: int | None = None) -> list[TrashItem]:
    """A page of trash items with the path of the folder each was in (one more query); from
    below `top` (folder_paths)."""
    paths = folder_paths(folder_ids=[item.parent_id for item in items], top=top)
    return [replace(item, location=paths.get(item.parent_id)) for item in items]


def trash_item_get_for_user(*, user, item_id) -> File | Folder:
    """A top-level trashed file or folder of `user`, or Http404."""
    if user is None or not user.is_authenticated:
        raise Http404
    public_id = _parse_uuid(item_id)
    file = _confined_files(
        File.objects.trashed().filter(owner=user, trashed_as_root=True, public_id=public_id),
        user,
    )
    found = file.first()
    if found is not None:
        return found
    folder = _confined_folders(
        Folder.objects.trashed().filter(
            owner=user, trashed_as_root=True, public_id=public_id, parent__isnull=False
        ),
        user,
    )
    found_folder = folder.first()
    if found_folder is None:
        raise Http404
    return found_folder


# --- uploads in progress ---------------------------------------------------------------------


def uploads_in_progress(*, user, link=None) -> QuerySet:
    """The user's uploads in progress that count against their quota now: their own form and
    tus uploads and those coming through their upload links (`link` narrows to one), oldest
    first, with what the owner's list shows (two joins, one query)."""
    rows = UploadReservation.objects.live().filter(owner=user)
    if link is not None:
        rows = rows.filter(link=link)
    return rows.select_related("link", "tus_upload").order_by("created_at", "pk")


def uploads_in_progress_count() -> int:
    """How many uploads are in progress across the instance now (for /metrics): reservations
    whose lease lives, one COUNT on the indexed `expires_at`. (Unlike `live()`, a reservation
    of a revoked link counts until its lease lapses: no join for a gauge.)"""
    return UploadReservation.objects.filter(expires_at__gt=timezone.now()).count()


def upload_link_get_for_owner(*, user, public_id):
    """One of the user's upload links, by public id, or 404: the model uploads in progress
    point at (`UploadReservation.link`), found through that relation so that the files app
    imports nothing of the sharing app, which owns it."""
    link_model = UploadReservation._meta.get_field("link").related_model
    link = link_model.objects.filter(owner=user, public_id=public_id).first()
    if link is None:
        raise Http404
    return link


def upload_in_progress_get(*, user, public_id) -> UploadReservation:
    """One of the user's uploads in progress (even one whose lease lapsed), or 404."""
    reservation = (
        UploadReservation.objects.filter(owner=user, public_id=_parse_uuid(public_id))
        .select_related("link", "tus_upload")
        .first()
    )
    if reservation is None:
        raise Http404
    return reservation

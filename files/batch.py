"""Acting on several files and folders at once: the Files page's selection and
`POST /api/v1/files/batch/` (docs/files.md, "Batch actions").

Every action is all or nothing: it checks every item first, then changes all of them in one
transaction, or refuses the whole batch with the reason of the first item that fails. The
number of queries does not grow with the number of items: the items are fetched together
(`selectors.selection_get_for_user`), the folders' subtrees are walked in one recursive query
(`selectors.folders_subtrees`) and the rows are changed by a few set-wise UPDATEs.

An item inside a selected folder (which only an API client can send) goes with that folder when
deleted or downloaded; a move of both is refused, since its meaning would be unclear.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, F, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _
from zipstream import ZIP_STORED, ZipStream

from accounts.audit import A, audit_many
from files.models import File, Folder
from files.names import name_key
from files.selectors import Selection, folder_ancestors, folders_subtrees
from files.services import (
    InvalidMove,
    NameConflict,
    _already_there,
    _lock_folder,
    _lock_tree,
    _taken_keys,
    _too_deep,
)
from files.zips import _lazy_content, trees_zip_entries, unique_entry, zip_entry_name, zip_response


class BatchTooLarge(Exception):
    def __init__(self):
        super().__init__(
            _("Select at most %(max)s files and folders at once.")
            % {"max": f"{settings.LOCKER_BATCH_MAX_ITEMS:,}"}
        )


def batch_check_size(count: int) -> None:
    """Refuse a batch of more than LOCKER_BATCH_MAX_ITEMS items, before any of them is read."""
    if count > settings.LOCKER_BATCH_MAX_ITEMS:
        raise BatchTooLarge()


class _Subtrees:
    """The selected folders' live subtrees (one query), and which items are inside another."""

    def __init__(self, selection: Selection):
        tops = {folder.pk for folder in selection.folders}
        self.rows = folders_subtrees(folder_ids=tops)
        # A selected folder reached from another selected folder is inside it.
        self.inner_tops = {
            row.pk for row in self.rows if row.pk in tops and row.subtree_top != row.pk
        }
        self.outer_tops = tops - self.inner_tops
        self.top_of: dict[int, int] = {
            row.pk: row.subtree_top for row in self.rows if row.subtree_top in self.outer_tops
        }
        self.height: dict[int, int] = {}
        for row in self.rows:
            top = row.subtree_top
            self.height[top] = max(self.height.get(top, 0), row.subtree_level)

    def outer_folders(self, selection: Selection) -> list[Folder]:
        return [folder for folder in selection.folders if folder.pk in self.outer_tops]

    def outer_files(self, selection: Selection) -> list[File]:
        """The selected files not inside a selected folder."""
        return [file for file in selection.files if file.folder_id not in self.top_of]

    def descendants(self) -> list[Folder]:
        """Every live folder below the outer tops (not the tops), by name."""
        return [
            row for row in self.rows if row.subtree_top in self.outer_tops and row.subtree_level > 0
        ]


def _per_top(field: str, groups: dict[int, list[int]]) -> Case:
    """`trash_root_id` for each row: the top whose subtree holds it (one CASE, one UPDATE)."""
    return Case(
        *[When(**{f"{field}__in": ids}, then=Value(top)) for top, ids in groups.items()],
        default=None,
        output_field=BigIntegerField(),
    )


def items_trash(*, user, selection: Selection) -> int:
    """Move the selected items to the trash, each one its own trash item (a folder with
    everything alive below it, as `services.folder_trash` does). Returns how many items."""
    now = timezone.now()
    with transaction.atomic():
        # No folder can be moved into a subtree between finding it and trashing it.
        _lock_tree(user.pk)
        trees = _Subtrees(selection)
        folders = trees.outer_folders(selection)
        files = trees.outer_files(selection)
        groups: dict[int, list[int]] = {}
        for pk, top in trees.top_of.items():
            groups.setdefault(top, []).append(pk)
        below = [pk for pk, top in trees.top_of.items() if pk != top]
        if folders:
            Folder.objects.filter(pk__in=list(trees.outer_tops), deleted_at__isnull=True).update(
                deleted_at=now, trash_root_id=F("pk"), trashed_as_root=True
            )
        if below:
            Folder.objects.filter(pk__in=below).update(
                deleted_at=now, trash_root_id=_per_top("pk", groups), trashed_as_root=False
            )
        if groups:
            File.objects.alive().filter(folder_id__in=list(trees.top_of)).update(
                deleted_at=now, trash_root_id=_per_top("folder_id", groups), trashed_as_root=False
            )
        if files:
            File.objects.filter(pk__in=[file.pk for file in files], deleted_at__isnull=True).update(
                deleted_at=now, trash_root=None, trashed_as_root=True
            )
        audit_many(A.FILE_DELETED, targets=[*folders, *files], from_request=True)
    return len(folders) + len(files)


def items_move(*, user, selection: Selection, target: Folder) -> int:
    """Move the selected items into `target`, all or none: refused when `target` is one of the
    selected folders or inside one, when an item is inside another selected folder or already
    in `target`, when a folder would end up deeper than LOCKER_MAX_FOLDER_DEPTH, and (409) when
    a name is taken in `target` or two items have the same name."""
    if target.owner_id != user.pk:
        raise InvalidMove(_("The target folder does not exist."))
    now = timezone.now()
    with transaction.atomic():
        _lock_tree(user.pk)
        _lock_folder(target)
        chain = folder_ancestors(folder_id=target.pk)
        selected = {folder.pk for folder in selection.folders}
        if any(folder.pk in selected for folder in chain):
            raise InvalidMove(_("A folder cannot be moved into itself or one of its subfolders."))
        trees = _Subtrees(selection)
        inside = trees.inner_tops or {f.pk for f in selection.files if f.folder_id in trees.top_of}
        if inside:
            raise InvalidMove(
                _("Some of the selected items are inside a selected folder; select either.")
            )
        for item in [*selection.folders, *selection.files]:
            parent_id = item.parent_id if isinstance(item, Folder) else item.folder_id
            if parent_id == target.pk:
                raise _already_there(item.name)
        if selection.folders:
            depth = len(chain) + max(trees.height.get(pk, 0) for pk in selected)
            if depth > settings.LOCKER_MAX_FOLDER_DEPTH:
                raise _too_deep(depth)
        taken = _taken_keys(target)
        for item in [*selection.folders, *selection.files]:
            if item.name_key in taken:
                raise NameConflict(item.name, folder=target)
            taken.add(item.name_key)
        try:
            with transaction.atomic():
                if selection.folders:
                    Folder.objects.filter(pk__in=list(selected)).update(
                        parent=target, modified_at=now
                    )
                if selection.files:
                    File.objects.filter(pk__in=[f.pk for f in selection.files]).update(
                        folder=target, modified_at=now
                    )
        except IntegrityError:
            # A name taken by a request that slipped past the folder lock.
            raise NameConflict(selection.files[0].name if selection.files else "") from None
    return len(selection)


def selection_zip_response(request, *, selection: Selection, name: str):
    """The selected items as one ZIP, streamed like a folder's (`files.zips`): selected files
    at the top of the archive, each selected folder as a folder of it with its live tree.
    Infected files are left out. Three queries however many items: the items, the subtrees,
    their files."""
    trees = _Subtrees(selection)
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    used: set[str] = set()
    for file in sorted(trees.outer_files(selection), key=lambda f: (f.name_key, f.pk)):
        if file.state != File.State.INFECTED:
            entry = unique_entry(zip_entry_name([file.name]), used)
            archive.add(_lazy_content(file), entry, size=file.size)
    folders = sorted(trees.outer_folders(selection), key=lambda f: (name_key(f.name), f.pk))
    files, empty = trees_zip_entries(
        [(folder, [folder.name]) for folder in folders],
        descendants=trees.descendants(),
        used=used,
    )
    for entry in empty:
        archive.mkdir(entry)
    for entry, file in files:
        archive.add(_lazy_content(file), entry, size=file.size)
    return zip_response(request, archive=archive, name=name)


def selection_common_parent(selection: Selection) -> int | None:
    """The pk of the folder every selected item is directly in, or None when they differ."""
    parents = {f.parent_id for f in selection.folders} | {f.folder_id for f in selection.files}
    return parents.pop() if len(parents) == 1 else None

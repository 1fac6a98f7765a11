"""What the webhook events about files say of a file (docs/webhooks.md)."""

from files.models import File, Folder


def folder_event_data(folder: Folder) -> dict:
    return {
        "id": str(folder.public_id),
        "name": "" if folder.parent_id is None else folder.name,
        "is_root": folder.parent_id is None,
    }


def file_event_data(file: File, *, folder: Folder | None = None) -> dict:
    """The file as webhook events carry it; `folder` when the caller has it (saves a query)."""
    folder = folder if folder is not None and folder.pk == file.folder_id else file.folder
    return {
        "file": {
            "id": str(file.public_id),
            "name": file.name,
            "size": file.size,
            "content_type": file.content_type,
            "sha256": file.sha256,
            "state": file.state,
            "folder": folder_event_data(folder),
        }
    }

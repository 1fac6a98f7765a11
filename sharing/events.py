"""What the webhook events about links say of a link (docs/webhooks.md)."""

from files.events import file_event_data, folder_event_data
from sharing.models import ShareLink, UploadLink


def share_event_data(share: ShareLink) -> dict:
    return {
        "share": {
            "id": str(share.public_id),
            "label": share.label,
            "file": file_event_data(share.file)["file"] if share.file_id else None,
            "folder": folder_event_data(share.folder) if share.folder_id else None,
            "created_at": share.created_at,
            "expires_at": share.expires_at,
            "revoked_at": share.revoked_at,
            "download_count": share.download_count,
            "max_downloads": share.max_downloads,
        }
    }


def upload_link_event_data(link: UploadLink) -> dict:
    return {
        "upload_link": {
            "id": str(link.public_id),
            "label": link.label,
            "folder": folder_event_data(link.folder),
            "files_count": link.files_count,
            "max_files": link.max_files,
        }
    }

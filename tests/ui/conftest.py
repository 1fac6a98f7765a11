"""A locker with something on every page, and helpers the UI browser tests share.

`populated` gives a staff user (so the audit log is reachable) with files, folders, share links
of a file and of a folder, an upload link, an API token and audit events, and the paths of every
main page: the owner's, the public ones and the error pages.
"""

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from accounts.services import api_token_create
from files.models import Folder
from sharing.services import share_create, share_revoke
from sharing.upload_links import upload_link_create
from tests.sharing.conftest import make_folder, store_file

# axe-core from the npm registry, pinned in tests/tus/js/package.json (installed by `make
# install` and .ci/run with `npm ci`).
AXE = (
    Path(__file__).resolve().parents[1] / "tus" / "js" / "node_modules" / "axe-core" / "axe.min.js"
)

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass
class Populated:
    user: object
    owner_pages: dict[str, str] = field(default_factory=dict)
    public_pages: dict[str, str] = field(default_factory=dict)
    error_pages: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def populated(staff) -> Populated:
    user = staff
    reports = make_folder(user, "Quarterly reports")
    inbox = make_folder(user, "Inbox for the accountants")
    pdf = store_file(user, "report.pdf", b"%PDF-1.4 not really\n" * 400, folder=reports)
    store_file(user, "notes-" + "long" * 20 + ".txt", b"some notes\n" * 2000)
    store_file(user, "budget.csv", b"a,b\n1,2\n" * 3000, folder=reports)
    file_share, file_token = share_create(owner=user, file=pdf)
    folder_share, folder_token = share_create(owner=user, folder=reports, label="for the board")
    gone, gone_token = share_create(owner=user, file=pdf)
    share_revoke(share=gone)
    upload, upload_token = upload_link_create(owner=user, folder=inbox, max_files=3)
    api_token_create(user=user, name="backup script")
    populated = Populated(user=user)
    populated.owner_pages = {
        "files": "/",
        "folder": f"/folders/{reports.public_id}/",
        "search": "/search/?q=report",
        "trash": "/trash/",
        "shares": "/shares/",
        "share detail": f"/shares/{file_share.public_id}/",
        "upload link detail": f"/shares/uploads/{upload.public_id}/",
        "tokens": "/accounts/tokens/",
        "profile": "/accounts/profile/",
        "two-factor": "/accounts/2fa/",
        "activity": "/accounts/activity/",
        "audit": "/accounts/audit/",
        "invite": "/accounts/invite/",
        "two-factor setup": "/accounts/2fa/setup/",
        "new share link": f"/shares/new?file={pdf.public_id}",
        "new upload link": f"/shares/uploads/new?folder={inbox.public_id}",
        "quick send": "/shares/send",
    }
    populated.public_pages = {
        "log-in": "/accounts/login/",
        "public file share": f"/s/{file_token}",
        "public folder share": f"/s/{folder_token}",
        "upload-link page": f"/r/{upload_token}",
        "revoked share (410)": f"/s/{gone_token}",
        "not found (404)": "/no-such-page/",
    }
    assert Folder.objects.filter(owner=user).count() >= 3
    return populated

"""Attacks on the features merged with selection shares, copy-link-again and show-once pages:
what a link's recipient or someone reading the database learns beyond what they were given."""

import json
import re

import pytest
from django.core import mail

from sharing.models import ShareLink, UploadLink
from sharing.services import share_selection_create
from sharing.tokens import token_unseal
from tests.security.conftest import make_folder, store_file

pytestmark = pytest.mark.django_db


def test_a_selection_share_sent_by_email_does_not_name_the_folder_its_page_hides(
    alice, alice_api, client, django_capture_on_commit_callbacks, eager_celery
):
    """A selection share's page calls it by its label (or "N items"), never by the folder the
    items were picked in: that folder's other items and its name are not shared. The e-mail
    the owner sends from the Share dialog named that folder in its subject and body."""
    folder = make_folder(alice, "Layoffs 2027 confidential")
    chosen = store_file(alice, "agenda.txt", b"agenda", folder=folder)
    also = make_folder(alice, "slides", parent=folder)
    store_file(alice, "not-shared.txt", b"private", folder=folder)
    share, token = share_selection_create(
        owner=alice, files=[chosen], folders=[also], label="Team meeting"
    )
    page = client.get(f"/s/{token}")
    assert page.status_code == 200 and "Layoffs" not in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        sent = alice_api.post(
            f"/api/v1/shares/{share.public_id}/email/",
            {"recipients": ["bob@example.com"]},
            format="json",
        )
    assert sent.status_code == 202
    (email,) = mail.outbox
    html = email.alternatives[0][0]
    for part in (email.subject, email.body, html):
        assert "Layoffs" not in part
        assert "Team meeting" in part
    assert f"/s/{token}" in email.body


def _session_store_text() -> str:
    """Everything the session table holds, as a database dump would show it (and decoded)."""
    from django.contrib.sessions.models import Session

    return "".join(
        row.session_data + json.dumps(row.get_decoded()) for row in Session.objects.all()
    )


@pytest.mark.parametrize("kind", ["share", "upload"])
def test_a_new_link_waiting_to_be_shown_once_is_not_in_the_session_table_in_clear(
    client, alice, report, kind
):
    """Link tokens are kept only sealed under the master key, so that a database dump opens no
    link (docs/encryption.md). The page that shows a new link once took it from the session,
    where it sat in clear from the form's POST until that page was opened, and for good (as
    long as the session) when the browser never followed the redirect."""
    client.force_login(alice)
    if kind == "share":
        response = client.post(
            f"/shares/new?file={report.public_id}", {"expires_in": "1d", "allow_download": "on"}
        )
        link = ShareLink.objects.get()
    else:
        folder = make_folder(alice, "inbox")
        response = client.post(
            f"/shares/uploads/new?folder={folder.public_id}", {"expires_in": "1d"}
        )
        link = UploadLink.objects.get()
    assert response.status_code == 302
    token = token_unseal(link)
    assert token and token not in _session_store_text()
    # The owner still sees the new link once.
    shown = client.get(response["Location"])
    assert shown.status_code == 200 and f"/{link.url_prefix}/{token}" in shown.content.decode()


def test_a_new_api_token_waiting_to_be_shown_once_is_not_in_the_session_table_in_clear(
    client, alice
):
    """API tokens are stored as SHA-256 only; the one the tokens page shows once sat in clear
    in the session row until the page was opened again."""
    client.force_login(alice)
    client.post(
        "/accounts/reauthenticate/", {"password": "alice-password-1", "next": "/accounts/tokens/"}
    )
    response = client.post(
        "/accounts/tokens/", {"name": "laptop", "expires_in_days": "", "scopes": "*"}
    )
    assert response.status_code == 302
    text = _session_store_text()
    assert not re.search(r"lk_[A-Za-z0-9_-]{20,}", text)
    shown = client.get("/accounts/tokens/").content.decode()
    secret = re.search(r"lk_[A-Za-z0-9_-]{20,}", shown).group(0)
    assert secret not in text

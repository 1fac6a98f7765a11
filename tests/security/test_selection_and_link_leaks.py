"""Attacks on the features merged with selection shares, copy-link-again and show-once pages:
what a link's recipient or someone reading the database learns beyond what they were given."""

import pytest
from django.core import mail

from sharing.services import share_selection_create
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

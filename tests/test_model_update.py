"""locker.services.model_update: the edit helper every app's `*_update` services use."""

import pytest
from django.core.exceptions import ValidationError

from locker.services import model_update
from sharing.models import UploadLink
from sharing.upload_links import upload_link_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def link(alice, alice_root):
    link, _token = upload_link_create(owner=alice, folder=alice_root, label="first", max_files=3)
    return link


def test_model_update_writes_only_what_changed_so_a_concurrent_edit_survives(link):
    # Someone else changes the message meanwhile; this edit of the label must not undo it.
    UploadLink.objects.filter(pk=link.pk).update(message="theirs")
    assert model_update(instance=link, data={"label": "second", "max_files": 3}) is True
    link.refresh_from_db()
    assert (link.label, link.message, link.max_files) == ("second", "theirs", 3)


def test_model_update_without_a_change_writes_nothing(link, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert model_update(instance=link, data={"label": "first", "max_files": 3}) is False


def test_model_update_validates_before_saving(link):
    with pytest.raises(ValidationError) as caught:
        model_update(instance=link, data={"label": "x" * 201})
    assert "label" in caught.value.message_dict
    link.refresh_from_db()
    assert link.label == "first"


def test_model_update_refuses_a_name_that_is_not_a_field(link):
    with pytest.raises(ValueError, match="lable"):
        model_update(instance=link, data={"lable": "typo"})

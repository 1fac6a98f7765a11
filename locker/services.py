"""Service helpers every app may use."""

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models


def model_update(*, instance: models.Model, data: Mapping[str, Any]) -> bool:
    """Set the fields named in `data` on `instance` and save those whose value changed.

    The instance is validated (`full_clean`) before it is saved, and only the changed columns
    are written (`save(update_fields=…)`), so a concurrent edit of other fields is not undone.
    Returns whether anything changed (nothing is saved or validated otherwise). Each name must
    be a concrete field of the model: a typo fails loudly instead of setting a stray attribute.
    """
    concrete = {field.name for field in instance._meta.concrete_fields}
    changed = []
    for name, value in data.items():
        if name not in concrete:
            raise ValueError(f"{type(instance).__name__} has no field {name!r} to update.")
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    if changed:
        instance.full_clean()
        instance.save(update_fields=changed)
    return bool(changed)


def temp_files_delete_stale(*, older_than: float = 3600, now: float | None = None) -> int:
    """Delete files in FILE_UPLOAD_TEMP_DIR last modified more than `older_than` seconds ago;
    returns how many.

    Nothing in Locker writes there any more (locker.parsers refuses file parts outside the
    streaming upload endpoints), but an older version did, and a process killed while Django
    spooled a request left its plaintext file behind forever. A live request's file is younger
    than `older_than` (it is written to as the request streams), so it is spared.
    """
    directory = Path(settings.FILE_UPLOAD_TEMP_DIR)
    cutoff = (time.time() if now is None else now) - older_than
    deleted = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False) or entry.stat().st_mtime > cutoff:
                continue
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        deleted += 1
    return deleted

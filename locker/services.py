"""Service helpers every app may use."""

from collections.abc import Mapping
from typing import Any

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

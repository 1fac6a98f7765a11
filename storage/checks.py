"""System checks of the storage engine, registered in StorageConfig.ready().

The ids keep the prefix they had when the engine lived in the files app.
"""

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from storage.masterkeys import parse_master_keys


def check_master_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """files.E001: LOCKER_MASTER_KEYS must parse."""
    try:
        parse_master_keys(settings.LOCKER_MASTER_KEYS)
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="files.E001")]
    return []

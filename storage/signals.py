"""Signals the storage engine sends, for apps it must not import (the audit log is accounts')."""

from django.dispatch import Signal

# Sent by `manage.py rotatekeys` after a rotation run, failed or not: newest_id (the master key
# now wrapping data keys) and result (storage.masterkeys.RotationResult).
master_keys_rotated = Signal()

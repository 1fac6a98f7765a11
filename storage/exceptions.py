"""What reading or attaching stored content raises (the backends' own errors are in
storage/backends/base.py, an unknown master key's in storage/masterkeys.py)."""


class CorruptContent(Exception):
    """Stored content is tampered with, truncated, missing or cannot be decrypted."""


class ContentGone(Exception):
    """A complete blob was reclaimed as unreferenced before the row that uses it took it (only
    when attaching it took longer than LOCKER_ORPHAN_GRACE_HOURS)."""

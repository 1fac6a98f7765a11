from django.core.management.base import BaseCommand

from storage.tasks import cleanup_orphaned_objects


class Command(BaseCommand):
    help = (
        "Delete complete blobs that no file, thumbnail or upload references (rows and objects: "
        "what a process killed mid-upload leaves), then stored objects that no row references "
        "(found by listing the storage); both older than LOCKER_ORPHAN_GRACE_HOURS. Safe to "
        "run twice at once."
    )

    def handle(self, *args, **options):
        result = cleanup_orphaned_objects()
        self.stdout.write(
            "Unreferenced blobs removed: {blobs}; orphaned objects removed: {objects}.".format(
                **result
            )
        )

from django.core.management.base import BaseCommand

from files.services import orphaned_objects_cleanup


class Command(BaseCommand):
    help = (
        "Delete stored objects that no row references and that are older than "
        "LOCKER_ORPHAN_GRACE_HOURS (found by listing the storage). Safe to run twice at once."
    )

    def handle(self, *args, **options):
        removed = orphaned_objects_cleanup()
        self.stdout.write(f"Orphaned objects removed: {removed}.")

from django.core.management.base import BaseCommand

from files.services import trash_purge_expired


class Command(BaseCommand):
    help = "Delete for good what has been in the trash longer than LOCKER_TRASH_DAYS."

    def handle(self, *args, **options):
        deleted = trash_purge_expired()
        self.stdout.write(f"Purged {deleted} file(s) from the trash.")

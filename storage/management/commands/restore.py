from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from storage.backup import BackupError
from storage.dbsnapshot import DatabaseToolError
from storage.restore import backup_restore


class Command(BaseCommand):
    help = (
        "Restore the backup in DIR (made by 'manage.py backup') into this instance, which must "
        "be empty (a fresh data dir or an empty database) unless --force. The whole backup is "
        "verified before anything changes. Stop the web, worker and beat processes first."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="The backup directory (it holds manifest.json).")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace the database of an instance that is not empty.",
        )

    def handle(self, *args, directory, force, **options):
        try:
            result = backup_restore(directory=Path(directory), force=force, log=self.stdout.write)
        except (BackupError, DatabaseToolError) as exc:
            raise CommandError(str(exc)) from None
        for name in result.keys_installed:
            self.stdout.write(f"Installed the backup's {name} into the data dir.")
        for note in result.notes:
            self.stdout.write(self.style.WARNING(note))
        if result.unapplied_migrations:
            self.stdout.write(
                self.style.WARNING(
                    f"This version of Locker has {result.unapplied_migrations} migrations the "
                    "backup does not: run 'python manage.py migrate' before starting it."
                )
            )
        self.stdout.write(self.style.SUCCESS("Restore complete."))

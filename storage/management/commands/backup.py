from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from storage.backup import BackupError, backup_create
from storage.dbsnapshot import DatabaseToolError


class Command(BaseCommand):
    help = (
        "Back up this instance into DIR (new or empty): a consistent snapshot of the database "
        "(SQLite's online backup, or pg_dump), the stored objects when storage is local (on S3 "
        "they stay in the bucket), and a manifest with checksums. The master keys are left out "
        'unless --include-keys. See docs/operations.md, "Backup and restore".'
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", help="A new or empty directory for the backup.")
        parser.add_argument(
            "--include-keys",
            action="store_true",
            help=(
                "Also write the master keys and SECRET_KEY into the backup. Anyone holding the "
                "backup can then decrypt every file: keep it as safe as the keys themselves."
            ),
        )

    def handle(self, *args, directory, include_keys, **options):
        try:
            manifest = backup_create(
                directory=Path(directory), include_keys=include_keys, log=self.stdout.write
            )
        except (BackupError, DatabaseToolError) as exc:
            raise CommandError(str(exc)) from None
        storage = manifest["storage"]
        where = (
            f"{storage['objects']} objects ({storage['bytes']} bytes) copied"
            if storage["objects_copied"]
            else f"{storage['objects']} objects checked in bucket {storage['bucket']!r}, where "
            "they stay: protect them with bucket versioning or replication"
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written to {Path(directory).absolute()}: {manifest['database']['engine']} "
                f"database, {where}."
            )
        )
        key_ids = ", ".join(manifest["keys"]["master_key_ids"]) or "none in use yet"
        if include_keys:
            self.stdout.write(
                self.style.WARNING(
                    "The master keys and SECRET_KEY are IN this backup (--include-keys): whoever "
                    "holds it can decrypt every file. Store it encrypted, or apart from copies "
                    "without keys."
                )
            )
        else:
            self.stdout.write(
                self.style.WARNING(
                    "The master keys are NOT in this backup, on purpose: keys kept next to the "
                    "data defeat encryption at rest. Restoring it needs the master keys "
                    f"({key_ids}; LOCKER_MASTER_KEYS or the data dir's master.key) and "
                    "SECRET_KEY: keep them somewhere else, and safe. --include-keys puts them in."
                )
            )

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from files.tasks import cleanup_partial_uploads


class Command(BaseCommand):
    help = (
        "Reclaim what crashed or abandoned uploads left: blobs still being written whose "
        "upload's lease lapsed, quota reservations that no longer count, and unfinished tus "
        "uploads that expired or received no bytes for --hours, and request bodies older than "
        "an hour left in the temporary directory. Uploads receiving bytes now are never "
        "touched. Safe to run twice at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--hours",
            type=float,
            default=None,
            help=(
                "Reclaim unfinished uploads idle for longer than this many hours (default: "
                f"LOCKER_PARTIAL_UPLOAD_HOURS, now {settings.LOCKER_PARTIAL_UPLOAD_HOURS}); 0 "
                "reclaims every one not being written."
            ),
        )

    def handle(self, *args, **options):
        hours = options["hours"]
        if hours is not None and hours < 0:
            raise CommandError("--hours must be 0 or more.")
        result = cleanup_partial_uploads(hours)
        self.stdout.write(
            "Abandoned blobs removed: {blobs}; reservations removed: {reservations}; "
            "stale temporary files removed: {temp_files}.".format(**result)
        )

from django.core.management.base import BaseCommand

from files.tasks import cleanup_partial_uploads


class Command(BaseCommand):
    help = (
        "Reclaim abandoned partial uploads older than LOCKER_PARTIAL_UPLOAD_HOURS (blobs still "
        "being written, expired quota reservations). Safe to run twice at once."
    )

    def handle(self, *args, **options):
        result = cleanup_partial_uploads()
        self.stdout.write(
            "Abandoned blobs removed: {blobs}; reservations removed: {reservations}.".format(
                **result
            )
        )

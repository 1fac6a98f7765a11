from django.core.management.base import BaseCommand

from files.tasks import requeue_pending


class Command(BaseCommand):
    help = (
        "Queue again files still pending after LOCKER_REQUEUE_PENDING_AFTER (their task was "
        "lost). Safe to run twice: processing a file twice changes nothing."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Queued {requeue_pending()} pending file(s) again.")

from django.core.management.base import BaseCommand

from locker.idempotency import idempotent_requests_prune


class Command(BaseCommand):
    help = (
        "Delete the Idempotency-Key answers older than LOCKER_IDEMPOTENCY_TTL (what the "
        "periodic task does)."
    )

    def handle(self, *args, **options):
        count = idempotent_requests_prune()
        self.stdout.write(f"Deleted {count} idempotency key(s).")

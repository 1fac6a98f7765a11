from django.core.management.base import BaseCommand

from webhooks.services import deliveries_requeue_due


class Command(BaseCommand):
    help = (
        "Queue the webhook deliveries whose attempt is overdue (their message was lost). Safe "
        "to run twice at once: a delivery queued twice is attempted once."
    )

    def handle(self, *args, **options):
        self.stdout.write(f"Webhook deliveries queued again: {deliveries_requeue_due()}.")

from django.core.management.base import BaseCommand

from accounts.audit import audit_prune


class Command(BaseCommand):
    help = "Delete audit events older than LOCKER_AUDIT_DAYS (what the periodic task does)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Override LOCKER_AUDIT_DAYS.")

    def handle(self, *args, days, **options):
        count = audit_prune(days=days)
        self.stdout.write(f"Deleted {count} audit event(s).")

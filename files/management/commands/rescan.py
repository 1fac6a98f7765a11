from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from files.processing import files_rescan
from files.processing_queue import queue_processing


class Command(BaseCommand):
    help = (
        "Queue files for scanning again. Without options: files still pending or in error "
        "(after a scanner outage). --all: every file (after new signatures); --since DATE: "
        "files uploaded since then. Needs a running worker."
    )

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--all", action="store_true", help="Rescan every file.")
        group.add_argument("--since", help="Rescan files uploaded since this date (YYYY-MM-DD).")

    def handle(self, *args, **options):
        since = None
        if options["since"]:
            since = parse_datetime(options["since"])
            if since is None:
                day = parse_date(options["since"])
                if day is None:
                    raise CommandError("--since must be a date such as 2026-01-31.")
                since = datetime.combine(day, time.min)
            if timezone.is_naive(since):
                since = timezone.make_aware(since)
        ids = files_rescan(since=since, everything=options["all"])
        with transaction.atomic():
            queue_processing(ids, rescan=True)
        self.stdout.write(f"Queued {len(ids)} file(s) for scanning.")

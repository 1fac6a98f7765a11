from django.core.management.base import BaseCommand

from sharing.services import shares_cleanup


class Command(BaseCommand):
    help = (
        "Handle dead share links (trash expired quick-send files), prune old access logs and "
        "queue download e-mails that were lost. Safe to run twice at once and to interrupt."
    )

    def handle(self, *args, **options):
        result = shares_cleanup()
        self.stdout.write(
            "Links handled: {links}; quick-send items trashed: {trashed}; "
            "access log entries pruned: {accesses_pruned}; "
            "download e-mails queued again: {notifications_requeued}.".format(**result)
        )

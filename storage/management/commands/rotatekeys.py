from django.core.management.base import BaseCommand, CommandError

from storage.masterkeys import master_keys, rotate_master_keys
from storage.signals import master_keys_rotated


class Command(BaseCommand):
    help = (
        "Re-wrap every stored object's data key under the newest master key in "
        "LOCKER_MASTER_KEYS. Content is not re-encrypted. Safe to interrupt and to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=500, help="Rows read and updated per batch."
        )
        parser.add_argument(
            "--max-batches",
            type=int,
            default=None,
            help="Stop after this many batches (re-run later to continue).",
        )

    def handle(self, *args, batch_size, max_batches, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        newest = master_keys().newest_id
        self.stdout.write(f"Re-wrapping data keys under master key {newest!r}…")
        result = rotate_master_keys(
            batch_size=batch_size,
            max_batches=max_batches,
            log=lambda line: self.stderr.write(line),
        )
        self.stdout.write(
            f"Re-wrapped: {result.rewrapped}. Changed meanwhile (re-run picks them up): "
            f"{result.skipped}. Failed: {result.failed}. "
            f"Still under an older key: {result.remaining}."
        )
        # The audit log records it (accounts.signals).
        master_keys_rotated.send(sender=self.__class__, newest_id=newest, result=result)
        if result.failed:
            raise CommandError(
                f"{result.failed} data key(s) could not be unwrapped: add the missing master "
                "key(s) to LOCKER_MASTER_KEYS (after the newest) and run rotatekeys again."
            )
        if result.done:
            self.stdout.write(
                self.style.SUCCESS(
                    "Every data key is wrapped by the newest master key; older keys may be "
                    "removed from LOCKER_MASTER_KEYS."
                )
            )

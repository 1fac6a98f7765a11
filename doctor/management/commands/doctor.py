from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from doctor.checks import CHECKS, Options, run_checks
from doctor.results import FAIL
from doctor.services import NoUser
from locker.env import parse_size


class Command(BaseCommand):
    help = (
        "Check the running deployment from outside, through LOCKER_BASE_URL: HTTPS and HSTS, "
        "the proxy's body-size limit, buffering and timeouts, the client address Locker sees, "
        "the broker and a worker, the scanner, the S3 bucket's privacy and e-mail. Prints OK, "
        "WARN, FAIL or SKIP per check and what to change; exits 1 when a check fails."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--user",
            help="Upload as this account (default: the first staff account). A temporary API "
            "token is created for it and revoked at the end.",
        )
        parser.add_argument(
            "--upload-size",
            default="16M",
            help="Size of the test upload, e.g. 100M or 1G (default 16M). It is deleted for good.",
        )
        parser.add_argument(
            "--mail-to", default="", help="Send a test e-mail to this address (else skipped)."
        )
        parser.add_argument(
            "--base-url",
            default="",
            help="Check this address instead of LOCKER_BASE_URL (e.g. the proxy from inside).",
        )
        parser.add_argument("--broker-timeout", type=float, default=10.0, help="Seconds (10).")
        parser.add_argument("--scan-timeout", type=float, default=60.0, help="Seconds (60).")
        parser.add_argument(
            "--only",
            action="append",
            choices=list(CHECKS),
            help="Run only this check (repeatable).",
        )

    def handle(self, *args, **options):
        try:
            size = parse_size(options["upload_size"])
        except ValueError:
            raise CommandError(
                f"--upload-size must be a size such as 16M or 1G, not {options['upload_size']!r}."
            ) from None
        if size < 1:
            raise CommandError("--upload-size must be at least one byte.")
        base_url = options["base_url"] or settings.LOCKER_BASE_URL
        self.stdout.write(f"Checking {base_url}")
        try:
            results = run_checks(
                Options(
                    base_url=base_url,
                    username=options["user"],
                    upload_size=size,
                    mail_to=options["mail_to"],
                    broker_timeout=options["broker_timeout"],
                    scan_timeout=options["scan_timeout"],
                    only=tuple(options["only"] or ()),
                ),
                report=self._print,
            )
        except NoUser as error:
            raise CommandError(str(error)) from None
        failed = [result.check for result in results if result.status == FAIL]
        if failed:
            raise CommandError(f"{len(failed)} check(s) failed: {', '.join(failed)}.")
        self.stdout.write("No check failed.")

    def _print(self, result):
        style = {"OK": self.style.SUCCESS, "WARN": self.style.WARNING, "FAIL": self.style.ERROR}
        paint = style.get(result.status, str)
        self.stdout.write(f"{paint(result.status.ljust(4))} {result.check}: {result.summary}")
        for line in result.advice:
            self.stdout.write(f"     → {line}")

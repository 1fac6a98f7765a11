from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from accounts.scopes import CHOICES, folder_lookup
from accounts.services import api_token_create
from locker.env import parse_duration


class Command(BaseCommand):
    help = "Create a personal API token for USERNAME and print it (the last line of the output)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="What the token is for.")
        parser.add_argument(
            "--expires-in",
            default=None,
            help="Lifetime such as 12h, 30d or 2w (default: never expires).",
        )
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            choices=CHOICES,
            help="What the token may do; repeat for several (default: * = everything). One of: "
            + ", ".join(CHOICES)
            + ".",
        )
        parser.add_argument(
            "--folder",
            default="",
            help="Confine the token to this folder, a path such as Invoices/2026: it reaches "
            "nothing outside.",
        )

    def handle(self, *args, username, name, expires_in, scopes, folder, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user is named {username!r}.")
        if not user.is_active:
            raise CommandError(f"The user {username!r} is deactivated; a token would not work.")
        expires_at = None
        if expires_in:
            try:
                seconds = parse_duration(expires_in)
            except ValueError:
                raise CommandError(
                    f"--expires-in must be a duration such as 12h or 30d, not {expires_in!r}."
                ) from None
            if seconds <= 0:
                raise CommandError("--expires-in must be longer than zero.")
            expires_at = timezone.now() + timedelta(seconds=seconds)
        folder_path, folder = folder, None
        if folder_path.strip():
            try:
                folder = folder_lookup(user=user, path=folder_path)
            except Http404:
                raise CommandError(f"{username} has no folder at {folder_path!r}.") from None
        try:
            token, secret = api_token_create(
                user=user, name=name, expires_at=expires_at, scopes=scopes, folder=folder
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        expiry = token.expires_at.isoformat(timespec="seconds") if token.expires_at else "never"
        self.stdout.write(
            f"Created API token {token.name!r} for {user.username} (expires: {expiry}; "
            f"scopes: {' '.join(token.scopes)}"
            + (f"; only inside {folder_path.strip()!r}" if folder else "")
            + ")."
        )
        self.stdout.write("Keep it secret; it is not shown again:")
        self.stdout.write(secret)

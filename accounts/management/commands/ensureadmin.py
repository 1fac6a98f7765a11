import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first administrator if no user exists yet, and print its credentials once."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.exists():
            return
        username = settings.LOCKER_ADMIN_USERNAME
        password = settings.LOCKER_ADMIN_PASSWORD or secrets.token_urlsafe(15)
        User.objects.create_superuser(
            username=username, email=f"{username}@localhost", password=password
        )
        self.stdout.write("Created the administrator account:")
        self.stdout.write(f"  username: {username}")
        if settings.LOCKER_ADMIN_PASSWORD:
            self.stdout.write("  password: (the one in LOCKER_ADMIN_PASSWORD)")
        else:
            self.stdout.write(f"  password: {password}")
            self.stdout.write("  (shown only this once; change it from your profile page)")

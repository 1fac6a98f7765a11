import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import changepassword

from accounts.services import password_set_elsewhere


class Command(changepassword.Command):
    help = (
        "Change a user's password (Django's changepassword), then revoke the user's API tokens "
        "and audit the change, as every other password change does."
    )

    def handle(self, *args, **options):
        changed = super().handle(*args, **options)  # raises when nothing was changed
        username = options["username"] or getpass.getuser()
        users = get_user_model()._default_manager.db_manager(options["database"])
        revoked = password_set_elsewhere(user=users.get_by_natural_key(username), how="command")
        return f"{changed}; {revoked} API token(s) revoked."

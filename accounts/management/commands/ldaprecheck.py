from django.core.management.base import BaseCommand, CommandError

from accounts.ldap import DirectoryUnreachable, directory_members_recheck


class Command(BaseCommand):
    help = (
        "End the sessions and revoke the API tokens of directory users no longer in "
        "LOCKER_LDAP_REQUIRE_GROUP (what the periodic task does)."
    )

    def handle(self, *args, **options):
        try:
            count = directory_members_recheck()
        except DirectoryUnreachable as exc:
            raise CommandError(f"The directory is unreachable: {exc}") from None
        self.stdout.write(f"{count} directory user(s) no longer in the required group.")

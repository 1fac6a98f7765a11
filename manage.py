#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "locker.settings")
    from django.core.management import execute_from_command_line

    from locker.startup import explained

    # A wrong setting or an unreachable database: one line naming it, not a traceback.
    with explained():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()

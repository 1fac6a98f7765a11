"""Small `command` scanners for the tests, written as scripts the way an admin would."""

import stat
import sys
from pathlib import Path

SCRIPT = """#!{python}
import os, sys, time
data = sys.stdin.buffer.read()
marker = {marker!r}
if marker and not os.path.exists(marker):
    open(marker, "w").close()          # the first run announces itself, then hangs
    time.sleep(120)
if b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in data:
    print("Test.EICAR.Command")
    sys.exit(1)
if b"SCANNER-CRASH" in data:
    sys.exit(2)
sys.exit(0)
"""


def write_scanner(directory: Path, *, hang_marker: Path | None = None) -> Path:
    path = directory / "scan.py"
    path.write_text(SCRIPT.format(python=sys.executable, marker=str(hang_marker or "")))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path

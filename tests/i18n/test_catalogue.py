"""The French catalogue is complete and current, and the committed .mo is its compilation.

Message extraction runs for real (Django's makemessages, which needs GNU gettext's xgettext
and msgmerge: Debian's `gettext`, installed by .ci/run) on a copy of the source, with the same
ignores as the catalogue's own extraction (docs/web-ui.md, "Adding a language").
"""

import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# Not Locker's user-facing strings: tests, benchmarks, docs, the virtualenv, generated data.
SKIPPED = (".venv", "node_modules", "tests", "bench", "docs", "data", "locale", ".git")


def _key(entry) -> tuple[str, str]:
    return (entry.msgctxt or "", entry.msgid)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set[tuple[str, str]]:
    """Every msgid the code has today, extracted from a copy of the checkout."""
    copy = tmp_path_factory.mktemp("extract") / "locker"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*SKIPPED), symlinks=True)
    (copy / "locale").mkdir()
    command = [sys.executable, "manage.py", "makemessages", "-l", "fr"]
    command += [f"--ignore={name}" for name in SKIPPED]
    result = subprocess.run(
        command,
        cwd=copy,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "LOCKER_DATA_DIR": str(copy / "data"), "HOME": str(copy)},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    fresh = polib.pofile(str(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po"))
    return {_key(entry) for entry in fresh if not entry.obsolete}


def test_french_catalogue_has_every_string_of_the_code(extracted):
    catalogue = {_key(entry) for entry in polib.pofile(str(PO)) if not entry.obsolete}
    missing = sorted(extracted - catalogue)
    assert missing == [], f"{len(missing)} strings not in {PO.relative_to(ROOT)}: {missing[:20]}"


def test_french_catalogue_holds_no_string_the_code_dropped(extracted):
    catalogue = {_key(entry) for entry in polib.pofile(str(PO)) if not entry.obsolete}
    stale = sorted(catalogue - extracted)
    assert stale == [], f"{len(stale)} strings no longer in the code: {stale[:20]}"


def test_every_french_translation_is_filled_in_and_not_fuzzy():
    catalogue = polib.pofile(str(PO))
    empty = [e.msgid for e in catalogue.untranslated_entries() if not e.obsolete]
    fuzzy = [e.msgid for e in catalogue.fuzzy_entries() if not e.obsolete]
    assert (empty[:20], fuzzy[:20]) == ([], [])
    header = catalogue.metadata
    assert header["Language"] == "fr"
    assert header["Plural-Forms"].replace(" ", "") == "nplurals=2;plural=(n>1);"


def test_committed_mo_is_the_compilation_of_the_po():
    """`make run` needs no gettext: the .mo is committed, so it must match the .po."""
    expected = {
        (_key(e), e.msgstr or tuple(e.msgstr_plural[i] for i in sorted(e.msgstr_plural)))
        for e in polib.pofile(str(PO)).translated_entries()
    }
    compiled = polib.mofile(str(MO))
    committed = {
        (_key(e), e.msgstr or tuple(e.msgstr_plural[i] for i in sorted(e.msgstr_plural)))
        for e in compiled
        if e.msgid
    }
    assert committed == expected, (
        "locale/fr/LC_MESSAGES/django.mo is out of date: run `make messages`"
    )

"""Every shipped catalogue is complete: each message of the package translated, none fuzzy, the
same placeholders as the English, and its compiled .mo in step with the .po. When a message is
added, these fail until ``django-admin makemessages -l de -l es`` (run in django_seeclickfix/)
brought it in, it is translated and ``django-admin compilemessages`` was run (README,
"Translations")."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.utils import translation

PACKAGE = Path(__file__).resolve().parent.parent / "django_seeclickfix"
CATALOGUES = sorted((PACKAGE / "locale").glob("*/LC_MESSAGES/django.po"))
LANGUAGES = [po.parent.parent.name for po in CATALOGUES]

# printf-style conversions as Python's % operator reads them, named or not; %% is a literal.
PERCENT = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")
BRACES = re.compile(r"\{[^{}]*\}")


def placeholders(text: str, entry: polib.POEntry) -> Counter[str]:
    found: Counter[str] = Counter()
    if "python-format" in entry.flags:
        found.update(p for p in PERCENT.findall(text) if p != "%%")
    if "python-brace-format" in entry.flags:
        found.update(BRACES.findall(text))
    return found


def problems(po: polib.POFile) -> list[str]:
    found = []
    for entry in po:
        if entry.obsolete:
            continue
        where = f"{entry.msgid[:60]!r} ({', '.join(f'{f}:{n}' for f, n in entry.occurrences[:1])})"
        if entry.fuzzy:
            found.append(f"fuzzy: {where}")
        if not entry.translated():
            found.append(f"untranslated: {where}")
            continue
        if entry.msgid_plural:
            pairs = [
                (entry.msgid if n == 0 else entry.msgid_plural, text)
                for n, text in sorted(entry.msgstr_plural.items())
            ]
        else:
            pairs = [(entry.msgid, entry.msgstr)]
        for english, text in pairs:
            if placeholders(english, entry) != placeholders(text, entry):
                found.append(f"placeholders differ from the English: {where}")
    return found


def test_there_is_a_german_and_a_spanish_catalogue() -> None:
    assert {"de", "es"} <= set(LANGUAGES)


@pytest.mark.parametrize("po_path", CATALOGUES, ids=LANGUAGES)
def test_catalogue_is_complete_and_keeps_the_placeholders(po_path: Path) -> None:
    po = polib.pofile(str(po_path))
    assert po.metadata.get("Language") == po_path.parent.parent.name
    assert problems(po) == []


@pytest.mark.parametrize("po_path", CATALOGUES, ids=LANGUAGES)
def test_compiled_catalogue_matches_the_po(po_path: Path) -> None:
    """A .po edited without compilemessages would ship the old texts: Django reads the .mo."""

    def texts(entries: list[polib.POEntry] | polib.MOFile) -> dict[tuple[str | None, str], object]:
        return {
            (e.msgctxt, e.msgid): tuple(sorted(e.msgstr_plural.items()))
            if e.msgid_plural
            else e.msgstr
            for e in entries
            if e.msgid  # the header
        }

    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), "run: cd django_seeclickfix && django-admin compilemessages"
    compiled = texts(polib.mofile(str(mo_path)))
    assert compiled == texts(polib.pofile(str(po_path)).translated_entries()), (
        "run: cd django_seeclickfix && django-admin compilemessages"
    )


def test_catalogues_hold_every_message_of_the_package(tmp_path: Path) -> None:
    """makemessages on a copy of the package: a message in the code or templates that a
    catalogue lacks (or a changed one) comes back untranslated and fails here."""
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        pytest.fail("GNU gettext is not installed (Debian: apt-get install gettext)")
    copy = tmp_path / "django_seeclickfix"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    args = [f"-l{language}" for language in LANGUAGES]
    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "--no-obsolete", *args],
        cwd=copy,
        # As a maintainer runs it: django-admin in the package, no project settings.
        env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        check=True,
        capture_output=True,
    )
    for language in LANGUAGES:
        po = polib.pofile(str(copy / "locale" / language / "LC_MESSAGES" / "django.po"))
        assert problems(po) == [], f"{language}: translate these, then compilemessages"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("de", "SeeClickFix verbinden"), ("es", "Conectar SeeClickFix")],
)
def test_django_serves_the_translation(language: str, expected: str) -> None:
    with translation.override(language):
        assert translation.gettext("Connect SeeClickFix") == expected

"""The H5 catalogues: every string of the pages has its Chinese, and the committed .mo files are
what the .po files compile to (the project runs without gettext, so a stale .mo would show)."""

from __future__ import annotations

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[2] / "h5" / "locale"
MSGFMT = shutil.which("msgfmt")
# The campaign pages (helper C's files) keep their own catalogue (h5/locale_campaigns).
IGNORE = [
    f"--ignore={pattern}"
    for pattern in ("templates/h5/campaigns/*", "views_campaigns.py", "urls_campaigns.py", "locale_campaigns/*")
]
needs_msgfmt = pytest.mark.skipif(MSGFMT is None, reason="gettext (msgfmt) is not installed")


@needs_msgfmt
def test_every_message_has_its_chinese():
    out = subprocess.run(
        [MSGFMT, "--check", "--statistics", "-o", "/dev/null", str(LOCALE / "zh_Hans/LC_MESSAGES/django.po")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    stats = out.stderr.strip()
    assert "translated messages" in stats and "untranslated" not in stats and "fuzzy" not in stats, stats


@needs_msgfmt
@pytest.mark.parametrize("language", ["zh_Hans", "en"])
def test_the_committed_mo_is_the_compiled_po(tmp_path, language):
    folder = LOCALE / language / "LC_MESSAGES"
    fresh = tmp_path / "django.mo"
    subprocess.run([MSGFMT, "--check", "-o", str(fresh), str(folder / "django.po")], check=True, timeout=30)
    with fresh.open("rb") as a, (folder / "django.mo").open("rb") as b:
        assert gettext.GNUTranslations(a)._catalog == gettext.GNUTranslations(b)._catalog, (
            f"h5/locale/{language}: run compilemessages (docs/h5.md, Languages)"
        )


@needs_msgfmt
@pytest.mark.skipif(shutil.which("xgettext") is None, reason="gettext (xgettext) is not installed")
def test_no_page_string_is_missing_from_the_catalogue(tmp_path):
    """makemessages over a copy of h5/ (the campaign pages left out): a string a template or view
    uses but the catalogue lacks would come out untranslated."""
    import sys

    root = LOCALE.parents[1]
    copy = tmp_path / "h5"
    shutil.copytree(root / "h5", copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    subprocess.run(
        [sys.executable, str(root / "manage.py"), "makemessages", "-l", "zh_Hans", "--no-obsolete", *IGNORE],
        cwd=copy,
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = subprocess.run(
        [MSGFMT, "--statistics", "-o", "/dev/null", str(copy / "locale/zh_Hans/LC_MESSAGES/django.po")],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert "untranslated" not in out.stderr and "fuzzy" not in out.stderr, (
        f"{out.stderr.strip()}: run makemessages and translate (docs/h5.md, Languages)"
    )

"""The English catalogue: the language switch works, and locale/en is complete and compiled.

Vietnamese is the source language of every UI string; ``locale/en/LC_MESSAGES/django.po`` is
the English translation and ``django.mo`` its compiled form (committed, so that machines without
gettext still show English). After adding or changing a string::

    .venv/bin/python manage.py makemessages -l en --ignore=.venv --ignore=var --ignore=bench --ignore=tests
    # translate every new entry, remove "#, fuzzy" flags
    .venv/bin/python manage.py compilemessages -l en
"""

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parent.parent
LC_MESSAGES = ROOT / "locale" / "en" / "LC_MESSAGES"
PO = LC_MESSAGES / "django.po"
MO = LC_MESSAGES / "django.mo"
MAKEMESSAGES_IGNORE = [".venv", "var", "bench", "tests"]

NAMED = re.compile(r"%\([A-Za-z_][A-Za-z0-9_]*\)[sdif]")
POSITIONAL = re.compile(r"%[sdif]")
BRACED = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
TAG = re.compile(
    r"</?(?:a|abbr|b|br|code|em|i|kbd|p|small|span|strong|sub|sup|u)\b[^>]*>", re.IGNORECASE
)


# ---------------------------------------------------------------------------------------------
# A small .po reader (the project does not depend on polib)
# ---------------------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
            "f": "\f", "v": "\v"}


def _unquote(text: str) -> str:
    text = text.strip()
    assert text.startswith('"') and text.endswith('"'), f"not a quoted string: {text!r}"
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def read_po(path: Path) -> list[dict]:
    """Entries of a .po file: ``msgctxt``, ``msgid``, ``msgid_plural``, ``msgstr`` (a dict
    index → text; index 0 for a singular entry), ``flags``, ``line``. The header is the entry
    whose msgid is empty; obsolete (``#~``) entries are left out."""
    entries: list[dict] = []
    entry: dict | None = None
    key = None
    flags: set[str] = set()

    def finish():
        nonlocal entry, flags
        if entry is not None:
            entries.append(entry)
        entry, flags = None, set()

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#,"):
            if entry is not None and entry["msgstr"]:
                finish()
            flags |= {f.strip() for f in line[2:].split(",") if f.strip()}
            continue
        if line.startswith("#"):
            if entry is not None and entry["msgstr"]:
                finish()
            continue
        if line.startswith('"'):
            assert entry is not None and key is not None, f"{path}:{number}: stray string"
            if isinstance(key, tuple):
                entry["msgstr"][key[1]] += _unquote(line)
            else:
                entry[key] += _unquote(line)
            continue
        word, _, rest = line.partition(" ")
        if word in ("msgctxt", "msgid") and entry is not None and entry["msgstr"]:
            finish()
        if entry is None:
            entry = {"msgctxt": None, "msgid": None, "msgid_plural": None, "msgstr": {},
                     "flags": flags, "line": number}
        if word in ("msgctxt", "msgid", "msgid_plural"):
            entry[word] = _unquote(rest)
            key = word
        elif word == "msgstr":
            entry["msgstr"][0] = _unquote(rest)
            key = ("msgstr", 0)
        elif m := re.fullmatch(r"msgstr\[(\d+)\]", word):
            index = int(m.group(1))
            entry["msgstr"][index] = _unquote(rest)
            key = ("msgstr", index)
        else:
            raise AssertionError(f"{path}:{number}: cannot read {raw!r}")
    finish()
    return entries


def messages(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["msgid"]]


def where(entry: dict) -> str:
    return f"django.po line {entry['line']}: {entry['msgid'][:70]!r}"


@pytest.fixture(scope="module")
def po_entries():
    assert PO.exists(), "locale/en/LC_MESSAGES/django.po is missing (run makemessages -l en)"
    return read_po(PO)


# ---------------------------------------------------------------------------------------------
# (a) The language switch shows English
# ---------------------------------------------------------------------------------------------

def switch_to_english(client, next_url="/"):
    response = client.post("/i18n/setlang/", {"language": "en", "next": next_url})
    assert response.status_code == 302


@pytest.mark.django_db
def test_login_page_is_english_after_switching_language(client):
    switch_to_english(client, reverse("login"))
    html = client.get(reverse("login")).content.decode()
    assert 'lang="en"' in html
    assert "Staff sign-in" in html
    assert "Username" in html and "Password" in html
    assert "Đăng nhập cán bộ" not in html


@pytest.mark.django_db
def test_public_home_is_english_after_switching_language(client):
    switch_to_english(client)
    html = client.get(reverse("public-home")).content.decode()
    assert "Find an administrative procedure" in html
    assert "Tra cứu thủ tục hành chính" not in html


@pytest.mark.django_db
def test_staff_home_is_english_after_switching_language(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin-en", password="mat-khau-dai-123")
    client.force_login(user)
    switch_to_english(client, reverse("staff-home"))
    html = client.get(reverse("staff-home")).content.decode()
    assert "Sign out" in html
    assert "Đăng xuất" not in html


@pytest.mark.django_db
def test_vietnamese_stays_the_default(client):
    html = client.get(reverse("public-home")).content.decode()
    assert "Tra cứu thủ tục hành chính" in html


# ---------------------------------------------------------------------------------------------
# (b) The catalogue is complete
# ---------------------------------------------------------------------------------------------

def test_catalogue_has_a_proper_header(po_entries):
    headers = [e for e in po_entries if e["msgid"] == ""]
    assert len(headers) == 1
    header = headers[0]
    assert "fuzzy" not in header["flags"], "the header is marked fuzzy: remove the flag"
    assert "Language: en\n" in header["msgstr"][0]
    assert "charset=UTF-8" in header["msgstr"][0]
    assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header["msgstr"][0]


def test_every_message_is_translated_and_none_is_fuzzy(po_entries):
    entries = messages(po_entries)
    assert len(entries) > 100, "the catalogue looks truncated"
    untranslated = [where(e) for e in entries
                    if not e["msgstr"] or any(not text for text in e["msgstr"].values())]
    fuzzy = [where(e) for e in entries if "fuzzy" in e["flags"]]
    assert not untranslated, "untranslated entries:\n" + "\n".join(untranslated)
    assert not fuzzy, "fuzzy entries (Django ignores them):\n" + "\n".join(fuzzy)


def test_plural_entries_have_both_forms(po_entries):
    for e in messages(po_entries):
        if e["msgid_plural"] is not None:
            assert sorted(e["msgstr"]) == [0, 1], where(e)
        else:
            assert sorted(e["msgstr"]) == [0], where(e)


def test_translations_keep_placeholders_tags_and_edge_whitespace(po_entries):
    problems = []
    for e in messages(po_entries):
        source = e["msgid_plural"] if e["msgid_plural"] is not None else e["msgid"]
        for index, text in e["msgstr"].items():
            for pattern in (NAMED, POSITIONAL, BRACED, TAG):
                want = sorted(set(pattern.findall(source)) | set(pattern.findall(e["msgid"])))
                got = sorted(set(pattern.findall(text)))
                # A singular form may leave the number out ("One file"), nothing else.
                if got != want and not (index == 0 and e["msgid_plural"] is not None
                                        and set(got) <= set(want)):
                    problems.append(f"{where(e)} [{index}]: {got} instead of {want}")
            for edge in (str.startswith, str.endswith):
                for ws in (" ", "\n"):
                    if edge(e["msgid"], ws) != edge(text, ws):
                        problems.append(f"{where(e)} [{index}]: leading/trailing whitespace differs")
    assert not problems, "\n".join(problems)


@pytest.mark.skipif(not shutil.which("xgettext"), reason="gettext tools not installed")
def test_catalogue_covers_every_string_in_the_source(tmp_path, po_entries):
    """makemessages over a copy of the source finds no msgid missing from django.po."""
    copy = tmp_path / "src"
    shutil.copytree(
        ROOT, copy, symlinks=True,
        ignore=shutil.ignore_patterns(*MAKEMESSAGES_IGNORE, ".git", "locale", "media",
                                      "node_modules", "__pycache__", ".pytest_cache",
                                      "test-results", "*.egg-info"),
    )
    (copy / "locale").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE",)}
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "-v0",
         *[f"--ignore={name}" for name in MAKEMESSAGES_IGNORE]],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    fresh = read_po(copy / "locale" / "en" / "LC_MESSAGES" / "django.po")
    wanted = {(e["msgctxt"], e["msgid"], e["msgid_plural"]) for e in messages(fresh)}
    have = {(e["msgctxt"], e["msgid"], e["msgid_plural"]) for e in messages(po_entries)}
    missing = sorted(wanted - have, key=lambda k: k[1])
    assert not missing, (
        "strings in the source that locale/en/LC_MESSAGES/django.po does not have "
        "(run makemessages -l en, translate, compilemessages):\n"
        + "\n".join(repr(m[1]) for m in missing)
    )


# ---------------------------------------------------------------------------------------------
# (c) The compiled catalogue matches the .po
# ---------------------------------------------------------------------------------------------

def read_mo(path: Path) -> dict:
    with path.open("rb") as fp:
        return dict(gettext.GNUTranslations(fp)._catalog)


def expected_catalog(entries: list[dict]) -> dict:
    """What msgfmt makes of the .po: the key a .mo lookup uses for each translated message."""
    catalog = {}
    for e in messages(entries):
        if "fuzzy" in e["flags"]:
            continue
        msgid = e["msgid"] if e["msgctxt"] is None else f"{e['msgctxt']}\x04{e['msgid']}"
        if e["msgid_plural"] is None:
            if e["msgstr"].get(0):
                catalog[msgid] = e["msgstr"][0]
        elif all(e["msgstr"].values()):
            for index, text in e["msgstr"].items():
                catalog[(msgid, index)] = text
    return catalog


def without_header(catalog: dict) -> dict:
    return {k: v for k, v in catalog.items() if k != ""}


def test_compiled_catalogue_matches_the_po(po_entries):
    assert MO.exists(), "locale/en/LC_MESSAGES/django.mo is missing (run compilemessages -l en)"
    compiled = without_header(read_mo(MO))
    expected = expected_catalog(po_entries)
    stale = sorted(str(k) for k in expected if compiled.get(k) != expected[k])
    extra = sorted(str(k) for k in compiled if k not in expected)
    assert not stale and not extra, (
        "django.mo is out of date with django.po (run compilemessages -l en).\n"
        f"Different or missing in .mo: {stale[:20]}\nOnly in .mo: {extra[:20]}"
    )


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="msgfmt not installed")
def test_po_compiles_cleanly_to_the_committed_mo(tmp_path):
    out = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check-format", "--check-header", "--statistics", "-o", str(out), str(PO)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "LC_ALL": "C"},
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    translated = int(re.search(r"(\d+) translated message", result.stderr).group(1))
    fresh, committed = read_mo(out), read_mo(MO)
    singular_and_plural = {k[0] if isinstance(k, tuple) else k for k in without_header(fresh)}
    assert len(singular_and_plural) == translated
    assert without_header(committed) == without_header(fresh), (
        "the committed django.mo differs from compiling django.po (run compilemessages -l en)"
    )

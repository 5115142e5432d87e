"""scripts/backup and scripts/restore (docs/operations.md "Backups"): a backup restored into a
fresh database and an empty media folder gives back every dossier, event and file, byte for
byte; the restore checks itself against the manifest and refuses to overwrite."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from pathlib import Path

import psycopg2
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection  # noqa: F401 - read by skipif

from dossiers.models import Attachment, Dossier, DossierEvent
from tests.dossier_factories import act, org, receive, version  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pg_dump needs PostgreSQL"),
]


def _server() -> dict:
    db = django_settings.DATABASES["default"]
    return {"user": db["USER"], "password": db["PASSWORD"] or None,
            "host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432}


def _url(name: str) -> str:
    s = _server()
    return f"postgres://{s['user']}@{s['host']}:{s['port']}/{name}"


def run(script: str, *args: str, media_root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE",)}
    env.update(DATABASE_URL=_url(django_settings.DATABASES["default"]["NAME"]), MEDIA_ROOT=str(media_root))
    return subprocess.run(
        [str(ROOT / "scripts" / script), *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )


@contextlib.contextmanager
def admin():
    conn = psycopg2.connect(dbname="postgres", **_server())
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


@pytest.fixture
def restored_name():
    name = f"motcua_restore_test_{os.getpid()}"
    with admin() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    yield name
    with admin() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def seeded(org, version, settings, tmp_path):
    """Three dossiers at different points, with scans and uploads, in a media folder of their own."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    first = receive(org, version, attachments=[
        SimpleUploadedFile("don-de-nghi.pdf", PDF, content_type="application/pdf"),
        SimpleUploadedFile("anh-chup.png", PNG, content_type="image/png"),
    ])
    first = act(act(first, "start", org.clerk), "forward", org.officer)
    second = receive(org, version, attachments=[
        SimpleUploadedFile("giay-to.pdf", PDF + b"% khac\n", content_type="application/pdf"),
    ])
    second = act(second, "start", org.clerk)
    receive(org, version)
    return Path(settings.MEDIA_ROOT)


def _rows(cursor, sql: str) -> list[tuple]:
    cursor.execute(sql)
    return sorted(cursor.fetchall())


def test_backup_restored_into_a_fresh_database_gives_back_every_dossier_event_and_file(
    seeded, restored_name, tmp_path
):
    backups = tmp_path / "backups"
    result = run("backup", "--dest", str(backups), media_root=seeded)
    assert result.returncode == 0, result.stdout + result.stderr
    (folder,) = backups.iterdir()
    assert folder.name.startswith("motcua-") and not folder.name.endswith(".partial")
    assert sorted(p.name for p in folder.iterdir()) == ["database.dump", "manifest.json", "media.tar.gz"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["counts"]["dossiers"] == 3
    assert manifest["counts"]["events"] == DossierEvent.objects.count() == 3 + 2 + 1
    assert manifest["counts"]["attachments"] == 3 and len(manifest["media"]["files"]) == 3
    assert manifest["missing_at_backup"] == []

    target = tmp_path / "restored-media"
    result = run("restore", str(folder), "--database", restored_name, "--media-root", str(target),
                 media_root=seeded)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "restore matches the backup" in result.stdout

    # Every dossier, event and attachment row, compared with the original database.
    conn = psycopg2.connect(dbname=restored_name, **_server())
    try:
        with conn.cursor() as cursor:
            dossiers = _rows(cursor, "SELECT id, code, state, due_at, applicant_phone FROM dossiers_dossier")
            events = _rows(cursor, "SELECT id, dossier_id, transition, at FROM dossiers_dossierevent")
            files = _rows(cursor, "SELECT dossier_id, file, sha256, size FROM dossiers_attachment")
    finally:
        conn.close()
    assert dossiers == sorted(Dossier.objects.values_list("id", "code", "state", "due_at", "applicant_phone"))
    assert events == sorted(DossierEvent.objects.values_list("id", "dossier_id", "transition", "at"))
    assert files == sorted(
        (a.dossier_id, a.file.name, a.sha256, a.size) for a in Attachment.objects.all()
    )
    for attachment in Attachment.objects.all():
        original = (seeded / attachment.file.name).read_bytes()
        assert (target / attachment.file.name).read_bytes() == original

    # A second restore over the same database refuses without --force …
    again = run("restore", str(folder), "--database", restored_name, "--media-root",
                str(tmp_path / "elsewhere"), media_root=seeded)
    assert again.returncode == 1 and "not empty" in again.stderr
    # … and with it, drops, restores and verifies again.
    forced = run("restore", str(folder), "--database", restored_name, "--media-root", str(target),
                 "--force", media_root=seeded)
    assert forced.returncode == 0, forced.stdout + forced.stderr


def test_restore_reports_a_file_that_does_not_match(seeded, restored_name, tmp_path):
    backups = tmp_path / "backups"
    assert run("backup", "--dest", str(backups), media_root=seeded).returncode == 0
    (folder,) = backups.iterdir()
    # A backup whose media archive was damaged (or a restore onto a tampered folder).
    manifest = json.loads((folder / "manifest.json").read_text())
    some_file = next(iter(manifest["media"]["files"]))
    manifest["media"]["files"][some_file] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = run("restore", str(folder), "--database", restored_name, "--media-root",
                 str(tmp_path / "restored"), media_root=seeded)
    assert result.returncode == 1
    assert f"file {some_file} differs from the backup" in result.stderr


def test_backups_beyond_keep_are_removed_oldest_first(seeded, tmp_path):
    backups = tmp_path / "backups"
    for old in ("motcua-20250101T000000Z", "motcua-20250102T000000Z", "motcua-20250103T000000Z"):
        (backups / old).mkdir(parents=True)
    result = run("backup", "--dest", str(backups), "--keep", "2", media_root=seeded)
    assert result.returncode == 0, result.stdout + result.stderr
    names = sorted(p.name for p in backups.iterdir())
    assert len(names) == 2 and names[0] == "motcua-20250103T000000Z"
    assert (backups / names[1] / "manifest.json").exists()

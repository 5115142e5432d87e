"""The Python half of scripts/backup and scripts/restore: reads the database and media settings
the way the application does (motcua.settings, from the same environment), dumps the database
in one snapshot together with the counts the restore is checked against, and verifies a
restored copy. Not meant to be run by hand: the two scripts call it.

    _backup_helper.py pgenv                          shell lines: PGHOST=… (for psql, pg_restore)
    _backup_helper.py media-root                     the MEDIA_ROOT of these settings
    _backup_helper.py dump FOLDER                    FOLDER/database.dump + FOLDER/counts.json
    _backup_helper.py manifest FOLDER                FOLDER/manifest.json (counts, files' sha256)
    _backup_helper.py verify FOLDER DATABASE MEDIA   check a restored copy against the manifest
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORMAT = 1

#: What the manifest counts (table → label); the restore must find exactly as many.
COUNTED = {
    "dossiers_dossier": "dossiers",
    "dossiers_dossierevent": "events",
    "dossiers_attachment": "attachments",
    "dossiers_apology": "apologies",
    "motcua_outboxmessage": "outbox_messages",
    "procedures_procedure": "procedures",
    "auth_user": "users",
}


def _setup():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motcua.settings")
    import django

    django.setup()


def _database() -> dict:
    from django.conf import settings

    db = settings.DATABASES["default"]
    if not db["ENGINE"].endswith("postgresql"):
        sys.exit("Sao lưu cần PostgreSQL (DATABASE_URL); backups need PostgreSQL.")
    return db


def _pgenv(db: dict, name: str | None = None) -> dict[str, str]:
    env = {"PGDATABASE": name or db["NAME"], "PGHOST": db.get("HOST") or "",
           "PGPORT": str(db.get("PORT") or ""), "PGUSER": db.get("USER") or "",
           "PGPASSWORD": db.get("PASSWORD") or ""}
    return {k: v for k, v in env.items() if v}


def _counts(cursor) -> dict[str, int]:
    counts = {}
    for table, label in COUNTED.items():
        cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - fixed table names
        counts[label] = cursor.fetchone()[0]
    return counts


def _attachment_files(cursor) -> list[str]:
    cursor.execute('SELECT "file" FROM "dossiers_attachment" ORDER BY "file"')
    return [row[0] for row in cursor.fetchall() if row[0]]


def dump(folder: Path) -> None:
    """pg_dump -Fc inside one exported snapshot, the counts read in that same snapshot: the
    manifest describes exactly what the dump holds, even while the offices keep working."""
    import psycopg2

    db = _database()
    conn = psycopg2.connect(
        dbname=db["NAME"], user=db.get("USER") or None, password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=db.get("PORT") or None,
    )
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            counts = _counts(cursor)
            files = _attachment_files(cursor)
            env = {**os.environ, **_pgenv(db)}
            subprocess.run(
                ["pg_dump", "--format=custom", "--no-owner", f"--snapshot={snapshot}",
                 "--file", str(folder / "database.dump")],
                env=env, check=True,
            )
        conn.rollback()
    finally:
        conn.close()
    (folder / "counts.json").write_text(json.dumps({"counts": counts, "attachment_files": files}))


def _sha256(stream) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def manifest(folder: Path) -> None:
    """The manifest: counts and attachment paths from the dump's snapshot, and the sha256 of
    every file in the media archive (read back from the archive itself)."""
    snapshot = json.loads((folder / "counts.json").read_text())
    files = {}
    with tarfile.open(folder / "media.tar.gz", "r:gz") as archive:
        for member in archive:
            if member.isfile():
                files[member.name.removeprefix("./")] = _sha256(archive.extractfile(member))
    missing = sorted(set(snapshot["attachment_files"]) - set(files))
    dump_file = folder / "database.dump"
    with dump_file.open("rb") as stream:
        dump_sha = _sha256(stream)
    data = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": {"file": "database.dump", "sha256": dump_sha, "bytes": dump_file.stat().st_size},
        "counts": snapshot["counts"],
        "attachment_files": snapshot["attachment_files"],
        "media": {"file": "media.tar.gz", "files": files},
        "missing_at_backup": missing,
    }
    (folder / "manifest.json").write_text(json.dumps(data, indent=1, ensure_ascii=False))
    (folder / "counts.json").unlink()
    print(f"  dossiers {data['counts']['dossiers']}, events {data['counts']['events']}, "
          f"attachments {data['counts']['attachments']}, media files {len(files)}")
    if missing:
        print(f"  CẢNH BÁO / WARNING: {len(missing)} attachment file(s) missing from MEDIA_ROOT "
              f"at backup time, e.g. {missing[0]}", file=sys.stderr)


def verify(folder: Path, name: str, media_root: Path) -> int:
    """Compare a restored database and media folder with the manifest; print each check."""
    import psycopg2

    data = json.loads((folder / "manifest.json").read_text())
    db = _database()
    conn = psycopg2.connect(
        dbname=name, user=db.get("USER") or None, password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=db.get("PORT") or None,
    )
    problems = []
    try:
        with conn.cursor() as cursor:
            counts = _counts(cursor)
            files = _attachment_files(cursor)
    finally:
        conn.close()
    for label, expected in data["counts"].items():
        found = counts.get(label)
        mark = "ok" if found == expected else "KHÁC / MISMATCH"
        print(f"  {label:16} {expected:>8} → {found!s:>8}  {mark}")
        if found != expected:
            problems.append(f"{label}: {expected} in the manifest, {found} restored")
    bad_files = 0
    for relative, sha in data["media"]["files"].items():
        path = media_root / relative
        if not path.is_file():
            problems.append(f"missing file {relative}")
            bad_files += 1
            continue
        with path.open("rb") as stream:
            if _sha256(stream) != sha:
                problems.append(f"file {relative} differs from the backup")
                bad_files += 1
    known = set(data["media"]["files"]) | set(data.get("missing_at_backup", []))
    unexplained = [f for f in files if f not in known]
    problems += [f"attachment row without a backed-up file: {f}" for f in unexplained]
    print(f"  media files      {len(data['media']['files']):>8} → "
          f"{len(data['media']['files']) - bad_files:>8}  {'ok' if not bad_files else 'KHÁC / MISMATCH'}")
    if problems:
        print("KHÔI PHỤC KHÔNG KHỚP BẢN SAO LƯU / RESTORE DOES NOT MATCH THE BACKUP:", file=sys.stderr)
        for problem in problems[:50]:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("Khôi phục khớp bản sao lưu / restore matches the backup.")
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    _setup()
    command, args = argv[0], argv[1:]
    if command == "pgenv":
        name = args[0] if args else None
        for key, value in _pgenv(_database(), name).items():
            print(f"export {key}={shlex.quote(value)}")
    elif command == "media-root":
        from django.conf import settings

        print(settings.MEDIA_ROOT)
    elif command == "dump":
        dump(Path(args[0]))
    elif command == "manifest":
        manifest(Path(args[0]))
    elif command == "verify":
        return verify(Path(args[0]), args[1], Path(args[2]))
    else:
        print(f"unknown command {command}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

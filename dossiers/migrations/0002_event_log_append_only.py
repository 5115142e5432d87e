"""The dossier event log is append-only in the database too (PostgreSQL): a trigger refuses
UPDATE, DELETE and TRUNCATE of dossiers_dossierevent, whoever asks (raw SQL, psql, another app).

One escape, for test databases only: TRUNCATE is let through when the session sets
``motcua.allow_event_truncate = 'on'`` (the test framework empties every table between
transactional tests; dossiers/apps.py sets it on connections to a test database). UPDATE and
DELETE have no escape.

SQLite (the zero-setup demo) gets no trigger: the models refuse updates and deletes there.
"""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION dossiers_event_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND current_setting('motcua.allow_event_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'dossiers_dossierevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS dossiers_event_no_update_delete ON dossiers_dossierevent;
CREATE TRIGGER dossiers_event_no_update_delete
    BEFORE UPDATE OR DELETE ON dossiers_dossierevent
    FOR EACH ROW EXECUTE FUNCTION dossiers_event_append_only();

DROP TRIGGER IF EXISTS dossiers_event_no_truncate ON dossiers_dossierevent;
CREATE TRIGGER dossiers_event_no_truncate
    BEFORE TRUNCATE ON dossiers_dossierevent
    FOR EACH STATEMENT EXECUTE FUNCTION dossiers_event_append_only();
"""

DROP = r"""
DROP TRIGGER IF EXISTS dossiers_event_no_truncate ON dossiers_dossierevent;
DROP TRIGGER IF EXISTS dossiers_event_no_update_delete ON dossiers_dossierevent;
DROP FUNCTION IF EXISTS dossiers_event_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("dossiers", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]

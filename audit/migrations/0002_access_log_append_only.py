"""The staff access log is append-only in the database too (PostgreSQL): a trigger refuses
UPDATE, DELETE and TRUNCATE of audit_accessrecord, whoever asks (raw SQL, psql, another app).

Two escapes, each needing a setting only its own caller makes:

* DELETE, when the transaction has set ``motcua.audit_prune = 'on'`` (``SET LOCAL``): only
  ``manage.py prune_access_log`` does, to delete rows past the retention period
  (``audit.services.access_log_prune``; docs/operations.md "Staff access log"). UPDATE has no escape.
* TRUNCATE on test databases, with the session setting the dossier event log's trigger
  already honours (``motcua.allow_event_truncate``, set by dossiers/apps.py on connections to
  a test database only): the test framework empties every table between transactional tests.

SQLite (the zero-setup demo) gets no trigger: the model refuses updates and deletes there.
"""

from django.db import migrations

CREATE = r"""
CREATE OR REPLACE FUNCTION audit_access_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('motcua.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE'
       AND current_setting('motcua.allow_event_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_accessrecord is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS audit_access_no_update_delete ON audit_accessrecord;
CREATE TRIGGER audit_access_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_accessrecord
    FOR EACH ROW EXECUTE FUNCTION audit_access_append_only();

DROP TRIGGER IF EXISTS audit_access_no_truncate ON audit_accessrecord;
CREATE TRIGGER audit_access_no_truncate
    BEFORE TRUNCATE ON audit_accessrecord
    FOR EACH STATEMENT EXECUTE FUNCTION audit_access_append_only();
"""

DROP = r"""
DROP TRIGGER IF EXISTS audit_access_no_truncate ON audit_accessrecord;
DROP TRIGGER IF EXISTS audit_access_no_update_delete ON audit_accessrecord;
DROP FUNCTION IF EXISTS audit_access_append_only();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_access_log_and_change_history")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]

"""Apology letters (Mẫu 04): one per missed appointment of a dossier, never changed or deleted.

On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE of dossiers_apology whoever asks,
with the event log's one escape (migration 0002): TRUNCATE when the session sets
``motcua.allow_event_truncate = 'on'``, which dossiers/apps.py does only on connections to a
test database. SQLite (the demo) gets no trigger: the model refuses updates and deletes there.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


CREATE = r"""
CREATE OR REPLACE FUNCTION dossiers_apology_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE'
       AND current_setting('motcua.allow_event_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'dossiers_apology is never changed or deleted: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS dossiers_apology_no_update_delete ON dossiers_apology;
CREATE TRIGGER dossiers_apology_no_update_delete
    BEFORE UPDATE OR DELETE ON dossiers_apology
    FOR EACH ROW EXECUTE FUNCTION dossiers_apology_immutable();

DROP TRIGGER IF EXISTS dossiers_apology_no_truncate ON dossiers_apology;
CREATE TRIGGER dossiers_apology_no_truncate
    BEFORE TRUNCATE ON dossiers_apology
    FOR EACH STATEMENT EXECUTE FUNCTION dossiers_apology_immutable();
"""

DROP = r"""
DROP TRIGGER IF EXISTS dossiers_apology_no_truncate ON dossiers_apology;
DROP TRIGGER IF EXISTS dossiers_apology_no_update_delete ON dossiers_apology;
DROP FUNCTION IF EXISTS dossiers_apology_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('dossiers', '0002_event_log_append_only'),
        ('motcua', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Apology',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveSmallIntegerField(help_text='Thứ tự văn bản xin lỗi của hồ sơ: 1, 2, …', verbose_name='lần thứ')),
                ('kind', models.CharField(choices=[('auto', 'Tự động (hệ thống)'), ('manual', 'Do lãnh đạo lập')], default='auto', max_length=8, verbose_name='cách lập')),
                ('issued_at', models.DateTimeField(verbose_name='ngày ban hành')),
                ('for_due_at', models.DateTimeField(verbose_name='ngày hẹn trả bị trễ')),
                ('new_due_at', models.DateTimeField(verbose_name='ngày hẹn trả mới')),
                ('state', models.CharField(choices=[('submitted', 'Mới đăng ký'), ('received', 'Đã tiếp nhận'), ('in_progress', 'Đang xử lý'), ('supplement_requested', 'Yêu cầu bổ sung'), ('awaiting_approval', 'Chờ phê duyệt'), ('result_ready', 'Có kết quả, chờ trả'), ('returned', 'Đã trả kết quả'), ('refused', 'Từ chối tiếp nhận'), ('withdrawn', 'Công dân rút hồ sơ'), ('stopped', 'Dừng xử lý')], max_length=32, verbose_name='trạng thái khi lập')),
                ('reason', models.TextField(blank=True, verbose_name='lý do')),
                ('at_fault_officer', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='apologies', to=settings.AUTH_USER_MODEL, verbose_name='cán bộ thụ lý')),
                ('at_fault_step', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='apologies', to='dossiers.dossierstep', verbose_name='bước chậm giải quyết')),
                ('at_fault_unit', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='apologies', to='motcua.unit', verbose_name='đơn vị chậm giải quyết')),
                ('dossier', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='apologies', to='dossiers.dossier', verbose_name='hồ sơ')),
                ('issued_by', models.ForeignKey(blank=True, db_index=False, help_text='Để trống: hệ thống.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='người lập')),
            ],
            options={
                'verbose_name': 'văn bản xin lỗi',
                'verbose_name_plural': 'văn bản xin lỗi',
                'ordering': ['dossier_id', 'number'],
                'base_manager_name': 'objects',
                'indexes': [models.Index(fields=['at_fault_unit', 'issued_at'], name='apology_unit_idx'), models.Index(fields=['at_fault_officer', 'issued_at'], name='apology_officer_idx'), models.Index(fields=['issued_at'], name='apology_issued_idx')],
                'constraints': [models.UniqueConstraint(fields=('dossier', 'for_due_at'), name='apology_once_per_appointment'), models.UniqueConstraint(fields=('dossier', 'number'), name='apology_number_unique'), models.CheckConstraint(condition=models.Q(('new_due_at__gt', models.F('for_due_at'))), name='apology_new_due_later'), models.CheckConstraint(condition=models.Q(('kind__in', ['auto', 'manual'])), name='apology_kind_valid')],
            },
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]

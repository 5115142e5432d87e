import django.utils.timezone
from django.db import migrations, models

import reports.models


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="WeeklyReport",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("year", models.PositiveSmallIntegerField(verbose_name="năm")),
                ("week", models.PositiveSmallIntegerField(verbose_name="tuần")),
                ("period_start", models.DateField(verbose_name="từ ngày")),
                ("period_end", models.DateField(verbose_name="đến ngày")),
                ("totals", models.JSONField(default=dict, verbose_name="số liệu tổng hợp")),
                ("pdf", models.FileField(blank=True, max_length=255, upload_to=reports.models.report_path, verbose_name="tệp PDF")),
                ("xlsx", models.FileField(blank=True, max_length=255, upload_to=reports.models.report_path, verbose_name="tệp xlsx")),
                ("built_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="lập lúc")),
                ("builds", models.PositiveIntegerField(default=1, verbose_name="số lần lập")),
                ("emailed_at", models.DateTimeField(blank=True, null=True, verbose_name="gửi thư lúc")),
                ("emailed_to", models.JSONField(blank=True, default=list, verbose_name="đã gửi tới")),
            ],
            options={
                "verbose_name": "báo cáo tuần",
                "verbose_name_plural": "báo cáo tuần",
                "ordering": ["-year", "-week"],
                "constraints": [
                    models.UniqueConstraint(fields=("year", "week"), name="weekly_report_once"),
                    models.CheckConstraint(condition=models.Q(("week__gte", 1), ("week__lte", 53)), name="weekly_report_week_valid"),
                ],
            },
        ),
    ]

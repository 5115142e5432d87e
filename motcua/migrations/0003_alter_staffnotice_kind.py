from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("motcua", "0002_outbox_notices")]

    operations = [
        migrations.AlterField(
            model_name="staffnotice",
            name="kind",
            field=models.CharField(
                choices=[
                    ("assigned", "Được phân công"),
                    ("arrived", "Hồ sơ chuyển đến"),
                    ("due_soon", "Sắp đến hạn"),
                    ("rated", "Có đánh giá mới"),
                ],
                max_length=16,
                verbose_name="loại",
            ),
        ),
    ]

"""The database refuses what the service refuses: a level outside the scale, an unknown source,
a comment over 2000 characters (defence in depth for writers other than ``rating_submit``)."""

import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models

LEVELS = ["very_satisfied", "satisfied", "dissatisfied"]


class Migration(migrations.Migration):

    dependencies = [
        ("ratings", "0001_initial"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="rating",
            constraint=models.CheckConstraint(
                condition=models.Q(("overall__in", LEVELS)), name="rating_overall_valid"
            ),
        ),
        *[
            migrations.AddConstraint(
                model_name="rating",
                constraint=models.CheckConstraint(
                    condition=models.Q((f"{name}__in", ["", *LEVELS])), name=f"rating_{name}_valid"
                ),
            )
            for name in ("time", "attitude", "guidance", "publicity")
        ],
        migrations.AddConstraint(
            model_name="rating",
            constraint=models.CheckConstraint(
                condition=models.Q(("source__in", ["tracking", "kiosk", "link", "api"])),
                name="rating_source_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="rating",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("comment"), 2000
                ),
                name="rating_comment_length",
            ),
        ),
    ]

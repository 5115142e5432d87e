from django.db import migrations


class Migration(migrations.Migration):
    """Index changes for the reception write path (filled in by the reception work)."""

    dependencies = [("dossiers", "0005_queue_search")]

    operations = []

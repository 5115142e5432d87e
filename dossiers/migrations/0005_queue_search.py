from django.db import migrations


class Migration(migrations.Migration):
    """Indexes for the officer queue's search and counts (filled in by the queue work)."""

    dependencies = [("dossiers", "0004_queue_indexes")]

    operations = []

"""The Celery app. Broker: Redis when REDIS_URL is set, else the embedded file-system broker."""

import os

from celery import Celery
from celery.signals import beat_init, before_task_publish

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motcua.settings")

app = Celery("motcua")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender, **kwargs):
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


@before_task_publish.connect(sender="motcua.heartbeat")
def _stamp_beat(**kwargs):
    # Only beat publishes the heartbeat, so publishing it is beat's own sign of life.
    from django.utils import timezone

    from motcua.models import Heartbeat

    Heartbeat.objects.update_or_create(name="beat", defaults={"at": timezone.now()})


@beat_init.connect
def _first_heartbeat(sender=None, **kwargs):
    # Say "alive" at start-up rather than a full interval later.
    app.send_task("motcua.heartbeat")

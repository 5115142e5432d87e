import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_demo_catalogue_admin_can_edit_the_catalogue_in_django_admin(client):
    call_command("seed_demo", "--password", "demo-pass-123", "--dossiers", "0", stdout=None)
    assert client.login(username="admin1", password="demo-pass-123")
    response = client.get("/admin/procedures/procedure/")
    assert response.status_code == 200
    assert client.get("/admin/motcua/calendarday/").status_code == 200


def test_demo_clerk_has_no_django_admin(client):
    call_command("seed_demo", "--password", "demo-pass-123", "--dossiers", "0", stdout=None)
    assert client.login(username="clerk1", password="demo-pass-123")
    response = client.get("/admin/")
    assert response.status_code == 302

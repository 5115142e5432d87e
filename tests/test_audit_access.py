"""The staff access log (issue 9): each staff reading of a citizen's dossier leaves one record —
who, what, how, when, from where — and the queue does not; the log is append-only (the ORM and,
on PostgreSQL, the database refuse UPDATE and DELETE; only the retention prune deletes, only
what is past the retention period); leaders and admins read a dossier's log, others do not."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from audit.models import AccessKind, AccessRecord, AppendOnlyError
from audit.services import access_log_prune
from motcua.errors import ValidationError
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    act,
    dossier_in,
    frozen,
    org,
    receive,
    version,
)

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the trigger is PostgreSQL's"
)
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def records(**filters):
    return list(AccessRecord.objects.filter(**filters).order_by("id"))


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path


@pytest.fixture
def dossier(org, version, frozen):
    return receive(org, version)


# ---------------------------------------------------------------------------------------------
# Each read path leaves exactly one record
# ---------------------------------------------------------------------------------------------


def test_the_dossier_page_records_who_saw_it_when_and_from_where(client, org, dossier):
    client.force_login(org.clerk)
    response = client.get(reverse("dossier-page", args=[dossier.code]), REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    [record] = records()
    assert record.user == org.clerk and record.kind == AccessKind.PAGE
    assert record.dossier_id == dossier.pk and record.dossier_code == dossier.code
    assert record.ip == "10.1.2.3" and record.at == timezone.now()
    assert record.count is None
    assert record.request_id == (getattr(response.wsgi_request, "request_id", None) or "")


def test_the_request_id_is_kept_when_the_request_has_one(rf, org, dossier):
    from audit.services import access_record

    request = rf.get("/", REMOTE_ADDR="::1")
    request.user = org.clerk
    request.request_id = "b5e1c7d0a0f94e8e"
    record = access_record(request=request, kind=AccessKind.PAGE, dossier=dossier)
    assert record.request_id == "b5e1c7d0a0f94e8e" and record.ip == "::1"


def test_a_page_that_is_not_shown_records_nothing(client, org, dossier):
    client.force_login(org.clerk_b)  # another agency: 404
    assert client.get(reverse("dossier-page", args=[dossier.code])).status_code == 404
    assert records() == []


def test_the_page_costs_exactly_one_insert_more(client, org, dossier, django_assert_num_queries):
    from django.test.utils import CaptureQueriesContext

    client.force_login(org.leader)
    url = reverse("dossier-page", args=[dossier.code])
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    ours = [q["sql"] for q in queries.captured_queries if "audit_accessrecord" in q["sql"]]
    assert len(ours) == 1 and ours[0].startswith("INSERT")
    # Written last: after every query of the page itself.
    assert "audit_accessrecord" in queries.captured_queries[-1]["sql"]


def test_opening_an_attachment_records_the_file(client, org, version, frozen, media):
    dossier = receive(org, version, attachments=[
        SimpleUploadedFile("don.pdf", PDF_BYTES, content_type="application/pdf"),
    ])
    scan = dossier.attachments.get()
    client.force_login(org.officer)
    response = client.get(reverse("dossier-file", args=[dossier.code, scan.pk]))
    assert response.status_code == 200
    b"".join(response.streaming_content)
    [record] = records()
    assert record.kind == AccessKind.ATTACHMENT and record.dossier_id == dossier.pk
    assert record.data == {"attachment": scan.pk, "name": "don.pdf"}


def test_a_refused_attachment_records_nothing(client, org, version, frozen, media):
    dossier = receive(org, version, attachments=[
        SimpleUploadedFile("don.pdf", PDF_BYTES, content_type="application/pdf"),
    ])
    client.force_login(org.officer)
    assert client.get(reverse("dossier-file", args=[dossier.code, 999999])).status_code == 404
    assert records() == []


def test_printing_an_official_form_records_it(client, org, dossier):
    client.force_login(org.clerk)
    response = client.get(reverse("dossier-document", args=[dossier.code, "receipt"]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    [record] = records()
    assert record.kind == AccessKind.DOCUMENT and record.dossier_id == dossier.pk
    assert record.data == {"document": "receipt"}


def test_the_api_detail_records_a_read(org, dossier):
    response = api_for(org.officer).get(f"/api/v1/dossiers/{dossier.code}/")
    assert response.status_code == 200
    [record] = records()
    assert record.kind == AccessKind.API_DETAIL and record.user == org.officer
    assert record.dossier_code == dossier.code


def test_the_api_pdf_records_a_document_read_through_the_api(org, dossier):
    response = api_for(org.clerk).get(f"/api/v1/dossiers/{dossier.code}/documents/receipt.pdf")
    assert response.status_code == 200
    [record] = records()
    assert record.kind == AccessKind.DOCUMENT
    assert record.data == {"document": "receipt", "api": True}


def test_an_api_detail_of_a_dossier_out_of_sight_records_nothing(org, dossier):
    assert api_for(org.officer_b).get(f"/api/v1/dossiers/{dossier.code}/").status_code == 404
    assert records() == []


def test_the_api_list_and_transitions_record_no_read(org, dossier):
    client = api_for(org.clerk)
    assert client.get("/api/v1/dossiers/").status_code == 200
    response = client.post(f"/api/v1/dossiers/{dossier.code}/transitions/",
                           {"transition": "start"}, format="json")
    assert response.status_code == 200, response.content
    assert records() == []


def test_an_export_is_one_record_with_its_filters_and_count(client, org, version, frozen):
    for i in range(3):
        receive(org, version, applicant={**APPLICANT, "name": f"Nguyễn Văn {i}"})
    client.force_login(org.leader)
    response = client.get(reverse("dossier-search-export"), {"state": "received"})
    assert response.status_code == 200
    [record] = records()
    assert record.kind == AccessKind.EXPORT and record.dossier is None
    assert record.count == 3
    assert record.data["list"] == "search" and record.data["filters"]["state"] == "received"


def test_the_queue_and_the_search_pages_record_nothing(client, org, version, frozen):
    receive(org, version)
    client.force_login(org.clerk)
    assert client.get(reverse("dossier-queue")).status_code == 200
    assert client.get(reverse("dossier-search"), {"q": "an"}).status_code == 200
    assert records() == []


def test_reading_the_access_log_is_not_itself_recorded(client, org, dossier):
    client.force_login(org.leader)
    assert client.get(reverse("audit-dossier-access", args=[dossier.code])).status_code == 200
    assert records() == []


# ---------------------------------------------------------------------------------------------
# Append-only
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def record(client, org, dossier):
    client.force_login(org.clerk)
    client.get(reverse("dossier-page", args=[dossier.code]))
    return AccessRecord.objects.get()


class TestTheOrmRefuses:
    def test_saving_a_changed_record(self, record):
        record.ip = "1.1.1.1"
        with pytest.raises(AppendOnlyError):
            record.save()

    def test_deleting_a_record(self, record):
        with pytest.raises(AppendOnlyError):
            record.delete()

    def test_queryset_writes(self, record):
        rows = AccessRecord.objects.filter(pk=record.pk)
        with pytest.raises(AppendOnlyError):
            rows.update(ip="1.1.1.1")
        with pytest.raises(AppendOnlyError):
            rows.delete()
        with pytest.raises(AppendOnlyError):
            AccessRecord.objects.bulk_update([record], ["ip"])
        assert AccessRecord.objects.get(pk=record.pk).ip == "127.0.0.1"


def raw(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@postgres_only
class TestTheDatabaseRefuses:
    def test_raw_update(self, record):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("UPDATE audit_accessrecord SET ip = '1.1.1.1' WHERE id = %s", [record.pk])

    def test_raw_update_even_with_the_prune_setting(self, record):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL motcua.audit_prune = 'on'")
                cursor.execute("UPDATE audit_accessrecord SET kind = 'page'")

    def test_raw_delete(self, record):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("DELETE FROM audit_accessrecord WHERE id = %s", [record.pk])
        assert AccessRecord.objects.filter(pk=record.pk).exists()

    @pytest.mark.django_db(transaction=True)
    def test_truncate(self, record):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL motcua.allow_event_truncate = 'off'")
                cursor.execute("TRUNCATE audit_accessrecord")
        assert AccessRecord.objects.filter(pk=record.pk).exists()


# ---------------------------------------------------------------------------------------------
# Retention: the prune command is the only deleter, and only past the retention period
# ---------------------------------------------------------------------------------------------


def _record_at(org, dossier, at):
    return AccessRecord.objects.create(
        at=at, user=org.clerk, kind=AccessKind.PAGE, dossier=dossier, dossier_code=dossier.code,
    )


def test_prune_deletes_only_what_is_past_the_retention_period(org, dossier, settings):
    settings.AUDIT_ACCESS_RETENTION_DAYS = 730
    old = _record_at(org, dossier, timezone.now() - timedelta(days=800))
    young = _record_at(org, dossier, timezone.now() - timedelta(days=700))
    out = io.StringIO()
    call_command("prune_access_log", stdout=out)
    assert "Deleted 1 " in out.getvalue()
    assert not AccessRecord.objects.filter(pk=old.pk).exists()
    assert AccessRecord.objects.filter(pk=young.pk).exists()


def test_prune_refuses_a_cutoff_inside_the_retention_period(org, dossier, settings):
    settings.AUDIT_ACCESS_RETENTION_DAYS = 730
    young = _record_at(org, dossier, timezone.now() - timedelta(days=10))
    with pytest.raises(ValidationError):
        access_log_prune(before=timezone.now())
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("prune_access_log", "--before", timezone.localdate().isoformat())
    assert AccessRecord.objects.filter(pk=young.pk).exists()


def test_prune_dry_run_counts_and_deletes_nothing(org, dossier):
    _record_at(org, dossier, timezone.now() - timedelta(days=1000))
    out = io.StringIO()
    call_command("prune_access_log", "--dry-run", stdout=out)
    assert out.getvalue().startswith("1 access records")
    assert AccessRecord.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# Who reads the log
# ---------------------------------------------------------------------------------------------


def test_leaders_and_admins_see_who_read_a_dossier(client, org, dossier):
    client.force_login(org.officer)
    client.get(reverse("dossier-page", args=[dossier.code]))
    url = reverse("audit-dossier-access", args=[dossier.code])
    for user in (org.leader, org.superuser):
        client.force_login(user)
        html = client.get(url).content.decode()
        assert "officer_a" in html and "Xem trang hồ sơ" in html


def test_others_may_not_read_a_dossiers_access_log(client, org, dossier):
    url = reverse("audit-dossier-access", args=[dossier.code])
    for user in (org.clerk, org.officer, org.admin):
        client.force_login(user)
        assert client.get(url).status_code == 403, user
    client.force_login(org.leader_b)  # a leader of another agency: the dossier is not theirs
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_the_dossier_page_links_to_its_access_log_for_leaders_only(client, org, dossier):
    url = reverse("audit-dossier-access", args=[dossier.code])
    page = reverse("dossier-page", args=[dossier.code])
    client.force_login(org.leader)
    response = client.get(page)
    assert response.context["access_log_url"] == url
    assert f'href="{url}"' in response.content.decode()
    client.force_login(org.clerk)
    response = client.get(page)
    assert response.context["access_log_url"] is None
    assert url not in response.content.decode()


def test_the_dossier_access_log_exports_to_xlsx(client, org, dossier):
    client.force_login(org.clerk)
    client.get(reverse("dossier-page", args=[dossier.code]))
    client.force_login(org.leader)
    response = client.get(reverse("audit-dossier-access-export", args=[dossier.code]))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0] == "Thời điểm"
    assert rows[2][2] == "clerk_a" and rows[2][3] == "Xem trang hồ sơ" and rows[2][4] == dossier.code


def test_admins_read_the_log_in_the_admin_read_only_filtered_by_person_and_dates(client, org, dossier):
    client.force_login(org.clerk)
    client.get(reverse("dossier-page", args=[dossier.code]))
    client.force_login(org.officer)
    client.get(reverse("dossier-page", args=[dossier.code]))
    client.force_login(org.superuser)
    changelist = reverse("admin:audit_accessrecord_changelist")
    today = timezone.localdate().isoformat()
    response = client.get(changelist, {"user__username": "CLERK_A", "at__from": today,
                                       "at__to": today})
    assert [r.user for r in response.context["cl"].result_list] == [org.clerk]
    assert f'name="at__from" value="{today}"' in response.content.decode()
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.get(changelist, {"at__to": yesterday})
    assert list(response.context["cl"].result_list) == []
    response = client.get(changelist, {"at__from": today})
    assert len(response.context["cl"].result_list) == 2
    record = AccessRecord.objects.first()
    change = client.get(reverse("admin:audit_accessrecord_change", args=[record.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert client.get(reverse("admin:audit_accessrecord_add")).status_code == 403
    response = client.post(changelist, {
        "action": "export_xlsx", "_selected_action": [r.pk for r in AccessRecord.objects.all()],
    })
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    client.force_login(org.leader)
    assert client.get(changelist).status_code == 302  # not staff: the admin's login


# ---------------------------------------------------------------------------------------------
# In a browser: the leader's path from the dossier to who read it
# ---------------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_leader_follows_the_dossier_page_to_who_read_it(page, live_server, org, version):
    from playwright.sync_api import expect

    from tests.dossier_factories import PASSWORD

    dossier = receive(org, version)
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill(org.leader.username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")
    page.goto(f"{live_server.url}{reverse('dossier-page', args=[dossier.code])}")
    page.get_by_role("link", name="Ai đã xem hồ sơ này").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ai đã xem hồ sơ này")
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("leader_a")
    expect(rows.first).to_contain_text("Xem trang hồ sơ")
